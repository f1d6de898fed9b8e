//! The FCM front-end: 2-D residual convolutions over (frequency, time) that shrink frequency 8x.

use candle_core::Tensor;

use super::im2col::columns_3x3;
use super::weights::{Projection, Weights};
use crate::fbank::NUM_MEL_BINS;
use crate::SpeakerError;

/// Feature maps of the front-end.
const CHANNELS: usize = 32;
/// Mel bins left after three frequency strides of 2.
pub(crate) const OUT_FREQ: usize = NUM_MEL_BINS / 8;
/// Channels handed to the TDNN: every (feature map, frequency) pair.
pub(crate) const OUT_CHANNELS: usize = CHANNELS * OUT_FREQ;

/// A 3x3 convolution (padding 1, frequency stride only) with its BatchNorm folded in.
struct Conv3x3 {
    projection: Projection,
    freq_stride: usize,
}

impl Conv3x3 {
    fn load(
        w: &Weights,
        conv: &str,
        bn: &str,
        in_channels: usize,
        freq_stride: usize,
    ) -> Result<Self, SpeakerError> {
        let weight = w.get(&format!("{conv}.weight"), &[CHANNELS, in_channels, 3, 3])?;
        let bn = w.batch_norm(bn, CHANNELS, true)?;
        Ok(Conv3x3 {
            projection: Projection::folded(weight, bn)?,
            freq_stride,
        })
    }

    /// `(in, batch, freq, time)` to `(CHANNELS, batch, freq / stride, time)`, before any ReLU.
    fn forward(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        let (_, batch, _, time) = x.dims4()?;
        let (cols, out_freq) = columns_3x3(x, self.freq_stride)?;
        Ok(self
            .projection
            .apply(&cols)?
            .reshape((CHANNELS, batch, out_freq, time))?)
    }
}

/// Two 3x3 convolutions plus a shortcut; the first convolution may stride frequency by 2.
struct ResBlock {
    conv1: Conv3x3,
    conv2: Conv3x3,
    /// A strided 1x1 convolution + BatchNorm when the block downsamples, else identity.
    shortcut: Option<Projection>,
}

impl ResBlock {
    fn load(w: &Weights, prefix: &str, freq_stride: usize) -> Result<Self, SpeakerError> {
        let conv1 = Conv3x3::load(
            w,
            &format!("{prefix}.conv1"),
            &format!("{prefix}.bn1"),
            CHANNELS,
            freq_stride,
        )?;
        let conv2 = Conv3x3::load(
            w,
            &format!("{prefix}.conv2"),
            &format!("{prefix}.bn2"),
            CHANNELS,
            1,
        )?;
        let shortcut = if freq_stride == 1 {
            None
        } else {
            let weight = w.get(
                &format!("{prefix}.shortcut.0.weight"),
                &[CHANNELS, CHANNELS, 1, 1],
            )?;
            let bn = w.batch_norm(&format!("{prefix}.shortcut.1"), CHANNELS, true)?;
            Some(Projection::folded(weight, bn)?)
        };
        Ok(ResBlock {
            conv1,
            conv2,
            shortcut,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        let out = self.conv1.forward(x)?.relu()?;
        let out = self.conv2.forward(&out)?;
        let short = match &self.shortcut {
            None => x.clone(),
            Some(projection) => {
                // A strided 1x1 convolution is a projection of every other frequency row.
                let (channels, batch, freq, time) = x.dims4()?;
                let rows = x
                    .reshape((channels, batch, freq / 2, 2, time))?
                    .narrow(3, 0, 1)?
                    .contiguous()?;
                let out_freq = rows.dim(2)?;
                projection
                    .apply(&rows.reshape((channels, batch * out_freq * time))?)?
                    .reshape((CHANNELS, batch, out_freq, time))?
            }
        };
        Ok((out + short)?.relu()?)
    }
}

/// The whole front-end.
pub(crate) struct Head {
    conv1: Conv3x3,
    blocks: Vec<ResBlock>,
    conv2: Conv3x3,
}

impl Head {
    pub(crate) fn load(w: &Weights) -> Result<Self, SpeakerError> {
        let mut blocks = Vec::with_capacity(4);
        for layer in ["layer1", "layer2"] {
            blocks.push(ResBlock::load(w, &format!("head.{layer}.0"), 2)?);
            blocks.push(ResBlock::load(w, &format!("head.{layer}.1"), 1)?);
        }
        Ok(Head {
            conv1: Conv3x3::load(w, "head.conv1", "head.bn1", 1, 1)?,
            blocks,
            conv2: Conv3x3::load(w, "head.conv2", "head.bn2", CHANNELS, 2)?,
        })
    }

    /// Features `(1, batch, 80, time)` to `(OUT_CHANNELS, batch, time)`, channel = map * 10 + freq.
    pub(crate) fn forward(&self, features: &Tensor) -> Result<Tensor, SpeakerError> {
        let mut x = self.conv1.forward(features)?.relu()?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let x = self.conv2.forward(&x)?.relu()?;
        let (_, batch, freq, time) = x.dims4()?;
        Ok(x.permute((0, 2, 1, 3))?
            .contiguous()?
            .reshape((CHANNELS * freq, batch, time))?)
    }
}
