//! The one integration-test binary. Runs on SQLite by default and on PostgreSQL when
//! `MINUTES_TEST_POSTGRES_URL` is set (each test in a fresh schema).
// Test support code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]
mod engines;
mod helpers;

mod api_flow;
mod api_keys;
mod artifact_versions;
mod audit;
mod backups;
mod billing;
// Spawns the `minutes` binary with the embedded Whisper (asr.primary: local).
#[cfg(feature = "local-asr")]
mod client_contract;
mod compat_shapes;
mod corrections;
mod costs;
mod data_copy;
mod dead_letters;
mod exports;
mod failures;
mod field_encryption;
mod folders;
mod gemini_pipeline;
mod hardening;
mod hotwords;
mod idp;
mod legacy_import;
#[cfg(feature = "local-asr")]
mod local_engines;
mod media;
mod migrations_with_data;
mod offline_minutes;
mod openai_pipeline;
mod processes;
mod queue;
mod queue_backends;
// Whole deployments (serve + worker processes) under kill -9 and broker/database outages.
mod queue_chaos;
mod queue_fleet;
mod queue_rabbitmq;
mod queue_redis;
mod quota;
mod rate_limit;
mod refresh;
mod retention;
mod rls;
mod route_matrix;
mod search;
mod security;
mod sessions;
mod speaker_names;
mod speakers;
mod sse;
mod store_contract;
mod templates;
mod uploads;
mod volcano;
