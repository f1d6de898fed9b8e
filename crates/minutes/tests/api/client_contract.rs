//! The original React frontend's client contract (issue 13, /tmp/frontend-contract.md): each
//! test replays the calls its pages make, in their order, against a real `minutes serve`
//! child process (SQLite, or PostgreSQL with `MINUTES_TEST_POSTGRES_URL`) with the offline
//! engines, and checks every field the frontend reads with the type its code needs. Written from
//! the frontend's types and calls, not from this server: a failure names the call and the field.
//! Only the `pipeline` tests run Whisper (one nextest group, see .config/nextest.toml).
mod artifact_types;
mod artifacts;
mod create_task;
mod front;
mod library;
mod media;
mod pipeline;
mod server;
mod shape;
mod shell;
mod steps;
mod templates;
mod types;
mod workspace;

/// A username no other test uses (each test logs in its own users).
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A query string as axios serialises `params` (URL-encoded, in order).
fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
