//! CAM++ speaker embeddings (3D-Speaker, zh+en "common advanced" model, 192-d) on the CPU.
//!
//! The architecture is the published one (Wang et al., "CAM++", Interspeech 2023): an FCM
//! front-end of 2-D residual convolutions, three densely connected TDNN blocks whose layers are
//! gated by context-aware masks, transit layers, statistics pooling and a dense layer. Every
//! BatchNorm that directly follows a convolution is folded into it at load time.

mod head;
mod im2col;
mod weights;
mod xvector;

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::fbank::{self, Frame, NUM_MEL_BINS};
use crate::SpeakerError;

pub use xvector::EMBEDDING_DIM;

/// Windows run through the network together; bounds peak memory at roughly 60 MB per 1.5 s
/// window set, and larger batches stopped paying off on a 2-core machine.
const MAX_BATCH: usize = 8;

/// The CAM++ speaker embedding network.
pub struct CamPlus {
    head: head::Head,
    xvector: xvector::XVector,
}

impl CamPlus {
    /// Loads the PyTorch state dict `campplus_cn_en_common.pt` (zip format, f32).
    ///
    /// Fails with [`SpeakerError::ModelMissing`] when the file does not exist, so callers can
    /// fall back to [`crate::FbankStatsEmbedder`], and [`SpeakerError::ModelInvalid`] when a
    /// tensor is missing or has an unexpected shape.
    pub fn load(path: &Path) -> Result<Self, SpeakerError> {
        let weights = weights::Weights::load(path)?;
        Ok(CamPlus {
            head: head::Head::load(&weights)?,
            xvector: xvector::XVector::load(&weights)?,
        })
    }

    /// The L2-normalized 192-d embedding of 16 kHz mono samples in [-1, 1].
    ///
    /// Needs at least 25 ms of audio; below about 1 s embeddings get noticeably less reliable.
    pub fn embed(&self, samples_16k: &[f32]) -> Result<Vec<f32>, SpeakerError> {
        let mut embeddings = self.embed_batch(&[samples_16k])?;
        embeddings
            .pop()
            .ok_or(SpeakerError::TooShort { samples: 0 })
    }

    /// Embeddings of several clips, in input order. Clips of equal length (the usual case for
    /// diarization windows) are run through the network together, which is faster.
    pub fn embed_batch(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, SpeakerError> {
        let mut features = Vec::with_capacity(clips.len());
        for clip in clips {
            let mut frames = fbank::kaldi_fbank(clip);
            if frames.is_empty() {
                return Err(SpeakerError::TooShort {
                    samples: clip.len(),
                });
            }
            fbank::mean_normalize(&mut frames);
            features.push(frames);
        }
        let mut order: Vec<usize> = (0..clips.len()).collect();
        order.sort_by_key(|&i| features[i].len());
        let mut out = vec![Vec::new(); clips.len()];
        for group in order.chunk_by(|&a, &b| features[a].len() == features[b].len()) {
            for chunk in group.chunks(MAX_BATCH) {
                let batch: Vec<&[Frame]> = chunk.iter().map(|&i| features[i].as_slice()).collect();
                for (&i, embedding) in chunk.iter().zip(self.forward(&batch)?) {
                    out[i] = embedding;
                }
            }
        }
        Ok(out)
    }

    /// Mean-normalized features of equal length to L2-normalized embeddings.
    fn forward(&self, batch: &[&[Frame]]) -> Result<Vec<Vec<f32>>, SpeakerError> {
        let time = batch.first().map_or(0, |f| f.len());
        // The front-end wants (channel = 1, batch, mel, time).
        let mut data = vec![0f32; batch.len() * NUM_MEL_BINS * time];
        for (b, frames) in batch.iter().enumerate() {
            let plane = &mut data[b * NUM_MEL_BINS * time..][..NUM_MEL_BINS * time];
            for (t, frame) in frames.iter().enumerate() {
                for (m, &v) in frame.iter().enumerate() {
                    plane[m * time + t] = v;
                }
            }
        }
        let input = Tensor::from_vec(data, (1, batch.len(), NUM_MEL_BINS, time), &Device::Cpu)?;
        let raw = self.xvector.forward(&self.head.forward(&input)?)?;
        Ok(raw
            .to_vec2::<f32>()?
            .into_iter()
            .map(crate::vector::l2_normalized)
            .collect())
    }
}
