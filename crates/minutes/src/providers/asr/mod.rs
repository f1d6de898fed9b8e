//! Speech-to-text engines and the fallback chain.
pub mod fallback;
pub mod local;
pub mod openai;

pub use fallback::FallbackAsr;
pub use openai::{OpenAiAsr, OpenAiAsrSettings};
