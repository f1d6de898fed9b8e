//! A minimal Ogg page reader: yields the packets of one logical stream with page timing.

use std::io::{self, BufRead, Read};

use crate::AudioError;

const HEADER_LEN: usize = 27;
const FLAG_CONTINUED: u8 = 0x01;
const FLAG_EOS: u8 = 0x04;
/// Packets larger than this are not audio a sane encoder produces; refuse rather than buffer.
const MAX_PACKET: usize = 1 << 20;

/// One complete packet and what the page that completed it says.
pub(crate) struct Packet<'a> {
    pub data: &'a [u8],
    /// Granule position of the page on which this packet ends: the sample count at the end of
    /// that page's last packet (None when the page has none).
    pub granule: Option<u64>,
    /// The packet ends on the stream's last page.
    pub last_page: bool,
}

pub(crate) struct OggReader<R> {
    r: R,
    /// Serial of the followed stream, set by the first page read.
    serial: Option<u32>,
    page: Vec<u8>,
    lacing: Vec<u8>,
    seg: usize,
    offset: usize,
    granule: Option<u64>,
    eos: bool,
    packet: Vec<u8>,
    done: bool,
}

impl<R: BufRead> OggReader<R> {
    pub(crate) fn new(r: R) -> Self {
        OggReader {
            r,
            serial: None,
            page: Vec::new(),
            lacing: Vec::new(),
            seg: 0,
            offset: 0,
            granule: None,
            eos: false,
            packet: Vec::new(),
            done: false,
        }
    }

    /// The next packet of the stream, or None at its end (a truncated final page also ends it).
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet<'_>>, AudioError> {
        self.packet.clear();
        loop {
            while self.seg < self.lacing.len() {
                let len = usize::from(self.lacing[self.seg]);
                self.seg += 1;
                let end = self.offset + len;
                self.packet.extend_from_slice(&self.page[self.offset..end]);
                self.offset = end;
                if self.packet.len() > MAX_PACKET {
                    return Err(AudioError::corrupt("Ogg packet too large"));
                }
                // A lacing value below 255 closes the packet.
                if len < 255 {
                    return Ok(Some(Packet {
                        data: &self.packet,
                        granule: self.granule,
                        last_page: self.eos,
                    }));
                }
            }
            if self.done || !self.read_page()? {
                return Ok(None);
            }
        }
    }

    /// Loads the next page of the followed stream; false at the end of the stream or file.
    fn read_page(&mut self) -> Result<bool, AudioError> {
        loop {
            if self.eos {
                self.done = true;
                return Ok(false);
            }
            let mut h = [0u8; HEADER_LEN];
            if !read_full(&mut self.r, &mut h)? {
                return Ok(false);
            }
            if &h[0..4] != b"OggS" || h[4] != 0 {
                return Err(AudioError::corrupt("lost Ogg page sync"));
            }
            let flags = h[5];
            let granule = u64::from_le_bytes([h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]]);
            let serial = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
            self.lacing.resize(usize::from(h[26]), 0);
            if !read_full(&mut self.r, &mut self.lacing)? {
                return Ok(false);
            }
            let body: usize = self.lacing.iter().map(|&l| usize::from(l)).sum();
            self.page.resize(body, 0);
            if !read_full(&mut self.r, &mut self.page)? {
                return Ok(false);
            }
            if *self.serial.get_or_insert(serial) != serial {
                continue; // another multiplexed stream
            }
            self.seg = 0;
            self.offset = 0;
            // -1 marks a page on which no packet ends.
            self.granule = (granule != u64::MAX).then_some(granule);
            self.eos = flags & FLAG_EOS != 0;
            if flags & FLAG_CONTINUED == 0 {
                self.packet.clear();
            }
            return Ok(true);
        }
    }
}

/// Fills `buf`; false if the input ended first (a truncated page counts as the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool, AudioError> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The granule position of the last page in `tail` (the end of a file), if any page header is there.
pub(crate) fn last_granule(tail: &[u8]) -> Option<u64> {
    let pos = tail.windows(4).rposition(|w| w == b"OggS")?;
    let h = tail.get(pos..pos + HEADER_LEN)?;
    let g = u64::from_le_bytes([h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]]);
    (g != u64::MAX).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(flags: u8, granule: u64, serial: u32, segments: &[u8], body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0; 8]); // sequence, crc
        p.push(segments.len() as u8);
        p.extend_from_slice(segments);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn packets_across_pages() {
        let mut file = page(0x02, 0, 7, &[3], b"abc");
        // A 300-byte packet split over two pages, and a packet from another stream in between.
        file.extend(page(0, u64::MAX, 7, &[255], &[1u8; 255]));
        file.extend(page(0x02, 0, 9, &[1], b"z"));
        file.extend(page(
            FLAG_CONTINUED | FLAG_EOS,
            960,
            7,
            &[45, 2],
            &[[2u8; 45].as_slice(), b"hi"].concat(),
        ));
        let mut r = OggReader::new(&file[..]);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.data, p.granule, p.last_page),
            (&b"abc"[..], Some(0), false)
        );
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.data.len(), 300);
        assert_eq!((p.granule, p.last_page), (Some(960), true));
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.data, p.granule), (&b"hi"[..], Some(960)));
        assert!(r.next_packet().unwrap().is_none());
        assert_eq!(last_granule(&file), Some(960));
    }

    #[test]
    fn truncation_ends_the_stream() {
        let file = page(0x02, 0, 7, &[3], b"abc");
        let mut r = OggReader::new(&file[..file.len() - 1]);
        assert!(r.next_packet().unwrap().is_none());
    }
}
