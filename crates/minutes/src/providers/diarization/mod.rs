//! Speaker separation engines for ASR results without speakers.
pub mod local;

pub use local::LocalDiarizer;
