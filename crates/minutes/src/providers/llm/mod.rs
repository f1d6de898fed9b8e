//! Language models that write artifacts as structured JSON.
pub mod extractive;
pub mod openai;

pub use extractive::ExtractiveGenerator;
pub use openai::{OpenAiChat, OpenAiChatSettings};
