//! Language models that write artifacts as structured JSON.
pub mod extractive;
pub mod fallback;
pub mod gemini;
pub mod gguf;
pub mod openai;

pub use extractive::ExtractiveGenerator;
pub use fallback::FallbackLlm;
pub use gemini::{Gemini, GeminiSettings};
pub use gguf::GgufSettings;
pub use openai::{OpenAiChat, OpenAiChatSettings};
