//! Offline speaker embeddings, diarization clustering and voiceprint identification.
//!
//! - [`fbank`]: Kaldi-compatible 80-bin log-mel features (what CAM++ was trained on).
//! - [`CamPlus`]: the CAM++ speaker embedding network (3D-Speaker, zh+en, 192-d) on the CPU,
//!   read from its PyTorch state dict.
//! - [`Embedder`]: what diarization runs on; [`FbankStatsEmbedder`] is the degraded,
//!   model-free fallback for when the model file is absent ([`campplus_or_fallback`] picks).
//! - [`cluster::agglomerative`]: average-linkage clustering on cosine distance, with the
//!   speaker count estimated by a distance threshold.
//! - [`diarize::diarize`]: windows over speech regions, embeddings, clusters, labeled turns.
//! - [`identify`]: voiceprint scoring against enrolled speakers and the accept/unknown decision.
//!
//! All audio is 16 kHz mono `f32` in [-1, 1].

pub mod campplus;
pub mod cluster;
pub mod diarize;
mod embedder;
mod error;
pub mod fbank;
pub mod identify;
mod vector;

pub use campplus::CamPlus;
pub use embedder::{campplus_or_fallback, Embedder, FbankStatsEmbedder};
pub use error::SpeakerError;
pub use vector::{centroid, cosine, l2_normalized};
