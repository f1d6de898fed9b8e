//! `minutes migrate up|down|status`.
use super::MigrateAction;
use crate::config::Config;
use crate::store::Migrator;

pub async fn run(config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    let store = crate::app::connect(config, None).await?;
    let migrator = Migrator::new(&store);
    match action {
        MigrateAction::Up => {
            migrator.up().await?;
            println!("migrations applied ({})", backend(config));
        }
        MigrateAction::Down => match migrator.down().await? {
            Some(version) => println!("reverted migration {version} ({})", backend(config)),
            None => println!("nothing to revert"),
        },
        MigrateAction::Status => {
            for m in migrator.status().await? {
                let mark = if m.applied { "applied" } else { "pending" };
                println!("{:>6}  {:<8} {}", m.version, mark, m.description);
            }
        }
    }
    store.close().await;
    Ok(())
}

fn backend(config: &Config) -> &'static str {
    if config.is_sqlite() {
        "sqlite"
    } else {
        "postgres"
    }
}
