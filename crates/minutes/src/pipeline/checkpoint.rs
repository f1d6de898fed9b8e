//! Provider job checkpoints kept on the task's step (`providers::JobCheckpoint`), written
//! under the job's lease so a stale worker cannot overwrite the live one's state.
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::providers::{Checkpoint, JobCheckpoint, ProviderError};
use crate::store::{Lease, Store, StoreError};

pub(super) struct StepCheckpoint {
    store: Arc<dyn Store>,
    lease: Lease,
    tenant_id: String,
    task_id: String,
    step: &'static str,
}

impl StepCheckpoint {
    pub(super) fn for_step(
        store: Arc<dyn Store>,
        lease: Lease,
        tenant_id: &str,
        task_id: &str,
        step: &'static str,
    ) -> Checkpoint {
        Checkpoint(Arc::new(StepCheckpoint {
            store,
            lease,
            tenant_id: tenant_id.to_string(),
            task_id: task_id.to_string(),
            step,
        }))
    }
}

fn unavailable(e: StoreError) -> ProviderError {
    ProviderError::Unavailable {
        provider: "checkpoint".into(),
        detail: format!("saving the provider job state: {e}"),
    }
}

#[async_trait]
impl JobCheckpoint for StepCheckpoint {
    async fn load(&self, provider: &str) -> Result<Option<Value>, ProviderError> {
        self.store
            .provider_checkpoint(&self.tenant_id, &self.task_id, self.step, provider)
            .await
            .map_err(unavailable)
    }

    async fn save(&self, provider: &str, state: Option<&Value>) -> Result<(), ProviderError> {
        self.store
            .save_provider_checkpoint(
                &self.lease,
                &self.tenant_id,
                &self.task_id,
                self.step,
                provider,
                state,
            )
            .await
            .map_err(unavailable)
    }
}
