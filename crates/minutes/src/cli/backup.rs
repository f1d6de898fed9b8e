//! `minutes backup create|list|verify|restore|prune`.
use std::io::IsTerminal;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::datamove::backup::{self, crypt::BackupKey, destination::Destination};

#[derive(Debug, Clone, Subcommand)]
pub enum BackupAction {
    /// Back up the database and the object store (while the service runs); prints the
    /// archive's path.
    Create {
        /// A directory or s3://bucket/prefix (default backup.to).
        #[arg(long)]
        to: Option<String>,
        /// Apply the retention policy to the destination afterwards.
        #[arg(long)]
        prune: bool,
    },
    /// List the archives in a destination, oldest first.
    List {
        #[arg(long)]
        to: Option<String>,
    },
    /// Restore an archive into a scratch database and object directory and check every
    /// row count, table checksum and object hash, and that sealed fields open with the
    /// configured keys. Changes nothing.
    Verify {
        /// The archive, as `create` printed it (…/archives/minutes-….tar.zst[.enc]).
        archive: String,
    },
    /// Restore an archive into the configured database and object store.
    Restore {
        archive: String,
        /// Replace a database that already holds data.
        #[arg(long)]
        force: bool,
    },
    /// Delete archives the retention policy (backup.retention) does not keep, and pooled
    /// objects no kept archive needs.
    Prune {
        #[arg(long)]
        to: Option<String>,
    },
    /// Print a new random archive key (for MINUTES_BACKUP_KEY or backup.key_file).
    NewKey,
}

fn key(config: &Config) -> anyhow::Result<Option<BackupKey>> {
    backup::key_from(
        std::env::var("MINUTES_BACKUP_KEY").ok(),
        &config.backup.key_file,
    )
}

fn destination(config: &Config, to: Option<String>) -> anyhow::Result<Destination> {
    Destination::parse(config, to.as_deref().unwrap_or(&config.backup.to))
}

pub async fn run(config: &Config, action: BackupAction) -> anyhow::Result<()> {
    let progress = std::io::stderr().is_terminal();
    match action {
        BackupAction::NewKey => {
            println!("{}", BackupKey::generate().to_hex());
            Ok(())
        }
        BackupAction::Create { to, prune } => {
            let dest = destination(config, to)?;
            let key = key(config)?;
            let store = crate::app::connect(config, None)
                .await?
                .with_field_cipher(crate::app::field_cipher(config)?);
            let objects = crate::app::object_storage(config)?;
            if key.is_none() {
                eprintln!("note: the archive is not encrypted (set MINUTES_BACKUP_KEY or backup.key_file to encrypt it)");
            }
            let created = backup::create(&store, &objects, &dest, key.as_ref(), progress).await;
            store.close().await;
            let created = created?;
            let m = &created.manifest;
            if !m.sealed_with.is_empty() {
                eprintln!(
                    "warning: personal fields in this backup are sealed with the field-encryption keys {}; \
                     the keys are NOT in the archive. Keep them (MINUTES_FIELD_KEYS / encryption.key_file) \
                     somewhere other than the backups, or the restored fields cannot be read.",
                    m.sealed_with.join(", ")
                );
            }
            eprintln!(
                "{} rows in {} tables, {} objects ({} bytes; {} copied, {} bytes new) in {:.1} s; archive {} bytes",
                m.rows(),
                m.tables.len(),
                m.objects.len(),
                m.object_bytes(),
                created.objects.copied,
                created.objects.copied_bytes,
                created.seconds,
                created.archive_bytes
            );
            println!("{}", created.archive);
            if prune {
                print_pruned(
                    &backup::prune(
                        &dest,
                        &config.backup.retention,
                        key.as_ref(),
                        chrono::Utc::now(),
                    )
                    .await?,
                );
            }
            Ok(())
        }
        BackupAction::List { to } => {
            let dest = destination(config, to)?;
            let key = key(config)?;
            let all = backup::archives(&dest).await?;
            if all.is_empty() {
                println!("no backups in {}", dest.display);
            }
            for (id, size, encrypted) in all {
                let detail = match backup::read_manifest(&dest, &id, key.as_ref()).await {
                    Ok(m) => format!(
                        "{} rows, {} objects ({} bytes), migration {}, from {}",
                        m.rows(),
                        m.objects.len(),
                        m.object_bytes(),
                        m.migration,
                        m.database
                    ),
                    Err(e) => format!("manifest unreadable: {e}"),
                };
                let lock = if encrypted { "encrypted" } else { "plain" };
                println!("{id}  {size:>12} bytes  {lock:<9}  {detail}");
            }
            Ok(())
        }
        BackupAction::Verify { archive } => {
            let (dest, id) = Destination::of_archive(config, &archive)?;
            let v = backup::verify(
                &dest,
                &id,
                key(config)?.as_ref(),
                crate::app::field_cipher(config)?,
                progress,
            )
            .await
            .with_context(|| format!("verifying {archive}"))?;
            println!(
                "{id} verified in {:.1} s: {} tables ({} rows) match their checksums, {} objects ({} bytes) match their hashes, {} rows of sealed fields open with the configured keys",
                v.seconds,
                v.manifest.tables.len(),
                v.manifest.rows(),
                v.manifest.objects.len(),
                v.object_bytes,
                v.sealed_rows
            );
            Ok(())
        }
        BackupAction::Restore { archive, force } => {
            let (dest, id) = Destination::of_archive(config, &archive)?;
            let store = crate::app::connect(config, None)
                .await?
                .with_field_cipher(crate::app::field_cipher(config)?);
            let objects = crate::app::object_storage(config)?;
            let restored = backup::restore(
                &store,
                &objects,
                &dest,
                &id,
                key(config)?.as_ref(),
                force,
                progress,
            )
            .await;
            store.close().await;
            let r = restored.with_context(|| format!("restoring {archive}"))?;
            println!(
                "restored {id} in {:.1} s: {} rows in {} tables (checksums match), {} objects ({} bytes written); search index rebuilt for {} tasks",
                r.seconds,
                r.manifest.rows(),
                r.manifest.tables.len(),
                r.manifest.objects.len(),
                r.object_bytes_written,
                r.reindexed
            );
            Ok(())
        }
        BackupAction::Prune { to } => {
            let dest = destination(config, to)?;
            print_pruned(
                &backup::prune(
                    &dest,
                    &config.backup.retention,
                    key(config)?.as_ref(),
                    chrono::Utc::now(),
                )
                .await?,
            );
            Ok(())
        }
    }
}

fn print_pruned(p: &backup::Pruned) {
    println!(
        "kept {} backups, deleted {}; deleted {} unreferenced objects ({} bytes)",
        p.kept.len(),
        p.deleted.len(),
        p.objects_deleted,
        p.object_bytes_freed
    );
    for id in &p.deleted {
        println!("  deleted {id}");
    }
}
