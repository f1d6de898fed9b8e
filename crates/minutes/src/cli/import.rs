//! `minutes import legacy --from original.db [--dry-run]`: the original system's data into
//! the configured database (`legacy/`).
use std::path::PathBuf;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

#[derive(Debug, Clone, Subcommand)]
pub enum ImportAction {
    /// Import a database file of the original Python system (users, tenants, folders, tasks,
    /// transcripts, speakers, artifacts, templates, hotword sets, audit log). Original ids are
    /// kept; running it again imports nothing twice. Audio is not fetched.
    Legacy {
        /// The original's SQLite file (`meeting_agent.db`); opened read-only.
        #[arg(long)]
        from: PathBuf,
        /// Print what would be imported and skipped without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

pub async fn run(config: &Config, action: ImportAction) -> anyhow::Result<()> {
    let ImportAction::Legacy {
        from,
        dry_run,
        report,
    } = action;
    let fields = crate::app::field_cipher(config)?;
    let store = crate::app::connect(config, None)
        .await?
        .with_field_cipher(fields);
    // The embedded profiles migrate on start; an import may be the first thing run there.
    if config.migrate_on_start() {
        crate::store::Migrator::new(&store).up().await?;
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} tasks ({eta})")?
            .progress_chars("=> "),
    );
    bar.set_message(if dry_run { "checking" } else { "importing" });
    let result = crate::legacy::import(&store, &from, dry_run, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    store.close().await;
    let summary = result?;
    print!("{summary}");
    if let Some(path) = report {
        std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
