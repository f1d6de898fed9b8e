//! Reading the PyTorch state dict and turning BatchNorm statistics into per-channel affines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::SpeakerError;

/// BatchNorm epsilon of every layer in CAM++ (the PyTorch default).
const BN_EPS: f64 = 1e-5;

/// The state dict, with errors that name the file and the tensor.
pub(crate) struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    pub(crate) fn load(path: &Path) -> Result<Self, SpeakerError> {
        if !path.is_file() {
            return Err(SpeakerError::ModelMissing {
                path: path.to_owned(),
            });
        }
        let tensors =
            candle_core::pickle::read_all(path).map_err(|e| SpeakerError::ModelInvalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Weights {
            path: path.to_owned(),
            tensors: tensors.into_iter().collect(),
        })
    }

    fn invalid(&self, reason: String) -> SpeakerError {
        SpeakerError::ModelInvalid {
            path: self.path.clone(),
            reason,
        }
    }

    /// The tensor `name` as f32 on the CPU, checked against the shape the architecture implies.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, SpeakerError> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| self.invalid(format!("missing tensor {name}")))?;
        if tensor.dims() != shape {
            return Err(self.invalid(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                tensor.dims()
            )));
        }
        Ok(tensor.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)
    }

    fn vector(&self, name: &str, channels: usize) -> Result<Vec<f32>, SpeakerError> {
        Ok(self.get(name, &[channels])?.to_vec1::<f32>()?)
    }

    /// Inference-mode BatchNorm `prefix` as `y = x * scale + shift`.
    /// `affine` is false for the final embedding BatchNorm, which has no weight and bias.
    pub(crate) fn batch_norm(
        &self,
        prefix: &str,
        channels: usize,
        affine: bool,
    ) -> Result<ChannelAffine, SpeakerError> {
        let mean = self.vector(&format!("{prefix}.running_mean"), channels)?;
        let var = self.vector(&format!("{prefix}.running_var"), channels)?;
        let (gamma, beta) = if affine {
            (
                self.vector(&format!("{prefix}.weight"), channels)?,
                self.vector(&format!("{prefix}.bias"), channels)?,
            )
        } else {
            (vec![1.0; channels], vec![0.0; channels])
        };
        let mut scale = Vec::with_capacity(channels);
        let mut shift = Vec::with_capacity(channels);
        for c in 0..channels {
            let s = f64::from(gamma[c]) / (f64::from(var[c]) + BN_EPS).sqrt();
            scale.push(s as f32);
            shift.push((f64::from(beta[c]) - f64::from(mean[c]) * s) as f32);
        }
        Ok(ChannelAffine { scale, shift })
    }
}

/// A per-channel `x * scale + shift`, i.e. a BatchNorm in eval mode.
pub(crate) struct ChannelAffine {
    pub(crate) scale: Vec<f32>,
    pub(crate) shift: Vec<f32>,
}

impl ChannelAffine {
    /// Ready to apply to channel-first tensors `(channels, d1, .., d_rank-1)`.
    pub(crate) fn into_op(self, rank: usize) -> Result<AffineOp, SpeakerError> {
        let mut shape = vec![1; rank];
        shape[0] = self.scale.len();
        Ok(AffineOp {
            scale: Tensor::from_vec(self.scale, shape.as_slice(), &Device::Cpu)?,
            shift: Tensor::from_vec(self.shift, shape.as_slice(), &Device::Cpu)?,
        })
    }
}

/// A ready-to-apply per-channel affine on channel-first tensors.
pub(crate) struct AffineOp {
    scale: Tensor,
    shift: Tensor,
}

impl AffineOp {
    pub(crate) fn apply(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        Ok(x.broadcast_mul(&self.scale)?.broadcast_add(&self.shift)?)
    }

    /// BatchNorm followed by ReLU, the `batchnorm-relu` nonlinearity of CAM++.
    pub(crate) fn apply_relu(&self, x: &Tensor) -> Result<Tensor, SpeakerError> {
        Ok(self.apply(x)?.relu()?)
    }
}

/// A convolution as a matrix over im2col columns, with any following BatchNorm folded in.
pub(crate) struct Projection {
    /// `(out_channels, in_channels * kernel_elements)`, PyTorch's layout flattened.
    weight: Tensor,
    /// `(out_channels, 1)`.
    bias: Tensor,
}

impl Projection {
    /// Folds `bn` into `weight` (PyTorch layout, output channels first) as scale and bias.
    pub(crate) fn folded(weight: Tensor, bn: ChannelAffine) -> Result<Self, SpeakerError> {
        let out_channels = bn.scale.len();
        let weight = weight.flatten_from(1)?;
        let scale = Tensor::from_vec(bn.scale, (out_channels, 1), &Device::Cpu)?;
        Ok(Projection {
            weight: weight.broadcast_mul(&scale)?,
            bias: Tensor::from_vec(bn.shift, (out_channels, 1), &Device::Cpu)?,
        })
    }

    /// A convolution with its own bias, or none.
    pub(crate) fn plain(weight: Tensor, bias: Option<Tensor>) -> Result<Self, SpeakerError> {
        let weight = weight.flatten_from(1)?;
        let out_channels = weight.dim(0)?;
        let bias = match bias {
            Some(b) => b.reshape((out_channels, 1))?,
            None => Tensor::zeros((out_channels, 1), DType::F32, &Device::Cpu)?,
        };
        Ok(Projection { weight, bias })
    }

    /// `(in * kernel, n)` columns to `(out, n)` outputs.
    pub(crate) fn apply(&self, columns: &Tensor) -> Result<Tensor, SpeakerError> {
        Ok(self.weight.matmul(columns)?.broadcast_add(&self.bias)?)
    }
}
