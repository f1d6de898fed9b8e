//! Speech-to-text engines and the fallback chain.
pub mod azure;
pub mod fallback;
pub mod local;
pub mod openai;
pub mod volcano;

pub use fallback::FallbackAsr;
pub use openai::{OpenAiAsr, OpenAiAsrSettings};
pub use volcano::{VolcanoAsr, VolcanoAsrSettings};
