//! Unrolling convolutions into one matrix product each (im2col).
//!
//! Activations are kept channel-first, `(channels, batch, ..., time)`, so every convolution of
//! the whole batch is a single `(out, in * kernel) x (in * kernel, batch * positions)` product and
//! concatenating channels (the dense blocks do it 52 times) is a plain append. Candle's own conv2d
//! only takes one stride for both axes, but the CAM++ front-end strides frequency alone.

use candle_core::{Device, Tensor};

use crate::SpeakerError;

/// Geometry of a 1-D convolution along the last axis.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv1d {
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) dilation: usize,
    pub(crate) padding: usize,
}

impl Conv1d {
    pub(crate) fn out_len(&self, len: usize) -> usize {
        (len + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) / self.stride + 1
    }
}

/// Columns `(channels * kernel, rows * out_len)` for `x` shaped `(channels, rows, len)`.
pub(crate) fn columns_1d(x: &Tensor, geometry: Conv1d) -> Result<Tensor, SpeakerError> {
    let (channels, rows, len) = x.dims3()?;
    let data = x.flatten_all()?.to_vec1::<f32>()?;
    let out_len = geometry.out_len(len);
    let width = rows * out_len;
    let mut cols = vec![0f32; channels * geometry.kernel * width];
    for c in 0..channels {
        for k in 0..geometry.kernel {
            let dst_row = &mut cols[(c * geometry.kernel + k) * width..][..width];
            let offset = (k * geometry.dilation) as isize - geometry.padding as isize;
            for r in 0..rows {
                let src = &data[(c * rows + r) * len..][..len];
                let dst = &mut dst_row[r * out_len..][..out_len];
                for (o, value) in dst.iter_mut().enumerate() {
                    let s = (o * geometry.stride) as isize + offset;
                    if (0..len as isize).contains(&s) {
                        *value = src[s as usize];
                    }
                }
            }
        }
    }
    Ok(Tensor::from_vec(
        cols,
        (channels * geometry.kernel, width),
        &Device::Cpu,
    )?)
}

/// Columns `(channels * 9, rows * out_freq * time)` for a 3x3 convolution with padding 1 and
/// stride `(freq_stride, 1)` over `x` shaped `(channels, rows, freq, time)`.
pub(crate) fn columns_3x3(x: &Tensor, freq_stride: usize) -> Result<(Tensor, usize), SpeakerError> {
    let (channels, rows, freq, time) = x.dims4()?;
    let data = x.flatten_all()?.to_vec1::<f32>()?;
    let out_freq = (freq - 1) / freq_stride + 1;
    let width = rows * out_freq * time;
    let mut cols = vec![0f32; channels * 9 * width];
    for c in 0..channels {
        for kf in 0..3 {
            for kt in 0..3 {
                let dst_row = &mut cols[(c * 9 + kf * 3 + kt) * width..][..width];
                for r in 0..rows {
                    for of in 0..out_freq {
                        let Some(f) = (of * freq_stride + kf).checked_sub(1) else {
                            continue;
                        };
                        if f >= freq {
                            continue;
                        }
                        let src = &data[((c * rows + r) * freq + f) * time..][..time];
                        let dst = &mut dst_row[(r * out_freq + of) * time..][..time];
                        // Time is padded by one on each side: tap kt reads t + kt - 1.
                        match kt {
                            0 => dst[1..].copy_from_slice(&src[..time - 1]),
                            1 => dst.copy_from_slice(src),
                            _ => dst[..time - 1].copy_from_slice(&src[1..]),
                        }
                    }
                }
            }
        }
    }
    let cols = Tensor::from_vec(cols, (channels * 9, width), &Device::Cpu)?;
    Ok((cols, out_freq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_padded_columns_pick_the_right_taps() {
        // One channel, one row, values 1..=5.
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 5.], (1, 1, 5), &Device::Cpu).unwrap();
        let geometry = Conv1d {
            kernel: 5,
            stride: 2,
            dilation: 1,
            padding: 2,
        };
        assert_eq!(geometry.out_len(5), 3);
        let cols = columns_1d(&x, geometry).unwrap().to_vec2::<f32>().unwrap();
        // Output position o reads inputs 2o-2 ..= 2o+2 (zero outside).
        assert_eq!(cols[0], vec![0., 1., 3.]);
        assert_eq!(cols[2], vec![1., 3., 5.]);
        assert_eq!(cols[4], vec![3., 5., 0.]);
    }

    #[test]
    fn dilated_columns_stay_inside_their_row() {
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (1, 2, 3), &Device::Cpu).unwrap();
        let geometry = Conv1d {
            kernel: 3,
            stride: 1,
            dilation: 2,
            padding: 2,
        };
        let cols = columns_1d(&x, geometry).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(cols[0], vec![0., 0., 1., 0., 0., 4.]);
        assert_eq!(cols[2], vec![3., 0., 0., 6., 0., 0.]);
    }

    #[test]
    fn frequency_stride_halves_rows_and_keeps_time() {
        let x = Tensor::arange(0f32, 16., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 4, 4))
            .unwrap();
        let (cols, out_freq) = columns_3x3(&x, 2).unwrap();
        assert_eq!(out_freq, 2);
        let cols = cols.to_vec2::<f32>().unwrap();
        // Centre tap (kf = 1, kt = 1) reads frequency rows 0 and 2 unchanged.
        assert_eq!(cols[4], vec![0., 1., 2., 3., 8., 9., 10., 11.]);
        // Tap kf = 0 of output row 0 is padding; of output row 1 it reads row 1.
        assert_eq!(cols[1], vec![0., 0., 0., 0., 4., 5., 6., 7.]);
    }
}
