//! `minutes`: meeting recordings in, speaker-attributed versioned minutes out.
pub mod domain;
pub mod providers;
pub mod store;
