//! Pure domain types: ids, task states and stages, transcripts, artifacts. No I/O here.
pub mod artifact;
pub mod corrections;
pub mod cost;
pub mod hotwords;
pub mod ids;
pub mod job;
pub mod render;
pub mod retention;
pub mod search_text;
pub mod speakers;
pub mod stage;
pub mod task;
pub mod templates;
pub mod transcript;
pub mod voiceprint;
