//! `minutes admin …`: field-encryption key rotation and key generation.
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::crypto::{new_kid, KeyEntry, ResealCount};
use crate::store::{SealedFieldStore, SealedTable, SqlStore};

#[derive(Debug, Clone, Subcommand)]
pub enum AdminAction {
    /// Re-encrypt every personal field that is not under the active key (and encrypt legacy
    /// plaintext), in batches, while the service keeps running. Safe to interrupt and re-run.
    RotateKey {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
    },
    /// Print a new random field-encryption key as a `kid:base64` line (for MINUTES_FIELD_KEYS
    /// or the key file).
    NewKey {
        /// Key id (A-Z a-z 0-9 - _, at most 32); default `k<date>-<random>`.
        #[arg(long)]
        kid: Option<String>,
    },
}

pub async fn run(config: &Config, action: AdminAction) -> anyhow::Result<()> {
    match action {
        AdminAction::RotateKey { batch_size } => {
            let fields = crate::app::field_cipher(config)?;
            let store = crate::app::connect(config, None)
                .await?
                .with_field_cipher(fields);
            let summary = rotate_keys(&store, batch_size, true).await;
            store.close().await;
            let summary = summary?;
            print!("{summary}");
            Ok(())
        }
        AdminAction::NewKey { kid } => {
            let kid = kid.unwrap_or_else(new_kid);
            let key = KeyEntry::generate(&kid).map_err(anyhow::Error::msg)?;
            println!("{}", key.to_line());
            Ok(())
        }
    }
}

/// What a rotation did, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationSummary {
    pub active_kid: String,
    pub tables: Vec<TableSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: SealedTable,
    /// Rows read.
    pub rows: u64,
    /// Rows written back.
    pub rewritten: u64,
    pub values: ResealCount,
    pub batches: u64,
}

impl RotationSummary {
    /// Values changed in all tables.
    pub fn values(&self) -> ResealCount {
        let mut total = ResealCount::default();
        for t in &self.tables {
            total.add(t.values);
        }
        total
    }
}

impl std::fmt::Display for RotationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "every personal field is now sealed with key `{}`",
            self.active_kid
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "  {:<17} {:>8} rows read, {:>8} rewritten ({} values re-encrypted, {} plaintext values encrypted)",
                t.table.as_str(),
                t.rows,
                t.rewritten,
                t.values.rotated,
                t.values.encrypted
            )?;
        }
        Ok(())
    }
}

/// Brings every sealed column under the store's active key, `batch_size` rows per transaction.
/// Readers keep working throughout (every configured key still opens values); writers are only
/// held up by the one batch whose rows they touch. Running it again only reads.
pub async fn rotate_keys(
    store: &SqlStore,
    batch_size: i64,
    progress: bool,
) -> anyhow::Result<RotationSummary> {
    anyhow::ensure!(batch_size > 0, "--batch-size must be at least 1");
    let active_kid = store
        .field_cipher()
        .active_kid()
        .context("no field-encryption key is configured")?
        .to_string();
    let mut summary = RotationSummary {
        active_kid,
        tables: Vec::new(),
    };
    for table in crate::store::catalog::sealed_tables() {
        let total = store.count_sealed_rows(table).await?;
        let bar = if progress {
            ProgressBar::new(u64::try_from(total).unwrap_or(0))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>17} [{bar:30}] {pos}/{len} rows {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(table.as_str());
        bar.enable_steady_tick(Duration::from_millis(200));
        let mut t = TableSummary {
            table,
            rows: 0,
            rewritten: 0,
            values: ResealCount::default(),
            batches: 0,
        };
        let mut cursor = None;
        loop {
            let batch = store
                .reseal_batch(table, cursor.as_ref(), batch_size)
                .await
                .with_context(|| format!("re-encrypting {}", table.as_str()))?;
            t.rows += batch.rows;
            t.rewritten += batch.rewritten;
            t.values.add(batch.values);
            t.batches += 1;
            bar.inc(batch.rows);
            bar.set_message(format!("{} rewritten", t.rewritten));
            match batch.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        bar.finish();
        summary.tables.push(t);
    }
    Ok(summary)
}
