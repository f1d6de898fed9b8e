//! `App`: the one composition root shared by `serve`, `worker`, `run` and the tests.
//! Configuration picks the implementation behind every swap point here and nowhere else.
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

use crate::auth::Authenticator;
use crate::config::{
    AsrProviderKind, Config, DiarizationProviderKind, LlmProviderKind, Profile, QueueBackend,
    StorageBackend, VoiceprintProviderKind,
};
use crate::crypto::{self, FieldCipher};
use crate::egress::EgressPolicy;
use crate::pipeline::prompt::builtin_templates;
use crate::providers::asr::azure::AzureAsr;
use crate::providers::asr::fallback::FallbackAsr;
use crate::providers::asr::openai::OpenAiAsr;
use crate::providers::asr::volcano::VolcanoAsr;
use crate::providers::diarization::local::{LocalDiarizer, LocalDiarizerSettings};
use crate::providers::hotword_tables::BoostingTables;
use crate::providers::keys::{KeyPool, ProviderClock};
use crate::providers::llm::extractive::ExtractiveGenerator;
use crate::providers::llm::fallback::FallbackLlm;
use crate::providers::llm::gemini::Gemini;
use crate::providers::llm::openai::OpenAiChat;
use crate::providers::voiceprint::{IflytekVoiceprint, LocalVoiceprint, LocalVoiceprintSettings};
use crate::providers::{Diarizer, LanguageModel, SpeechToText, Voiceprint};
use crate::queue::delivery::database::DatabaseDelivery;
use crate::queue::delivery::Delivery;
use crate::queue::{Clock, SystemClock};
use crate::ratelimit::{MemoryLimiter, RateLimiter, RedisLimiter};
use crate::storage::{ObjectStorage, UrlSigner};
use crate::store::sql::ConnectOptions;
use crate::store::{DatabaseRole, Migrator, SqlStore, Store, TemplateStore};
use crate::telemetry::metrics::Metrics;

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// The concrete store, for migrations and shutdown.
    pub sql: SqlStore,
    /// Wakes idle workers when a job is enqueued.
    pub jobs_signal: Arc<Notify>,
    /// How workers learn that a job is due (`queue.backend`).
    pub delivery: Arc<dyn Delivery>,
    pub objects: ObjectStorage,
    pub asr: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    pub voiceprint: Option<Arc<dyn Voiceprint>>,
    pub diarizer: Option<Arc<dyn Diarizer>>,
    pub clock: Arc<dyn Clock>,
    /// The API-key pools of the configured providers (for `/ready`); empty with overridden engines.
    pub key_pools: Vec<Arc<KeyPool>>,
    pub auth: Arc<Authenticator>,
    /// Where outgoing requests may go (`network`).
    pub egress: EgressPolicy,
    /// `None` when rate limiting is turned off.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    /// This process's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Signs stream tickets and URLs (`server.url_signing_secret`).
    pub url_signing: Arc<crypto::SigningKey>,
}

/// Engines chosen by the caller instead of by configuration (tests use scripted engines here).
pub struct Engines {
    pub asr: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    pub voiceprint: Option<Arc<dyn Voiceprint>>,
    /// Speaker separation for ASR engines that return no speakers.
    pub diarizer: Option<Arc<dyn Diarizer>>,
}

#[derive(Default)]
pub struct Overrides {
    pub engines: Option<Engines>,
    pub clock: Option<Arc<dyn Clock>>,
    /// Isolates a PostgreSQL test in its own schema.
    pub pg_schema: Option<String>,
    /// Presigns object URLs for the local store (tests stand in for an S3-compatible store).
    pub url_signer: Option<Arc<dyn UrlSigner>>,
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: &Config, overrides: Overrides) -> anyhow::Result<App> {
        let fields = field_cipher(config)?;
        let sql = connect(config, overrides.pg_schema)
            .await?
            .with_field_cipher(fields);
        let role = sql
            .database_role()
            .await
            .context("reading the database role's attributes")?;
        check_database_role(config.profile, role.as_ref())?;
        if config.migrate_on_start() {
            Migrator::new(&sql)
                .up()
                .await
                .context("applying database migrations")?;
        }
        sql.seed_templates(&builtin_templates().context("parsing the built-in templates")?).await.context(
            "seeding built-in prompt templates (is the database migrated? run `minutes migrate up`)",
        )?;
        // Off the async threads: the word-segmentation dictionary takes a moment to load.
        let warm = tokio::task::spawn_blocking(crate::domain::search_text::warm_up);
        let mut objects = object_storage(config)?;
        if let Some(signer) = overrides.url_signer {
            objects = objects.with_signer(signer);
        }
        let egress = EgressPolicy::from_config(&config.network);
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let metrics = Arc::new(Metrics::new());
        let (engines, key_pools) = match overrides.engines {
            Some(e) => (e, Vec::new()),
            None => engines_from_config(config, &egress, &clock, &objects, &metrics)?,
        };
        warm.await.context("loading the search dictionary")?;
        let limiter = limiter_from_config(config).await?;
        let delivery = delivery_from_config(config, &sql).await?;
        let auth =
            Authenticator::from_config(&config.auth, &egress, clock.clone()).context("auth.idp")?;
        Ok(App {
            config: config.clone(),
            jobs_signal: sql.jobs_signal(),
            delivery,
            store: Arc::new(sql.clone()),
            sql,
            objects,
            asr: engines.asr,
            llm: engines.llm,
            voiceprint: engines.voiceprint,
            diarizer: engines.diarizer,
            clock,
            key_pools,
            auth: Arc::new(auth),
            egress,
            limiter,
            metrics,
            url_signing: Arc::new(crypto::SigningKey::from_secret(
                config.server.url_signing_secret.as_ref(),
            )),
        })
    }
}

/// Row-level security does not bind a superuser or a `BYPASSRLS` role, so connecting as one
/// silently turns the second line of tenant isolation off: refused in the production profile,
/// a warning otherwise (local development often uses `postgres`).
pub fn check_database_role(profile: Profile, role: Option<&DatabaseRole>) -> anyhow::Result<()> {
    let Some(role) = role.filter(|r| r.bypasses_rls()) else {
        return Ok(());
    };
    let what = if role.superuser {
        "is a superuser"
    } else {
        "has BYPASSRLS"
    };
    let problem = format!(
        "the database role `{}` {what}, so PostgreSQL row-level security does not apply to it; \
         connect as a role created with NOSUPERUSER NOBYPASSRLS (docs/OPERATIONS.md, \"Database roles\")",
        role.name
    );
    if profile == Profile::Production {
        anyhow::bail!("{problem}");
    }
    tracing::warn!(role = %role.name, "{problem}");
    Ok(())
}

/// The keyring that seals personal fields: `MINUTES_FIELD_KEYS` and/or `encryption.key_file`.
/// Outside the production profile, with neither set, a key file is generated once in the data
/// directory (mode 0600); under production a missing key stops the start.
pub fn field_cipher(config: &Config) -> anyhow::Result<FieldCipher> {
    let env = std::env::var(crypto::KEYS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let file = Some(config.encryption.key_file.trim())
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from);
    let production = config.profile == Profile::Production;
    if production && env.is_none() && file.is_none() {
        anyhow::bail!(
            "field encryption needs a key in the production profile: set {} to `kid:base64` \
             entries (`minutes admin new-key` prints one) or encryption.key_file \
             (MINUTES__ENCRYPTION__KEY_FILE) to a file of them",
            crypto::KEYS_ENV
        );
    }
    let default = config.data_dir.join(crypto::DEFAULT_KEY_FILE);
    let (ring, origin) = crypto::load_keyring(&crypto::KeySources {
        env: env.as_deref(),
        file: file.as_deref(),
        generate_at: (!production).then_some(default.as_path()),
        active: Some(config.encryption.active_key.as_str()),
    })
    .context("loading the field-encryption keys (MINUTES_FIELD_KEYS, encryption.key_file)")?;
    match origin {
        crypto::KeyOrigin::Generated { path, kid } => tracing::warn!(
            path = %path.display(),
            kid,
            "generated a field-encryption key file; back it up: encrypted fields cannot be read without it"
        ),
        _ => tracing::debug!(
            active = ring.active_kid(),
            keys = ring.kids().count(),
            "field-encryption keys loaded"
        ),
    }
    Ok(FieldCipher::new(ring))
}

/// Connects to the configured database without migrating (for `minutes migrate`).
pub async fn connect(config: &Config, pg_schema: Option<String>) -> anyhow::Result<SqlStore> {
    SqlStore::connect(&ConnectOptions {
        url: config.database.url.clone(),
        max_connections: config.database.max_connections,
        pg_schema,
    })
    .await
    .with_context(|| {
        format!(
            "connecting to the database at {} (check database.url / MINUTES__DATABASE__URL)",
            crate::config::redact_dsn(&config.database.url)
        )
    })
}

async fn limiter_from_config(config: &Config) -> anyhow::Result<Option<Arc<dyn RateLimiter>>> {
    let c = &config.rate_limit;
    if !c.enabled {
        return Ok(None);
    }
    if c.redis_url.is_empty() {
        return Ok(Some(Arc::new(MemoryLimiter::default())));
    }
    // Single node, Sentinel or Cluster: the factory reads the URL form (docs/CONFIG.md).
    let client = crate::redis_client::RedisClient::connect(&c.redis_url)
        .await
        .context("connecting to Redis (rate_limit.redis_url)")?;
    Ok(Some(Arc::new(RedisLimiter::new(&client, &c.key_prefix))))
}

/// The delivery backend of `queue.backend`; job state stays in the database under every one.
async fn delivery_from_config(
    config: &Config,
    sql: &SqlStore,
) -> anyhow::Result<Arc<dyn Delivery>> {
    let q = &config.queue;
    Ok(match q.backend {
        QueueBackend::Database => Arc::new(DatabaseDelivery::new(sql.jobs_signal())),
        QueueBackend::Redis => {
            let url = q.redis_url()?.unwrap_or_default();
            let client = crate::redis_client::RedisClient::open(&url)
                .context("queue.redis_url (MINUTES__QUEUE__REDIS_URL)")?;
            // Deliveries idle past the lease belong to a dead consumer and are claimed again.
            let idle = std::time::Duration::from_secs(q.lease_secs);
            let redis =
                crate::queue::delivery::redis::RedisDelivery::new(client, &q.broker_prefix, idle)
                    .context("queue.broker_prefix")?;
            // Like RabbitMQ: an outage must not stop a start; `/ready` reports it.
            if let Err(e) = redis.check().await {
                tracing::warn!(error = %e, "Redis is not reachable yet; jobs are delivered by the database poll until it is");
            }
            Arc::new(redis)
        }
        QueueBackend::Rabbitmq => {
            let url = q.amqp_url()?.unwrap_or_default();
            // Running jobs hold their deliveries unacked, so the prefetch covers them plus a batch.
            let prefetch = u16::try_from(q.concurrency + q.batch).unwrap_or(u16::MAX);
            let rabbit = crate::queue::delivery::rabbitmq::RabbitDelivery::lazy(
                &url,
                &q.broker_prefix,
                &crate::domain::job::queues(),
                prefetch,
            );
            // A broker outage must not stop a worker or API from starting: job state is in the
            // database, whose poll delivers meanwhile; `/ready` reports the broker.
            if let Err(e) = rabbit.check().await {
                tracing::warn!(error = %e, "RabbitMQ is not reachable yet; jobs are delivered by the database poll until it is");
            }
            Arc::new(rabbit)
        }
    })
}

/// Key pools and in-call retries read the queue's clock, so tests that move time move both.
struct PoolClock(Arc<dyn Clock>);

#[async_trait::async_trait]
impl ProviderClock for PoolClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }

    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await
    }
}

/// The configured voiceprint engine (`voiceprint.provider`). The local engine needs the
/// CAM++ model: unlike diarization it has no degraded mode (fbank statistics do not carry a
/// voice from one recording to another), so a missing model stops the start.
pub fn voiceprint_from_config(
    config: &Config,
    egress: &EgressPolicy,
) -> anyhow::Result<Option<Arc<dyn Voiceprint>>> {
    Ok(match config.voiceprint.provider {
        VoiceprintProviderKind::None => None,
        VoiceprintProviderKind::Local => {
            let model = crate::models::resolve(
                std::path::Path::new(&config.models.dir),
                &config.voiceprint.local.model,
                crate::models::ModelKind::SpeakerEmbedding,
            )
            .context(
                "voiceprint.local.model (install it: `minutes models install campplus-zh-en`)",
            )?;
            Some(Arc::new(LocalVoiceprint::new(LocalVoiceprintSettings {
                model,
                thresholds: config.voiceprint.local.thresholds,
            })))
        }
        VoiceprintProviderKind::Iflytek => Some(Arc::new(
            IflytekVoiceprint::new(config.voiceprint.iflytek.clone(), egress)
                .context("voiceprint.iflytek")?,
        )),
    })
}

/// The configured object store: a local directory, or an S3-compatible bucket that also
/// presigns GET URLs (a provider that downloads the audio itself, Volcano, needs them).
pub(crate) fn object_storage(config: &Config) -> anyhow::Result<ObjectStorage> {
    let storage = &config.storage;
    match storage.backend {
        StorageBackend::Local => ObjectStorage::local(std::path::Path::new(&storage.root))
            .with_context(|| format!("opening the object store at {}", storage.root)),
        StorageBackend::S3 => {
            let s3 = &storage.s3;
            let options = s3.options().context("storage.s3")?;
            let at = if s3.endpoint.is_empty() {
                "AWS S3"
            } else {
                &s3.endpoint
            };
            ObjectStorage::s3(options)
                .with_context(|| format!("opening the bucket {} at {at}", s3.bucket))
        }
    }
}

fn engines_from_config(
    config: &Config,
    egress: &EgressPolicy,
    clock: &Arc<dyn Clock>,
    objects: &ObjectStorage,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(Engines, Vec<Arc<KeyPool>>)> {
    let pool_clock: Arc<dyn ProviderClock> = Arc::new(PoolClock(clock.clone()));
    let pools = &config.provider_keys;
    let mut key_pools = Vec::new();
    let mut asr_for = |kind: AsrProviderKind| -> anyhow::Result<Arc<dyn SpeechToText>> {
        Ok(match kind {
            AsrProviderKind::Openai => {
                let asr = OpenAiAsr::with_pool(
                    config.asr.openai.clone(),
                    egress,
                    pools.clone(),
                    pool_clock.clone(),
                )
                .context("asr.openai")?;
                key_pools.push(asr.key_pool());
                Arc::new(asr)
            }
            AsrProviderKind::Local => crate::providers::asr::local::build(config)?,
            AsrProviderKind::Volcano => {
                let asr = VolcanoAsr::new(
                    config.asr.volcano.clone(),
                    egress,
                    objects.clone(),
                    pools.clone(),
                    pool_clock.clone(),
                )
                .context("asr.volcano")?;
                if config.asr.volcano.hotword_tables.enabled {
                    // Checked now so a missing key pair stops the start, not every sync job.
                    BoostingTables::new(
                        &config.asr.volcano.hotword_tables,
                        &config.asr.volcano.app_id,
                        egress,
                    )
                    .context("asr.volcano.hotword_tables")?;
                }
                key_pools.push(asr.key_pool());
                Arc::new(asr)
            }
            AsrProviderKind::Azure => {
                let speaker_model = crate::models::resolve(
                    std::path::Path::new(&config.models.dir),
                    &config.asr.azure.speaker_model,
                    crate::models::ModelKind::SpeakerEmbedding,
                )
                // A missing model degrades speaker matching (the adapter says so) instead of
                // stopping the start.
                .map_err(|e| tracing::warn!(error = %e, "asr.azure.speaker_model"))
                .ok();
                let asr = AzureAsr::new(
                    config.asr.azure.clone(),
                    egress,
                    pools.clone(),
                    pool_clock.clone(),
                    speaker_model,
                )
                .context("asr.azure")?;
                key_pools.push(asr.key_pool());
                Arc::new(asr)
            }
        })
    };
    let mut chain = vec![asr_for(config.asr.primary)?];
    if let Some(fallback) = config.asr.fallback {
        chain.push(asr_for(fallback)?);
    }
    let asr: Arc<dyn SpeechToText> = if chain.len() == 1 {
        chain.remove(0)
    } else {
        Arc::new(FallbackAsr::new(chain).with_metrics(metrics.clone()))
    };
    let mut llm_for = |kind: LlmProviderKind| -> anyhow::Result<Arc<dyn LanguageModel>> {
        Ok(match kind {
            LlmProviderKind::Openai => {
                let llm = OpenAiChat::with_pool(
                    config.llm.openai.clone(),
                    egress,
                    pools.clone(),
                    pool_clock.clone(),
                )
                .context("llm.openai")?;
                key_pools.push(llm.key_pool());
                Arc::new(llm)
            }
            LlmProviderKind::Gemini => {
                let llm = Gemini::with_pool(
                    config.llm.gemini.clone(),
                    egress,
                    pools.clone(),
                    pool_clock.clone(),
                )
                .context("llm.gemini")?;
                key_pools.push(llm.key_pool());
                Arc::new(llm)
            }
            LlmProviderKind::Local => Arc::new(ExtractiveGenerator::new()),
            LlmProviderKind::Gguf => crate::providers::llm::gguf::build(&config.llm.gguf)?,
        })
    };
    let primary_llm = llm_for(config.llm.provider)?;
    let llm: Arc<dyn LanguageModel> = match config.llm.fallback {
        Some(kind) => Arc::new(
            FallbackLlm::new(vec![primary_llm, llm_for(kind)?]).with_metrics(metrics.clone()),
        ),
        None => primary_llm,
    };
    let voiceprint = voiceprint_from_config(config, egress)?;
    let diarizer: Option<Arc<dyn Diarizer>> = match config.diarization.provider {
        DiarizationProviderKind::None => None,
        DiarizationProviderKind::Local => {
            let model = crate::models::resolve(
                std::path::Path::new(&config.models.dir),
                &config.diarization.model,
                crate::models::ModelKind::SpeakerEmbedding,
            )
            // A missing model degrades (and the diarizer says so) instead of stopping startup.
            .map_err(|e| tracing::warn!(error = %e, "diarization.model"))
            .ok();
            Some(Arc::new(LocalDiarizer::new(LocalDiarizerSettings {
                model,
                threshold: config.diarization.threshold,
                max_speakers: config.diarization.max_speakers,
            })))
        }
    };
    Ok((
        Engines {
            asr,
            llm,
            voiceprint,
            diarizer,
        },
        key_pools,
    ))
}
