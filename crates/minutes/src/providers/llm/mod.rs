//! Language models that write artifacts as structured JSON.
pub mod openai;

pub use openai::{OpenAiChat, OpenAiChatSettings};
