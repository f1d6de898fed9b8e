//! `minutes db copy`: move every row from one database to another (embedded SQLite to a
//! production PostgreSQL, or back).
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;

use crate::config::{redact_dsn, Config};
use crate::datamove::copy::{copy, CopyOptions, DEFAULT_BATCH};
use crate::store::sql::ConnectOptions;

#[derive(Debug, Clone, Subcommand)]
pub enum DbAction {
    /// Copy every table from --from into --to (migrated first), then verify row counts and
    /// checksums per table. Stop the service writing to --from first. Resumes after an
    /// interruption; run again after it finished, it only verifies.
    Copy {
        /// Source database URL (sqlite://… or postgres://…).
        #[arg(long)]
        from: String,
        /// Target database URL; must be empty (or hold this copy's own interrupted run).
        #[arg(long)]
        to: String,
        /// PostgreSQL schema of --from (default: the role's search path).
        #[arg(long)]
        from_schema: Option<String>,
        /// PostgreSQL schema of --to.
        #[arg(long)]
        to_schema: Option<String>,
        /// Rows per committed batch.
        #[arg(long, default_value_t = DEFAULT_BATCH)]
        batch_size: i64,
        /// Checkpoint file (default: in the temp directory, named after both URLs).
        #[arg(long)]
        state_file: Option<PathBuf>,
        /// Stop after this many batches (spread a large copy over several windows; the next
        /// run continues from the checkpoint).
        #[arg(long)]
        max_batches: Option<u64>,
    },
}

pub async fn run(config: &Config, action: DbAction) -> anyhow::Result<()> {
    match action {
        DbAction::Copy {
            from,
            to,
            from_schema,
            to_schema,
            batch_size,
            state_file,
            max_batches,
        } => {
            let connect = |url: String, pg_schema| ConnectOptions {
                url,
                max_connections: 4,
                pg_schema,
            };
            println!("copying {} → {}", redact_dsn(&from), redact_dsn(&to));
            let report = copy(CopyOptions {
                from: connect(from, from_schema),
                to: connect(to, to_schema),
                batch: batch_size,
                state_file,
                fields: crate::app::field_cipher(config)?,
                progress: std::io::stderr().is_terminal(),
                max_batches,
            })
            .await?;
            if report.paused {
                println!(
                    "stopped after {} batches ({} rows); run the same command again to continue",
                    max_batches.unwrap_or(0),
                    report.rows_written()
                );
                return Ok(());
            }
            if report.already_done {
                println!("already copied by an earlier run: nothing written");
            }
            let rows = report.rows_written();
            println!(
                "{rows} rows written in {:.1} s ({:.0} rows/s); search index rebuilt for {} tasks",
                report.seconds,
                rows as f64 / report.seconds.max(1e-9),
                report.reindexed
            );
            println!("verified: every table has the same rows and checksum on both sides");
            for (table, n) in &report.verified {
                println!("  {table:<22} {n:>9} rows");
            }
            Ok(())
        }
    }
}
