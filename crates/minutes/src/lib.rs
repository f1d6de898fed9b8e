//! `minutes`: meeting recordings in, speaker-attributed versioned minutes out.
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod egress;
pub mod export;
pub mod http;
pub mod models;
pub mod pipeline;
pub mod providers;
pub mod queue;
pub mod ratelimit;
pub mod storage;
pub mod store;
pub mod telemetry;
