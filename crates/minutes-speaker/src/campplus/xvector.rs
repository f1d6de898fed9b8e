//! The D-TDNN backbone with context-aware masking, statistics pooling and the embedding layer.

use candle_core::{DType, Device, Tensor};

use super::head::OUT_CHANNELS;
use super::im2col::{columns_1d, Conv1d};
use super::weights::{AffineOp, Projection, Weights};
use crate::SpeakerError;

/// Width of the TDNN input layer and of the first dense block's input.
const INIT_CHANNELS: usize = 128;
/// Channels each dense layer appends.
const GROWTH: usize = 32;
/// Bottleneck width inside a dense layer (bn_size 4 x growth).
const BOTTLENECK: usize = 128;
/// Frames per segment of the segment-level context in CAM.
const SEGMENT: usize = 100;
/// Output dimension.
pub const EMBEDDING_DIM: usize = 192;
/// (layers, dilation) of the three dense blocks; every one uses kernel 3.
const BLOCKS: [(usize, usize); 3] = [(12, 1), (24, 2), (16, 2)];

/// One densely connected layer: BN-ReLU, 1x1 bottleneck (+BN-ReLU), then a dilated
/// convolution gated by the context-aware mask.
struct DenseLayer {
    input_norm: AffineOp,
    bottleneck: Projection,
    local: Projection,
    local_geometry: Conv1d,
    gate_hidden: Projection,
    gate_out: Projection,
}

impl DenseLayer {
    fn load(
        w: &Weights,
        prefix: &str,
        in_channels: usize,
        dilation: usize,
    ) -> Result<Self, SpeakerError> {
        let bn_prefix = |name: &str| format!("{prefix}.{name}.batchnorm");
        let cam = |name: &str| format!("{prefix}.cam_layer.{name}");
        let input_norm = w
            .batch_norm(&bn_prefix("nonlinear1"), in_channels, true)?
            .into_op(3)?;
        let bottleneck = Projection::folded(
            w.get(
                &format!("{prefix}.linear1.weight"),
                &[BOTTLENECK, in_channels, 1],
            )?,
            w.batch_norm(&bn_prefix("nonlinear2"), BOTTLENECK, true)?,
        )?;
        let local = Projection::plain(
            w.get(&cam("linear_local.weight"), &[GROWTH, BOTTLENECK, 3])?,
            None,
        )?;
        let half = BOTTLENECK / 2;
        let gate_hidden = Projection::plain(
            w.get(&cam("linear1.weight"), &[half, BOTTLENECK, 1])?,
            Some(w.get(&cam("linear1.bias"), &[half])?),
        )?;
        let gate_out = Projection::plain(
            w.get(&cam("linear2.weight"), &[GROWTH, half, 1])?,
            Some(w.get(&cam("linear2.bias"), &[GROWTH])?),
        )?;
        Ok(DenseLayer {
            input_norm,
            bottleneck,
            local,
            local_geometry: Conv1d {
                kernel: 3,
                stride: 1,
                dilation,
                padding: dilation,
            },
            gate_hidden,
            gate_out,
        })
    }

    /// `(in, batch, time)` to the `(GROWTH, batch, time)` new channels.
    fn forward(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        let (channels, batch, time) = x.dims3()?;
        let h = self.input_norm.apply_relu(x)?;
        let h = self
            .bottleneck
            .apply(&h.reshape((channels, batch * time))?)?
            .relu()?
            .reshape((BOTTLENECK, batch, time))?;
        let local = self
            .local
            .apply(&columns_1d(&h, self.local_geometry)?)?
            .reshape((GROWTH, batch, time))?;
        Ok((local * self.mask(&h)?)?)
    }

    /// CAM: a sigmoid gate from the utterance mean plus the mean of the frame's 100-frame
    /// segment. The gate is constant within a segment, so it is computed once per segment.
    fn mask(&self, h: &Tensor) -> Result<Tensor, SpeakerError> {
        let (channels, batch, time) = h.dims3()?;
        let global = h.mean_keepdim(2)?;
        let segments = time.div_ceil(SEGMENT);
        let mut means = Vec::with_capacity(segments);
        for s in 0..segments {
            let start = s * SEGMENT;
            let len = SEGMENT.min(time - start);
            means.push(h.narrow(2, start, len)?.mean_keepdim(2)?);
        }
        let context = Tensor::cat(&means, 2)?.broadcast_add(&global)?;
        let hidden = self
            .gate_hidden
            .apply(&context.reshape((channels, batch * segments))?)?
            .relu()?;
        let logits = self.gate_out.apply(&hidden)?;
        // Candle's core has no sigmoid op; the gate is tiny (one value per segment).
        let gate = (logits.neg()?.exp()? + 1.0)?
            .recip()?
            .reshape((GROWTH, batch, segments))?;
        if segments == 1 {
            return Ok(gate.broadcast_as((GROWTH, batch, time))?);
        }
        let index: Vec<u32> = (0..time).map(|t| (t / SEGMENT) as u32).collect();
        let index = Tensor::from_vec(index, time, &Device::Cpu)?;
        Ok(gate.index_select(&index, 2)?)
    }
}

/// BN-ReLU then a 1x1 convolution halving the channels, between dense blocks.
struct Transit {
    norm: AffineOp,
    projection: Projection,
}

impl Transit {
    fn load(w: &Weights, prefix: &str, in_channels: usize) -> Result<Self, SpeakerError> {
        Ok(Transit {
            norm: w
                .batch_norm(&format!("{prefix}.nonlinear.batchnorm"), in_channels, true)?
                .into_op(3)?,
            projection: Projection::plain(
                w.get(
                    &format!("{prefix}.linear.weight"),
                    &[in_channels / 2, in_channels, 1],
                )?,
                None,
            )?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        let (channels, batch, time) = x.dims3()?;
        let h = self.norm.apply_relu(x)?.reshape((channels, batch * time))?;
        Ok(self
            .projection
            .apply(&h)?
            .reshape((channels / 2, batch, time))?)
    }
}

/// Everything after the front-end.
pub(crate) struct XVector {
    tdnn: Projection,
    blocks: Vec<(Vec<DenseLayer>, Transit)>,
    out_norm: AffineOp,
    dense: Projection,
}

const TDNN_GEOMETRY: Conv1d = Conv1d {
    kernel: 5,
    stride: 2,
    dilation: 1,
    padding: 2,
};

impl XVector {
    pub(crate) fn load(w: &Weights) -> Result<Self, SpeakerError> {
        let tdnn = Projection::folded(
            w.get(
                "xvector.tdnn.linear.weight",
                &[INIT_CHANNELS, OUT_CHANNELS, 5],
            )?,
            w.batch_norm("xvector.tdnn.nonlinear.batchnorm", INIT_CHANNELS, true)?,
        )?;
        let mut channels = INIT_CHANNELS;
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        for (b, &(layers, dilation)) in BLOCKS.iter().enumerate() {
            let mut dense = Vec::with_capacity(layers);
            for i in 0..layers {
                let prefix = format!("xvector.block{}.tdnnd{}", b + 1, i + 1);
                dense.push(DenseLayer::load(
                    w,
                    &prefix,
                    channels + i * GROWTH,
                    dilation,
                )?);
            }
            channels += layers * GROWTH;
            let transit = Transit::load(w, &format!("xvector.transit{}", b + 1), channels)?;
            channels /= 2;
            blocks.push((dense, transit));
        }
        let out_norm = w
            .batch_norm("xvector.out_nonlinear.batchnorm", channels, true)?
            .into_op(3)?;
        let dense = Projection::folded(
            w.get(
                "xvector.dense.linear.weight",
                &[EMBEDDING_DIM, channels * 2, 1],
            )?,
            w.batch_norm("xvector.dense.nonlinear.batchnorm", EMBEDDING_DIM, false)?,
        )?;
        Ok(XVector {
            tdnn,
            blocks,
            out_norm,
            dense,
        })
    }

    /// Front-end output `(OUT_CHANNELS, batch, time)` to raw embeddings `(batch, 192)`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        let (_, batch, time) = x.dims3()?;
        let time = TDNN_GEOMETRY.out_len(time);
        let mut x = self
            .tdnn
            .apply(&columns_1d(x, TDNN_GEOMETRY)?)?
            .relu()?
            .reshape((INIT_CHANNELS, batch, time))?;
        for (layers, transit) in &self.blocks {
            // Channels come first, so the layers' growing input is always a contiguous prefix
            // of one buffer: appending in place avoids re-copying it for every layer.
            let mut channels = x.dim(0)?;
            let all = Tensor::zeros(
                (channels + layers.len() * GROWTH, batch, time),
                DType::F32,
                &Device::Cpu,
            )?;
            all.slice_set(&x, 0, 0)?;
            for layer in layers {
                let new = layer.forward(&all.narrow(0, 0, channels)?)?;
                all.slice_set(&new.contiguous()?, 0, channels)?;
                channels += GROWTH;
            }
            x = transit.forward(&all)?;
        }
        let x = self.out_norm.apply_relu(&x)?;
        let stats = statistics(&x)?;
        Ok(self.dense.apply(&stats)?.t()?.contiguous()?)
    }
}

/// Mean and unbiased standard deviation over time: `(channels, batch, time)` to
/// `(2 * channels, batch)`. A single frame has no spread, so its deviation is taken as zero
/// rather than PyTorch's NaN.
fn statistics(x: &Tensor) -> Result<Tensor, SpeakerError> {
    let time = x.dim(2)?;
    let mean = x.mean_keepdim(2)?;
    let centered = x.broadcast_sub(&mean)?;
    let denom = time.saturating_sub(1).max(1) as f64;
    let std = (centered.sqr()?.sum_keepdim(2)? / denom)?.sqrt()?;
    let stats = Tensor::cat(&[mean, std], 0)?.squeeze(2)?;
    Ok(stats.to_dtype(DType::F32)?)
}
