//! Container detection from magic bytes, so file names and client-declared types never decide.

/// The containers this crate accepts. `Ogg` covers both Vorbis and Opus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Wav,
    Mp3,
    Mp4,
    Ogg,
    Flac,
}

impl Container {
    /// File extension symphonia's probe understands, used only as a hint.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Mp3 => "mp3",
            Container::Mp4 => "m4a",
            Container::Ogg => "ogg",
            Container::Flac => "flac",
        }
    }
}

/// How many leading bytes `sniff` ever looks at.
pub const SNIFF_LEN: usize = 64;

/// Recognizes a container from the first bytes of a file (at most [`SNIFF_LEN`] are read).
pub fn sniff(head: &[u8]) -> Option<Container> {
    let head = &head[..head.len().min(SNIFF_LEN)];
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return Some(Container::Wav);
    }
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Some(Container::Mp4);
    }
    if head.starts_with(b"OggS") {
        return Some(Container::Ogg);
    }
    if head.starts_with(b"fLaC") {
        return Some(Container::Flac);
    }
    // An ID3v2 tag is followed by the MPEG stream; a valid version byte keeps plain text out.
    if head.len() >= 10 && head.starts_with(b"ID3") && head[3] < 0xFF && head[4] < 0xFF {
        return Some(Container::Mp3);
    }
    if is_mpeg_audio_header(head) {
        return Some(Container::Mp3);
    }
    None
}

/// True when `head` starts with an MPEG-1/2/2.5 Layer I-III frame header with no reserved field.
/// ADTS (AAC) shares the sync word but has layer bits 00, so it is not taken for MP3.
fn is_mpeg_audio_header(head: &[u8]) -> bool {
    let [b0, b1, b2, ..] = *head else {
        return false;
    };
    let version = (b1 >> 3) & 0b11;
    let layer = (b1 >> 1) & 0b11;
    let bitrate = b2 >> 4;
    let rate = (b2 >> 2) & 0b11;
    b0 == 0xFF
        && b1 & 0xE0 == 0xE0
        && version != 0b01
        && layer != 0
        && bitrate != 0xF
        && rate != 0b11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), Some(Container::Wav));
        assert_eq!(sniff(b"RIFF\x24\0\0\0AVI LIST"), None);
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0\0\0\0"), Some(Container::Mp4));
        assert_eq!(sniff(b"OggS\0\x02"), Some(Container::Ogg));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Some(Container::Flac));
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\0\x21"), Some(Container::Mp3));
        // MPEG-1 Layer III, 128 kbps, 44.1 kHz.
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Some(Container::Mp3));
    }

    #[test]
    fn rejects_lookalikes() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), None);
        assert_eq!(sniff(b"hello, this is a text file\n"), None);
        // ADTS AAC: sync word with layer 00.
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), None);
        // Reserved bitrate index.
        assert_eq!(sniff(&[0xFF, 0xFB, 0xF0, 0x64]), None);
        // Reserved sample-rate index.
        assert_eq!(sniff(&[0xFF, 0xFB, 0x9C, 0x64]), None);
        assert_eq!(sniff(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn looks_at_most_64_bytes() {
        let mut head = vec![0u8; 200];
        head[100..104].copy_from_slice(b"OggS");
        assert_eq!(sniff(&head), None);
    }
}
