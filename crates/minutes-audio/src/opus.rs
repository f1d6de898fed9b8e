//! Ogg Opus via the pure-Rust `ruopus` decoder (symphonia 0.5 has no Opus decoder).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use ruopus::{MultistreamDecoder, OpusDecoder, PacketError};

use crate::ogg::{self, OggReader};
use crate::sniff::Container;
use crate::source::{downmix_interleaved, MonoSource};
use crate::{AudioError, ProbeInfo};

/// Opus always decodes at 48 kHz here; granule positions and pre-skip count in that rate.
const RATE: u32 = 48_000;
/// Undecodable packets in a row before giving up; single bad packets are concealed instead.
const MAX_BAD_PACKETS: u32 = 64;
/// How much of the file's end is searched for the last page, to report the duration.
const TAIL_SCAN: u64 = 64 * 1024;

/// True when the first Ogg page carries an OpusHead packet.
pub(crate) fn is_opus(head: &[u8]) -> bool {
    let Some(&segments) = head.get(26) else {
        return false;
    };
    let body = 27 + usize::from(segments);
    head.get(body..body + 8) == Some(b"OpusHead".as_slice())
}

/// The fields of the OpusHead identification header (RFC 7845, section 5.1).
struct Head {
    channels: usize,
    pre_skip: u64,
    /// Output gain, Q7.8 dB.
    gain: i16,
    family: u8,
    streams: usize,
    coupled: usize,
    mapping: Vec<u8>,
}

fn parse_head(p: &[u8]) -> Result<Head, AudioError> {
    if p.len() < 19 || !p.starts_with(b"OpusHead") {
        return Err(AudioError::corrupt("missing OpusHead header"));
    }
    if p[8] >> 4 != 0 {
        return Err(AudioError::Unsupported(format!(
            "Ogg Opus version {}",
            p[8]
        )));
    }
    let channels = usize::from(p[9]);
    let mut head = Head {
        channels,
        pre_skip: u64::from(u16::from_le_bytes([p[10], p[11]])),
        gain: i16::from_le_bytes([p[16], p[17]]),
        family: p[18],
        streams: 1,
        coupled: usize::from(channels == 2),
        mapping: Vec::new(),
    };
    match head.family {
        0 if (1..=2).contains(&channels) => {}
        1 if (1..=8).contains(&channels) => {
            let table = p
                .get(19..21 + channels)
                .ok_or_else(|| AudioError::corrupt("short OpusHead"))?;
            head.streams = usize::from(table[0]);
            head.coupled = usize::from(table[1]);
            head.mapping = table[2..].to_vec();
        }
        f => {
            return Err(AudioError::Unsupported(format!(
                "opus with {channels} channels in mapping family {f}"
            )));
        }
    }
    Ok(head)
}

enum Dec {
    Single(Box<OpusDecoder>),
    Multi(Box<MultistreamDecoder>),
}

impl Dec {
    fn new(h: &Head) -> Result<Self, AudioError> {
        if h.family == 0 {
            return Ok(Dec::Single(Box::new(OpusDecoder::new(h.channels))));
        }
        // The decoder asserts on layouts outside RFC 7845's limits; refuse them first.
        let decoded = h.streams + h.coupled;
        if h.streams == 0
            || h.coupled > h.streams
            || decoded > 255
            || h.mapping
                .iter()
                .any(|&m| m != 255 && usize::from(m) >= decoded)
        {
            return Err(AudioError::corrupt("invalid Opus channel mapping"));
        }
        Ok(Dec::Multi(Box::new(MultistreamDecoder::with_rate(
            RATE, h.streams, h.coupled, &h.mapping,
        ))))
    }

    /// Interleaved 48 kHz samples of one packet.
    fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, PacketError> {
        match self {
            Dec::Single(d) => d.decode_packet(packet),
            Dec::Multi(d) => d.decode_packet(packet),
        }
    }

    /// Stands in for a damaged packet so later audio keeps its place on the timeline.
    fn conceal(&mut self) -> Vec<f32> {
        match self {
            // A packet of at most one byte makes the decoder conceal one frame.
            Dec::Single(d) => d.decode_packet(&[]).unwrap_or_default(),
            Dec::Multi(_) => Vec::new(),
        }
    }
}

pub(crate) struct OpusSource {
    ogg: OggReader<BufReader<File>>,
    dec: Dec,
    channels: usize,
    pre_skip: u64,
    gain: f32,
    /// Samples per channel decoded so far, pre-skip included (the granule position scale).
    pos: u64,
    primed: Vec<f32>,
}

pub(crate) fn open(mut file: File) -> Result<(ProbeInfo, Box<dyn MonoSource>), AudioError> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_SCAN)))?;
    let mut tail = Vec::new();
    (&mut file).take(TAIL_SCAN).read_to_end(&mut tail)?;
    file.seek(SeekFrom::Start(0))?;

    let mut ogg = OggReader::new(BufReader::new(file));
    let head = match ogg.next_packet()? {
        Some(p) => parse_head(p.data)?,
        None => return Err(AudioError::corrupt("file ends inside the Opus header")),
    };
    // The comment header carries only tags.
    if ogg.next_packet()?.is_none() {
        return Err(AudioError::corrupt("file ends inside the Opus header"));
    }
    let dec = Dec::new(&head)?;
    let gain = 10f32.powf(f32::from(head.gain) / (20.0 * 256.0));
    let mut src = OpusSource {
        ogg,
        dec,
        channels: head.channels,
        pre_skip: head.pre_skip,
        gain,
        pos: 0,
        primed: Vec::new(),
    };
    let mut first = Vec::new();
    if !src.next(&mut first)? {
        return Err(AudioError::corrupt("no decodable Opus audio"));
    }
    src.primed = first;
    let duration_secs = ogg::last_granule(&tail)
        .filter(|&g| g >= head.pre_skip)
        .map(|g| (g - head.pre_skip) as f64 / f64::from(RATE));
    let channels = u16::try_from(head.channels).unwrap_or(u16::MAX);
    let info = ProbeInfo {
        container: Container::Ogg,
        codec: "opus".into(),
        sample_rate: RATE,
        channels,
        duration_secs,
    };
    Ok((info, Box::new(src)))
}

impl MonoSource for OpusSource {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn next(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if !self.primed.is_empty() {
            out.append(&mut self.primed);
            return Ok(true);
        }
        let mut bad = 0;
        while let Some(packet) = self.ogg.next_packet()? {
            let pcm = match self.dec.decode(packet.data) {
                Ok(pcm) => pcm,
                Err(e) => {
                    bad += 1;
                    if bad > MAX_BAD_PACKETS {
                        return Err(AudioError::corrupt(format!("opus: {e}")));
                    }
                    self.dec.conceal()
                }
            };
            let ch = self.channels;
            let n = pcm.len() / ch;
            let start = self.pos;
            self.pos += n as u64;
            // The last page's granule position marks the real end; the rest is encoder padding.
            let end = match (packet.last_page, packet.granule) {
                (true, Some(g)) => self.pos.min(g),
                _ => self.pos,
            };
            let keep_from = start.max(self.pre_skip);
            if end <= keep_from {
                continue;
            }
            let frames = &pcm[(keep_from - start) as usize * ch..(end - start) as usize * ch];
            let before = out.len();
            downmix_interleaved(frames, ch, out);
            if self.gain != 1.0 {
                out[before..].iter_mut().for_each(|s| *s *= self.gain);
            }
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, family: u8) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.extend_from_slice(&[1, channels, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, family]);
        h
    }

    #[test]
    fn parses_head() {
        let h = parse_head(&head(1, 0)).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.family), (1, 312, 0));
        assert!(matches!(
            parse_head(&head(3, 0)),
            Err(AudioError::Unsupported(_))
        ));
        assert!(matches!(
            parse_head(&head(2, 255)),
            Err(AudioError::Unsupported(_))
        ));
        assert!(matches!(
            parse_head(&head(4, 1)),
            Err(AudioError::Corrupt(_))
        ));
        let mut h = head(3, 1);
        h.extend_from_slice(&[2, 1, 0, 2, 1]);
        let h = parse_head(&h).unwrap();
        assert_eq!(
            (h.streams, h.coupled, h.mapping.as_slice()),
            (2, 1, &[0u8, 2, 1][..])
        );
        assert!(parse_head(b"OpusTags").is_err());
    }

    #[test]
    fn detects_opus_first_page() {
        let mut page = b"OggS\0\x02".to_vec();
        page.extend_from_slice(&[0; 20]);
        page.push(1);
        page.push(19);
        page.extend_from_slice(&head(1, 0));
        assert!(is_opus(&page));
        page[29] = b'X';
        assert!(!is_opus(&page));
    }
}
