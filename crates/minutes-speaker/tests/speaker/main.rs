//! Integration tests against the real CAM++ model and committed clips (one test binary).

// Helpers outside #[test] functions unwrap too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod dialog;
mod helpers;
mod parity;
mod voiceprint;
