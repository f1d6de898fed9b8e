//! Symphonia-backed sources: WAV, MP3, MP4/AAC, Ogg/Vorbis and FLAC.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{self, CodecType, Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::Sample;

use crate::mp4::{self, EditList};
use crate::sniff::Container;
use crate::source::MonoSource;
use crate::{AudioError, ProbeInfo};

/// Consecutive undecodable packets tolerated before the file counts as corrupt; decoders skip
/// a damaged frame the way players do, but a stream of garbage must not spin forever.
const MAX_BAD_PACKETS: u32 = 64;

pub(crate) struct SymphoniaSource {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    rate: u32,
    /// The first decoded packet, read while opening to prove the file decodes.
    primed: Vec<f32>,
    /// MP4 gapless info, applied once the decoder has told us its rate.
    edit: Option<EditList>,
    /// Leading frames still to drop (encoder priming).
    skip: u64,
    /// Frames still to emit before the end the container declares (encoder padding follows).
    keep: Option<u64>,
}

pub(crate) fn open(
    mut file: File,
    container: Container,
) -> Result<(ProbeInfo, Box<dyn MonoSource>), AudioError> {
    let edit = if container == Container::Mp4 {
        mp4::read_edit(&mut file)
    } else {
        None
    };
    file.seek(SeekFrom::Start(0))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(container.extension());
    let opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &opts, &MetadataOptions::default())
        .map_err(|e| open_error(e, "read the container"))?;
    let reader = probed.format;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Unsupported("no audio track with a known codec".into()))?;
    let params = track.codec_params.clone();
    let track_id = track.id;
    let codec = codec_name(params.codec);
    let decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => AudioError::Unsupported(codec.clone()),
            e => open_error(e, "set up the decoder"),
        })?;
    let mut src = SymphoniaSource {
        reader,
        decoder,
        track_id,
        rate: 0,
        primed: Vec::new(),
        edit,
        skip: 0,
        keep: None,
    };
    let mut first = Vec::new();
    let channels = src
        .decode_next(&mut first)?
        .ok_or_else(|| AudioError::corrupt("no decodable audio"))?;
    src.primed = first;
    let frames = edit
        .and_then(|e| e.at_rate(src.rate).keep)
        .or(params.n_frames);
    let duration_secs = frames.map(|n| n as f64 / f64::from(src.rate));
    let info = ProbeInfo {
        container,
        codec,
        sample_rate: src.rate,
        channels,
        duration_secs,
    };
    Ok((info, Box::new(src)))
}

fn open_error(e: SymError, doing: &str) -> AudioError {
    match e {
        SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => AudioError::corrupt(
            format!("file ends before the audio starts (could not {doing})"),
        ),
        SymError::IoError(e) => AudioError::Io(e),
        e => AudioError::corrupt(format!("could not {doing}: {e}")),
    }
}

/// Short codec names for the log and API; disabled codecs have no descriptor, so name the usual ones.
fn codec_name(codec: CodecType) -> String {
    if let Some(d) = symphonia::default::get_codecs().get_codec(codec) {
        return d.short_name.to_string();
    }
    let name = match codec {
        codecs::CODEC_TYPE_ALAC => "alac",
        codecs::CODEC_TYPE_OPUS => "opus",
        codecs::CODEC_TYPE_SPEEX => "speex",
        codecs::CODEC_TYPE_ADPCM_IMA_WAV | codecs::CODEC_TYPE_ADPCM_MS => "adpcm",
        codecs::CODEC_TYPE_PCM_ALAW => "pcm_alaw",
        codecs::CODEC_TYPE_PCM_MULAW => "pcm_mulaw",
        codecs::CODEC_TYPE_MP1 => "mp1",
        _ => return format!("codec {codec}"),
    };
    name.to_string()
}

impl SymphoniaSource {
    /// Decodes packets until one yields audio; returns its channel count, or None at the end.
    fn decode_next(&mut self, out: &mut Vec<f32>) -> Result<Option<u16>, AudioError> {
        let mut bad = 0u32;
        loop {
            let packet = match self.reader.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::ResetRequired) => return Ok(None),
                Err(SymError::IoError(e)) => return Err(AudioError::Io(e)),
                Err(e) => {
                    bad += 1;
                    if bad > MAX_BAD_PACKETS {
                        return Err(AudioError::corrupt(e.to_string()));
                    }
                    continue;
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e @ (SymError::DecodeError(_) | SymError::IoError(_))) => {
                    bad += 1;
                    if bad > MAX_BAD_PACKETS {
                        return Err(AudioError::corrupt(e.to_string()));
                    }
                    continue;
                }
                Err(SymError::Unsupported(what)) => {
                    return Err(AudioError::Unsupported(what.to_string()))
                }
                Err(e) => return Err(AudioError::corrupt(e.to_string())),
            };
            if buf.frames() == 0 {
                continue;
            }
            let spec = *buf.spec();
            if self.rate == 0 {
                self.rate = spec.rate;
                if let Some(edit) = self.edit.map(|e| e.at_rate(spec.rate)) {
                    (self.skip, self.keep) = (edit.skip, edit.keep);
                }
            } else if spec.rate != self.rate {
                return Err(AudioError::Unsupported(
                    "sample rate changes mid-stream".into(),
                ));
            }
            let before = out.len();
            downmix(&buf, out);
            self.trim(out, before);
            if out.len() == before {
                if self.keep == Some(0) {
                    return Ok(None);
                }
                continue;
            }
            let channels = u16::try_from(spec.channels.count()).unwrap_or(u16::MAX);
            return Ok(Some(channels));
        }
    }
}

impl SymphoniaSource {
    /// Applies the gapless skip and end to the samples appended to `out` after `before`.
    fn trim(&mut self, out: &mut Vec<f32>, before: usize) {
        let added = (out.len() - before) as u64;
        let drop = self.skip.min(added);
        if drop > 0 {
            out.drain(before..before + drop as usize);
            self.skip -= drop;
        }
        if let Some(keep) = self.keep.as_mut() {
            let n = ((out.len() - before) as u64).min(*keep);
            out.truncate(before + n as usize);
            *keep -= n;
        }
    }
}

impl MonoSource for SymphoniaSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn next(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if !self.primed.is_empty() {
            out.append(&mut self.primed);
            return Ok(true);
        }
        Ok(self.decode_next(out)?.is_some())
    }
}

fn downmix(buf: &AudioBufferRef<'_>, out: &mut Vec<f32>) {
    match buf {
        AudioBufferRef::U8(b) => downmix_planar(b, out),
        AudioBufferRef::U16(b) => downmix_planar(b, out),
        AudioBufferRef::U24(b) => downmix_planar(b, out),
        AudioBufferRef::U32(b) => downmix_planar(b, out),
        AudioBufferRef::S8(b) => downmix_planar(b, out),
        AudioBufferRef::S16(b) => downmix_planar(b, out),
        AudioBufferRef::S24(b) => downmix_planar(b, out),
        AudioBufferRef::S32(b) => downmix_planar(b, out),
        AudioBufferRef::F32(b) => downmix_planar(b, out),
        AudioBufferRef::F64(b) => downmix_planar(b, out),
    }
}

/// Appends the average of all channels; the single-channel case is a plain conversion.
fn downmix_planar<S: Sample + IntoSample<f32>>(buf: &AudioBuffer<S>, out: &mut Vec<f32>) {
    let channels = buf.spec().channels.count();
    if channels == 0 {
        return;
    }
    let start = out.len();
    out.extend(buf.chan(0).iter().map(|&s| -> f32 { s.into_sample() }));
    if channels > 1 {
        let dst = &mut out[start..];
        for c in 1..channels {
            for (d, &s) in dst.iter_mut().zip(buf.chan(c)) {
                *d += s.into_sample();
            }
        }
        let scale = 1.0 / channels as f32;
        dst.iter_mut().for_each(|d| *d *= scale);
    }
}
