//! `minutes db copy --from URL --to URL`: every data table of one database into another (SQLite
//! to PostgreSQL and back), in foreign-key order and key order, in batches that each commit
//! with a checkpoint, so an interrupted copy resumes where it stopped and a finished one run
//! again only verifies. The search index is rebuilt on the target rather than copied, and the
//! copy ends by comparing every table's row count and digest on both sides.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::progress::Progress;
use crate::crypto::FieldCipher;
use crate::store::catalog::{self, Table};
use crate::store::rows::Value;
use crate::store::sql::ConnectOptions;
use crate::store::{Migrator, SearchStore, SqlStore};

/// Rows per committed batch.
pub const DEFAULT_BATCH: i64 = 1_000;

pub struct CopyOptions {
    pub from: ConnectOptions,
    pub to: ConnectOptions,
    pub batch: i64,
    /// Where the checkpoint is kept; default: the temp directory, named after both URLs.
    pub state_file: Option<PathBuf>,
    /// Opens sealed fields on the target while the search index is rebuilt.
    pub fields: FieldCipher,
    pub progress: bool,
    /// Stop after this many committed batches (a large copy spread over maintenance windows;
    /// the next run resumes from the checkpoint).
    pub max_batches: Option<u64>,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyReport {
    /// Rows written by this run, per table (a resumed or repeated run writes fewer or none).
    pub written: Vec<(&'static str, u64)>,
    /// Rows per table on both sides after the copy.
    pub verified: Vec<(&'static str, u64)>,
    /// Tasks whose search documents were rebuilt on the target.
    pub reindexed: usize,
    pub seconds: f64,
    /// Of `seconds`, the search index rebuild.
    pub reindex_seconds: f64,
    /// The state file said a previous run had finished: nothing was written.
    pub already_done: bool,
    /// Stopped at `max_batches`: run again to continue (nothing was verified yet).
    pub paused: bool,
}

impl CopyReport {
    pub fn rows_written(&self) -> u64 {
        self.written.iter().map(|(_, n)| n).sum()
    }
}

/// The checkpoint: per table, the key of the last committed row.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// sha256 of both URLs: a state file of another pair is never applied.
    pair: String,
    tables: Vec<TableState>,
    done: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableState {
    table: String,
    /// The archive form of the key values (`Value::to_json`).
    after: Option<Vec<serde_json::Value>>,
    done: bool,
}

impl State {
    fn load(path: &Path, pair: &str) -> anyhow::Result<Option<State>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let state: State = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a db copy checkpoint", path.display()))?;
        if state.pair != pair {
            bail!(
                "{} is the checkpoint of a copy between other databases; pass --state-file",
                path.display()
            );
        }
        Ok(Some(state))
    }

    /// Written to a temp file and renamed, so a crash never leaves half a checkpoint.
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    fn table(&mut self, name: &str) -> &mut TableState {
        if let Some(i) = self.tables.iter().position(|t| t.table == name) {
            return &mut self.tables[i];
        }
        self.tables.push(TableState {
            table: name.to_string(),
            after: None,
            done: false,
        });
        self.tables.last_mut().expect("just pushed")
    }
}

fn pair_id(from: &ConnectOptions, to: &ConnectOptions) -> String {
    let mut h = Sha256::new();
    for o in [from, to] {
        h.update(o.url.as_bytes());
        h.update([0]);
        h.update(o.pg_schema.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

pub fn default_state_file(from: &ConnectOptions, to: &ConnectOptions) -> PathBuf {
    std::env::temp_dir().join(format!("minutes-db-copy-{}.json", &pair_id(from, to)[..16]))
}

/// Fails unless `store` is migrated to this binary's head and its tables match the catalog.
pub async fn check_schema(store: &SqlStore, which: &str) -> anyhow::Result<()> {
    let pending: Vec<i64> = Migrator::new(store)
        .status()
        .await?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.version)
        .collect();
    if !pending.is_empty() {
        bail!(
            "the {which} database is not at this binary's schema (pending migrations {pending:?}): \
             run `minutes migrate up` against it first"
        );
    }
    let differences = catalog::differences(store.kind(), &store.live_columns().await?);
    if !differences.is_empty() {
        bail!(
            "the {which} database's tables differ from this binary's catalog:\n  {}",
            differences.join("\n  ")
        );
    }
    Ok(())
}

pub async fn copy(opts: CopyOptions) -> anyhow::Result<CopyReport> {
    let started = Instant::now();
    if opts.from.url == opts.to.url && opts.from.pg_schema == opts.to.pg_schema {
        bail!("--from and --to are the same database");
    }
    let source = SqlStore::connect(&opts.from)
        .await
        .context("connecting to the --from database")?;
    let target = SqlStore::connect(&opts.to)
        .await
        .context("connecting to the --to database")?
        .with_field_cipher(opts.fields.clone());
    check_schema(&source, "--from").await?;
    Migrator::new(&target)
        .up()
        .await
        .context("migrating the --to database")?;
    check_schema(&target, "--to").await?;

    let pair = pair_id(&opts.from, &opts.to);
    let state_path = opts
        .state_file
        .clone()
        .unwrap_or_else(|| default_state_file(&opts.from, &opts.to));
    let mut state = match State::load(&state_path, &pair)? {
        Some(s) => s,
        None => {
            let mut probe = target.snapshot().await?;
            let rows = probe.user_rows().await?;
            probe.finish().await?;
            if rows > 0 {
                bail!(
                    "the --to database already holds {rows} rows: db copy fills an empty database \
                     (or resumes its own interrupted copy, whose checkpoint is not at {})",
                    state_path.display()
                );
            }
            State {
                pair,
                ..State::default()
            }
        }
    };
    let mut report = CopyReport {
        already_done: state.done,
        ..CopyReport::default()
    };

    if !state.done {
        let mut snapshot = source.snapshot().await?;
        let mut budget = opts.max_batches;
        for table in catalog::data_tables() {
            let written = copy_table(
                &mut snapshot,
                &target,
                table,
                &opts,
                &mut state,
                &state_path,
                &mut budget,
            )
            .await
            .with_context(|| format!("copying {}", table.name))?;
            report.written.push((table.name, written));
            if budget == Some(0) && !state.table(table.name).done {
                report.paused = true;
                break;
            }
        }
        snapshot.finish().await?;
        if report.paused {
            report.seconds = started.elapsed().as_secs_f64();
            source.close().await;
            target.close().await;
            return Ok(report);
        }
        let reindex = Instant::now();
        report.reindexed = rebuild_search(&target).await?;
        report.reindex_seconds = reindex.elapsed().as_secs_f64();
    }

    report.verified = verify(&source, &target).await?;
    state.done = true;
    state.save(&state_path)?;
    report.seconds = started.elapsed().as_secs_f64();
    source.close().await;
    target.close().await;
    Ok(report)
}

async fn copy_table(
    snapshot: &mut crate::store::rows::Snapshot,
    target: &SqlStore,
    table: &'static Table,
    opts: &CopyOptions,
    state: &mut State,
    state_path: &Path,
    budget: &mut Option<u64>,
) -> anyhow::Result<u64> {
    if state.table(table.name).done {
        return Ok(0);
    }
    let mut after: Option<Vec<Value>> = match &state.table(table.name).after {
        None => None,
        Some(values) => Some(
            table
                .key
                .iter()
                .zip(values)
                .map(|(name, v)| {
                    let ty = table.column(name).expect("key columns are columns").ty;
                    Value::from_json(ty, v.clone()).map_err(anyhow::Error::msg)
                })
                .collect::<anyhow::Result<_>>()?,
        ),
    };
    // A table that references itself is read whole, so every parent lands before its children.
    let batch = if table.parent.is_some() {
        i64::MAX
    } else {
        opts.batch.max(1)
    };
    let keys = table.key_positions();
    let bar = Progress::rows(opts.progress, table.name);
    let mut written = 0u64;
    loop {
        let rows = snapshot.rows(table, after.as_deref(), batch).await?;
        let full = rows.len() as i64 == batch;
        let last_key: Option<Vec<Value>> = rows
            .last()
            .map(|last| keys.iter().map(|&i| last[i].clone()).collect());
        let n = rows.len() as u64;
        let mut loader = target.loader().await?;
        loader.insert(table, rows).await?;
        loader.commit().await?;
        written += n;
        bar.advance(n);
        let entry = state.table(table.name);
        if let Some(k) = &last_key {
            entry.after = Some(k.iter().map(Value::to_json).collect());
        }
        entry.done = !full;
        state.save(state_path)?;
        if let Some(b) = budget.as_mut() {
            *b = b.saturating_sub(1);
        }
        if !full || *budget == Some(0) {
            break;
        }
        after = last_key;
    }
    bar.finish(written);
    Ok(written)
}

/// Indexes every task of the target that has a transcript and no search documents.
async fn rebuild_search(target: &SqlStore) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = target
            .backfill_search(200)
            .await
            .context("rebuilding the search index on the --to database")?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Row counts and digests of every data table, compared; any difference is an error.
pub async fn verify(
    source: &SqlStore,
    target: &SqlStore,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut a = source.snapshot().await?;
    let left = a.digests().await?;
    a.finish().await?;
    let mut b = target.snapshot().await?;
    let right = b.digests().await?;
    b.finish().await?;
    let mut differences = Vec::new();
    for ((name, l), (_, r)) in left.iter().zip(&right) {
        if l != r {
            differences.push(format!(
                "{name}: {} rows (digest {}) on --from, {} rows (digest {}) on --to",
                l.rows,
                &l.hex()[..12],
                r.rows,
                &r.hex()[..12]
            ));
        }
    }
    if !differences.is_empty() {
        bail!(
            "the copy does not match its source (was the source written to during the copy? \
             stop the service, empty or recreate the --to database, delete the checkpoint and \
             copy again):\n  {}",
            differences.join("\n  ")
        );
    }
    Ok(left.into_iter().map(|(n, d)| (n, d.rows)).collect())
}
