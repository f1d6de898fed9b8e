//! MP4 edit lists, which symphonia 0.5 ignores: they trim the AAC encoder's priming and padding.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// A moov box larger than this is not a plain audio file; skip gapless trimming rather than buffer it.
const MAX_MOOV: u64 = 64 << 20;

/// What the first sound track's edit list keeps, in decoded frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edit {
    pub skip: u64,
    pub keep: Option<u64>,
}

/// The one edit that plays media, in the file's own timescales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EditList {
    media_time: u64,
    media_scale: u64,
    duration: u64,
    movie_scale: u64,
}

impl EditList {
    /// The edit in frames at the decoder's output `rate`.
    pub(crate) fn at_rate(&self, rate: u32) -> Edit {
        let rate = u128::from(rate);
        let to_frames = |v: u64, scale: u64| {
            u64::try_from((u128::from(v) * rate * 2 + u128::from(scale)) / (u128::from(scale) * 2))
                .unwrap_or(u64::MAX)
        };
        Edit {
            skip: to_frames(self.media_time, self.media_scale),
            keep: (self.duration > 0).then(|| to_frames(self.duration, self.movie_scale)),
        }
    }
}

/// Reads the edit list of the first sound track; None when there is none or it is unusable.
pub(crate) fn read_edit(file: &mut File) -> Option<EditList> {
    let moov = read_moov(file)?;
    let movie_scale = timescale(child(&moov, b"mvhd")?)?;
    for trak in children(&moov)
        .filter(|(t, _)| t == b"trak")
        .map(|(_, b)| b)
    {
        let mdia = child(trak, b"mdia")?;
        let hdlr = full_box_body(child(mdia, b"hdlr")?);
        if hdlr.get(4..8) != Some(b"soun".as_slice()) {
            continue;
        }
        let media_scale = timescale(child(mdia, b"mdhd")?)?;
        let elst = child(child(trak, b"edts")?, b"elst")?;
        return parse_elst(elst, movie_scale, media_scale);
    }
    None
}

/// Takes the one edit that plays media at normal speed; empty edits (media_time -1) only delay.
fn parse_elst(elst: &[u8], movie_scale: u64, media_scale: u64) -> Option<EditList> {
    let version = *elst.first()?;
    let body = full_box_body(elst);
    let count = be_u32(body, 0)? as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    let mut edits = (0..count).filter_map(|i| {
        let e = body.get(4 + i * entry_len..4 + (i + 1) * entry_len)?;
        let (dur, time) = if version == 1 {
            (be_u64(e, 0)?, be_u64(e, 8)? as i64)
        } else {
            (u64::from(be_u32(e, 0)?), i64::from(be_u32(e, 4)? as i32))
        };
        (time >= 0).then_some((dur, time as u64))
    });
    let (duration, media_time) = edits.next()?;
    if edits.next().is_some() || movie_scale == 0 || media_scale == 0 {
        return None;
    }
    Some(EditList {
        media_time,
        media_scale,
        duration,
        movie_scale,
    })
}

fn read_moov(file: &mut File) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 16];
        file.read_exact(&mut h[..8]).ok()?;
        let mut size = u64::from(be_u32(&h, 0)?);
        let mut header = 8;
        if size == 1 {
            file.read_exact(&mut h[8..]).ok()?;
            size = be_u64(&h, 8)?;
            header = 16;
        } else if size == 0 {
            size = len - pos;
        }
        if size < header {
            return None;
        }
        if &h[4..8] == b"moov" {
            let body = size - header;
            if body > MAX_MOOV {
                return None;
            }
            let mut moov = vec![0u8; body as usize];
            file.read_exact(&mut moov).ok()?;
            return Some(moov);
        }
        pos += size;
    }
    None
}

/// The boxes directly inside `data`, as (type, body).
fn children(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let size = be_u32(rest, 0)? as usize;
        let typ: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            1 => (16, usize::try_from(be_u64(rest, 8)?).ok()?),
            0 => (8, rest.len()),
            n => (8, n),
        };
        let body = rest.get(header..size)?;
        rest = &rest[size..];
        Some((typ, body))
    })
}

fn child<'a>(data: &'a [u8], want: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(t, _)| t == want).map(|(_, b)| b)
}

/// Skips the version and flags of a full box.
fn full_box_body(b: &[u8]) -> &[u8] {
    b.get(4..).unwrap_or_default()
}

/// The timescale of an mvhd or mdhd box, whose position depends on the box version.
fn timescale(full_box: &[u8]) -> Option<u64> {
    let at = if *full_box.first()? == 1 { 16 } else { 8 };
    be_u32(full_box_body(full_box), at).map(u64::from)
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elst(version: u8, entries: &[(u64, i64)]) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for &(dur, time) in entries {
            if version == 1 {
                b.extend_from_slice(&dur.to_be_bytes());
                b.extend_from_slice(&time.to_be_bytes());
            } else {
                b.extend_from_slice(&(dur as u32).to_be_bytes());
                b.extend_from_slice(&(time as i32).to_be_bytes());
            }
            b.extend_from_slice(&[0, 1, 0, 0]);
        }
        b
    }

    #[test]
    fn edit_lists() {
        // ffmpeg's AAC: 1024 frames of priming, 63.615 s kept (movie timescale 1000).
        let e = parse_elst(&elst(0, &[(63_615, 1024)]), 1000, 48_000).unwrap();
        assert_eq!(
            e.at_rate(48_000),
            Edit {
                skip: 1024,
                keep: Some(3_053_520)
            }
        );
        let e = parse_elst(&elst(1, &[(0, 2112)]), 1000, 44_100).unwrap();
        assert_eq!(
            e.at_rate(44_100),
            Edit {
                skip: 2112,
                keep: None
            }
        );
        // A leading empty edit only delays presentation.
        let e = parse_elst(&elst(0, &[(500, -1), (1000, 0)]), 1000, 48_000).unwrap();
        assert_eq!(e.at_rate(48_000).skip, 0);
        assert_eq!(
            parse_elst(&elst(0, &[(10, 0), (10, 100)]), 1000, 48_000),
            None
        );
        assert_eq!(parse_elst(&[0, 0, 0, 0, 0, 0, 0, 9], 1000, 48_000), None);
    }

    #[test]
    fn box_walk() {
        let mut data = Vec::new();
        data.extend_from_slice(&12u32.to_be_bytes());
        data.extend_from_slice(b"free1234");
        data.extend_from_slice(&9u32.to_be_bytes());
        data.extend_from_slice(b"mvhdX");
        assert_eq!(child(&data, b"mvhd"), Some(&b"X"[..]));
        assert_eq!(children(&data).count(), 2);
        // A size running past the end stops the walk instead of panicking.
        data.extend_from_slice(&99u32.to_be_bytes());
        data.extend_from_slice(b"trak");
        assert_eq!(children(&data).count(), 2);
    }
}
