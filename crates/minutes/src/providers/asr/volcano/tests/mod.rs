//! The adapter against a local server that speaks the documented submit/query protocol:
//! header auth, status headers, polling, retries, the checkpointed request id, content
//! blocking and the fallback chain. Provider time is a manual clock, so hours of polling take
//! no wall time. The fake server and the shared helpers are `fake.rs`; the tests are grouped
//! by theme: `submit_query.rs` (the documented exchange and polling), `errors.rs` (error
//! classes and retries), `resume.rs` (the checkpointed request id), `content_blocking.rs`
//! (masked transcripts and the fallback chain) and `configuration.rs` (startup checks).
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;

mod fake;

use fake::*;

mod configuration;
mod content_blocking;
mod errors;
mod resume;
mod submit_query;
