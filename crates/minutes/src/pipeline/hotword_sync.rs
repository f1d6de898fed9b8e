//! The `sync_hotword_table` job: keeps a hotword set's provider-side table (a Volcano boosting
//! table) in step with the set. Handlers enqueue it when a set is created, changed or deleted;
//! only this job calls the table API. A task whose set has a synced table names it in its
//! recognition request.

use super::{JobError, StageError};
use crate::app::App;
use crate::config::Config;
use crate::domain::ids;
use crate::domain::job::{HotwordSync, Job};
use crate::providers::hotword_tables::{BoostingTables, TableError};
use crate::providers::{HotwordTable, ProviderError};
use crate::store::{ClaimedJob, HotwordSyncOutcome, NewJob, TaskRecord};

const PROVIDER: &str = "volcano";

/// Whether hotword sets get provider tables: Volcano is in the ASR chain and table
/// management is turned on (it needs the account's access key pair).
pub fn tables_enabled(config: &Config) -> bool {
    config.asr.uses_volcano() && config.asr.volcano.hotword_tables.enabled
}

/// The job that brings set `set_id`'s table in line with the set; with `delete_table_id`,
/// the job that deletes that table (the set is already gone).
pub fn sync_job(
    app: &App,
    tenant_id: Option<&str>,
    set_id: &str,
    delete_table_id: Option<&str>,
) -> NewJob {
    let job = Job::SyncHotwordTable(HotwordSync {
        hotword_set_id: set_id.to_string(),
        delete_table_id: delete_table_id.map(str::to_string),
    });
    super::new_job(app, ids::job_id(), tenant_id, &job, 0)
}

/// The provider table of the task's chosen hotword set, when it is synced. A table still
/// being updated is not used: the task's own word list goes inline instead.
pub(super) async fn task_table(
    app: &App,
    task: &TaskRecord,
) -> Result<Option<HotwordTable>, StageError> {
    let Some(set_id) = &task.hotword_set_id else {
        return Ok(None);
    };
    let Some(set) = app
        .store
        .hotword_sync_record(Some(&task.tenant_id), set_id)
        .await?
    else {
        return Ok(None);
    };
    Ok(
        match (set.provider_resource_id, set.provider_sync_state.as_deref()) {
            (Some(id), Some("synced")) if set.provider == PROVIDER => Some(HotwordTable {
                provider: PROVIDER.into(),
                id,
                name: Some(format!(
                    "{}{set_id}",
                    app.config.asr.volcano.hotword_tables.table_prefix
                )),
            }),
            _ => None,
        },
    )
}

pub(super) async fn run(app: &App, job: &ClaimedJob, p: &HotwordSync) -> Result<(), JobError> {
    let lease = job.lease();
    let tenant_id = job.tenant_id.as_deref();
    let set_id = p.hotword_set_id.as_str();
    let volcano = &app.config.asr.volcano;
    let failed = |e: &ProviderError| JobError::Failed(StageError::provider("hotwords", e));
    let tables = match BoostingTables::new(&volcano.hotword_tables, &volcano.app_id, &app.egress) {
        Ok(tables) => tables,
        // Misconfigured (startup checks this too): say so on the set rather than leave it pending.
        Err(e) if p.delete_table_id.is_none() => {
            let outcome = HotwordSyncOutcome::Failed {
                error: e.to_string(),
            };
            app.store
                .finish_hotword_sync(&lease, tenant_id, set_id, &outcome)
                .await?;
            return Ok(());
        }
        Err(e) => return Err(failed(&e)),
    };
    if let Some(table_id) = p.delete_table_id.as_deref() {
        return match tables.delete(table_id).await {
            Ok(()) => Ok(app.store.complete_job(&lease).await?),
            Err(TableError::Provider(e)) => Err(failed(&e)),
            Err(other) => Err(StageError::permanent("hotwords_table", other.to_string()).into()),
        };
    }
    let Some(set) = app.store.hotword_sync_record(tenant_id, set_id).await? else {
        // Deleted before its table was made: nothing to do.
        return Ok(app.store.complete_job(&lease).await?);
    };
    let name = tables.table_name(&set.id);
    let known = set
        .provider_resource_id
        .as_deref()
        .filter(|_| set.provider == PROVIDER);
    let outcome = match tables.upsert(known, &name, &set.words.0).await {
        Ok(table) => HotwordSyncOutcome::Synced {
            provider: PROVIDER.into(),
            table_id: table.id,
        },
        Err(TableError::Provider(e)) if e.is_retryable() && job.attempts < job.max_attempts => {
            return Err(failed(&e));
        }
        Err(e) => {
            tracing::warn!(hotword_set_id = %set.id, error = %e, "hotword table sync failed");
            HotwordSyncOutcome::Failed {
                error: e.to_string(),
            }
        }
    };
    let exists = app
        .store
        .finish_hotword_sync(&lease, tenant_id, set_id, &outcome)
        .await?;
    if let (false, HotwordSyncOutcome::Synced { table_id, .. }) = (exists, &outcome) {
        // The set was deleted while its table was being made: do not leave the table behind.
        if let Err(e) = tables.delete(table_id).await {
            tracing::warn!(table_id, error = %e, "could not delete the table of a deleted hotword set");
        }
    }
    Ok(())
}
