//! `App`: the one composition root shared by `serve`, `worker`, `run` and the tests.
//! Configuration picks the implementation behind every swap point here and nowhere else.
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

use crate::auth::Authenticator;
use crate::config::{
    AsrProviderKind, Config, DiarizationProviderKind, LlmProviderKind, VoiceprintProviderKind,
};
use crate::egress::EgressPolicy;
use crate::pipeline::prompt::builtin_templates;
use crate::providers::asr::fallback::FallbackAsr;
use crate::providers::asr::openai::OpenAiAsr;
use crate::providers::diarization::local::{LocalDiarizer, LocalDiarizerSettings};
use crate::providers::llm::extractive::ExtractiveGenerator;
use crate::providers::llm::openai::OpenAiChat;
use crate::providers::{Diarizer, LanguageModel, SpeechToText, Voiceprint};
use crate::queue::{Clock, SystemClock};
use crate::ratelimit::{MemoryLimiter, RateLimiter, RedisLimiter};
use crate::storage::ObjectStorage;
use crate::store::sql::ConnectOptions;
use crate::store::{Migrator, SqlStore, Store, TemplateStore};

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// The concrete store, for migrations and shutdown.
    pub sql: SqlStore,
    /// Wakes idle workers when a job is enqueued.
    pub jobs_signal: Arc<Notify>,
    pub objects: ObjectStorage,
    pub asr: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    pub voiceprint: Option<Arc<dyn Voiceprint>>,
    pub diarizer: Option<Arc<dyn Diarizer>>,
    pub clock: Arc<dyn Clock>,
    pub auth: Arc<Authenticator>,
    /// Where outgoing requests may go (`network`).
    pub egress: EgressPolicy,
    /// `None` when rate limiting is turned off.
    pub limiter: Option<Arc<dyn RateLimiter>>,
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
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: &Config, overrides: Overrides) -> anyhow::Result<App> {
        let sql = connect(config, overrides.pg_schema).await?;
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
        let objects = ObjectStorage::local(std::path::Path::new(&config.storage.root))
            .with_context(|| format!("opening the object store at {}", config.storage.root))?;
        let egress = EgressPolicy::from_config(&config.network);
        let engines = match overrides.engines {
            Some(e) => e,
            None => engines_from_config(config, &egress)?,
        };
        warm.await.context("loading the search dictionary")?;
        let limiter = limiter_from_config(config).await?;
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let auth =
            Authenticator::from_config(&config.auth, &egress, clock.clone()).context("auth.idp")?;
        Ok(App {
            config: config.clone(),
            jobs_signal: sql.jobs_signal(),
            store: Arc::new(sql.clone()),
            sql,
            objects,
            asr: engines.asr,
            llm: engines.llm,
            voiceprint: engines.voiceprint,
            diarizer: engines.diarizer,
            clock,
            auth: Arc::new(auth),
            egress,
            limiter,
        })
    }
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
    let redis = RedisLimiter::connect(&c.redis_url, &c.key_prefix)
        .await
        .with_context(|| {
            format!(
                "connecting to Redis at {} (rate_limit.redis_url)",
                crate::config::redact_dsn(&c.redis_url)
            )
        })?;
    Ok(Some(Arc::new(redis)))
}

fn engines_from_config(config: &Config, egress: &EgressPolicy) -> anyhow::Result<Engines> {
    let asr_for = |kind: AsrProviderKind| -> anyhow::Result<Arc<dyn SpeechToText>> {
        Ok(match kind {
            AsrProviderKind::Openai => Arc::new(
                OpenAiAsr::with_egress(config.asr.openai.clone(), egress).context("asr.openai")?,
            ),
            AsrProviderKind::Local => crate::providers::asr::local::build(config)?,
        })
    };
    let mut chain = vec![asr_for(config.asr.primary)?];
    if let Some(fallback) = config.asr.fallback {
        chain.push(asr_for(fallback)?);
    }
    let asr: Arc<dyn SpeechToText> = if chain.len() == 1 {
        chain.remove(0)
    } else {
        Arc::new(FallbackAsr::new(chain))
    };
    let llm: Arc<dyn LanguageModel> = match config.llm.provider {
        LlmProviderKind::Openai => Arc::new(
            OpenAiChat::with_egress(config.llm.openai.clone(), egress).context("llm.openai")?,
        ),
        LlmProviderKind::Local => Arc::new(ExtractiveGenerator::new()),
    };
    let voiceprint = match config.voiceprint.provider {
        VoiceprintProviderKind::None => None,
    };
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
    Ok(Engines {
        asr,
        llm,
        voiceprint,
        diarizer,
    })
}
