//! Backup encryption: XChaCha20-Poly1305 over 64 KiB chunks (the STREAM construction). Each
//! chunk's nonce is a random per-file prefix, the chunk counter and a last-chunk flag, so
//! chunks cannot be reordered, dropped or truncated without the tag check failing.
//!
//! File layout: `MINUTES-BACKUP-XC1\n`, the 19-byte nonce prefix, then chunks of
//! (ciphertext ‖ 16-byte tag); every chunk but the last holds exactly `CHUNK` plaintext bytes.
use std::io::{self, Read, Write};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const MAGIC: &[u8] = b"MINUTES-BACKUP-XC1\n";
const PREFIX: usize = 19;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// A 32-byte key from the key file or environment (64 hex characters or base64).
#[derive(Clone)]
pub struct BackupKey([u8; 32]);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(…)")
    }
}

impl BackupKey {
    pub fn parse(text: &str) -> Result<BackupKey, String> {
        use base64::Engine;
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or("the backup key is neither hex nor base64")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the backup key must be 32 bytes (64 hex characters)")?;
        Ok(BackupKey(key))
    }

    pub fn generate() -> BackupKey {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        BackupKey(key)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }
}

fn nonce(prefix: &[u8; PREFIX], counter: u32, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[..PREFIX].copy_from_slice(prefix);
    n[PREFIX..PREFIX + 4].copy_from_slice(&counter.to_be_bytes());
    n[23] = last as u8;
    n.into()
}

/// Seals chunks in order; `finish` writes the last one (possibly empty).
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    prefix: [u8; PREFIX],
    counter: u32,
    pending: Vec<u8>,
}

impl Sealer {
    /// A sealer and the header to write before its chunks.
    pub fn new(key: &BackupKey) -> (Sealer, Vec<u8>) {
        let mut prefix = [0u8; PREFIX];
        rand::thread_rng().fill_bytes(&mut prefix);
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        (
            Sealer {
                cipher: key.cipher(),
                prefix,
                counter: 0,
                pending: Vec::with_capacity(CHUNK),
            },
            header,
        )
    }

    /// Takes plaintext; returns the sealed chunks now complete.
    pub fn update(&mut self, mut data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let take = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A full chunk is sealed only once more data follows: the last chunk is flagged.
            if self.pending.len() == CHUNK && !data.is_empty() {
                out.extend(self.seal(false)?);
            }
        }
        Ok(out)
    }

    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.seal(true)
    }

    fn seal(&mut self, last: bool) -> io::Result<Vec<u8>> {
        let n = nonce(&self.prefix, self.counter, last);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("backup file too large to encrypt"))?;
        let sealed = self
            .cipher
            .encrypt(
                &n,
                Payload {
                    msg: &self.pending,
                    aad: MAGIC,
                },
            )
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.pending.clear();
        Ok(sealed)
    }
}

/// A `Write` that encrypts into `inner`; call `finish`.
pub struct EncryptWriter<W: Write> {
    inner: W,
    sealer: Option<Sealer>,
}

impl<W: Write> EncryptWriter<W> {
    pub fn new(mut inner: W, key: &BackupKey) -> io::Result<EncryptWriter<W>> {
        let (sealer, header) = Sealer::new(key);
        inner.write_all(&header)?;
        Ok(EncryptWriter {
            inner,
            sealer: Some(sealer),
        })
    }

    pub fn finish(mut self) -> io::Result<W> {
        let sealer = self.sealer.take().expect("finish once");
        self.inner.write_all(&sealer.finish()?)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sealer = self.sealer.as_mut().expect("not finished");
        let out = sealer.update(buf)?;
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens chunks as bytes arrive (for streams): `update` returns plaintext, `finish` fails
/// unless the flagged last chunk was seen.
pub struct Opener {
    cipher: XChaCha20Poly1305,
    prefix: Option<[u8; PREFIX]>,
    counter: u32,
    buf: Vec<u8>,
    done: bool,
}

fn damaged() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the backup does not decrypt: a wrong key, or the file is damaged or truncated",
    )
}

impl Opener {
    pub fn new(key: &BackupKey) -> Opener {
        Opener {
            cipher: key.cipher(),
            prefix: None,
            counter: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    pub fn update(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        if self.done && !data.is_empty() {
            return Err(damaged());
        }
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        if self.prefix.is_none() {
            if self.buf.len() < MAGIC.len() + PREFIX {
                return Ok(out);
            }
            if &self.buf[..MAGIC.len()] != MAGIC {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an encrypted minutes backup",
                ));
            }
            let mut p = [0u8; PREFIX];
            p.copy_from_slice(&self.buf[MAGIC.len()..MAGIC.len() + PREFIX]);
            self.prefix = Some(p);
            self.buf.drain(..MAGIC.len() + PREFIX);
        }
        // Keep one full sealed chunk back: only the end of input tells it is the last.
        while self.buf.len() > CHUNK + TAG {
            let chunk: Vec<u8> = self.buf.drain(..CHUNK + TAG).collect();
            out.extend(self.open(&chunk, false)?);
        }
        Ok(out)
    }

    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        if self.prefix.is_none() {
            return Err(damaged());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.open(&chunk, true)
    }

    fn open(&mut self, chunk: &[u8], last: bool) -> io::Result<Vec<u8>> {
        let prefix = self.prefix.ok_or_else(damaged)?;
        let plain = self
            .cipher
            .decrypt(
                &nonce(&prefix, self.counter, last),
                Payload {
                    msg: chunk,
                    aad: MAGIC,
                },
            )
            .map_err(|_| damaged())?;
        self.counter += 1;
        self.done = last;
        Ok(plain)
    }
}

/// A `Read` that decrypts `inner`.
pub struct DecryptReader<R: Read> {
    inner: R,
    opener: Option<Opener>,
    out: Vec<u8>,
    at: usize,
}

impl<R: Read> DecryptReader<R> {
    pub fn new(inner: R, key: &BackupKey) -> DecryptReader<R> {
        DecryptReader {
            inner,
            opener: Some(Opener::new(key)),
            out: Vec::new(),
            at: 0,
        }
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.out.len() {
            let Some(opener) = self.opener.as_mut() else {
                return Ok(0);
            };
            let mut raw = vec![0u8; CHUNK];
            let n = self.inner.read(&mut raw)?;
            self.out = if n == 0 {
                self.opener.take().expect("present").finish()?
            } else {
                opener.update(&raw[..n])?
            };
            self.at = 0;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(key: &BackupKey, data: &[u8]) -> Vec<u8> {
        let mut w = EncryptWriter::new(Vec::new(), key).unwrap();
        // Odd write sizes cross chunk boundaries.
        for part in data.chunks(7_777) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn decrypt(key: &BackupKey, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        DecryptReader::new(data, key).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_every_size_around_the_chunk_boundary() {
        let key = BackupKey::generate();
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sealed = encrypt(&key, &data);
            assert_eq!(decrypt(&key, &sealed).unwrap(), data, "size {size}");
        }
    }

    #[test]
    fn truncation_tampering_and_wrong_keys_are_refused() {
        let key = BackupKey::generate();
        let data: Vec<u8> = (0..3 * CHUNK + 10).map(|i| i as u8).collect();
        let sealed = encrypt(&key, &data);
        // Cut exactly at a chunk boundary: without the last-chunk flag it does not open.
        let header = MAGIC.len() + PREFIX;
        let cut = &sealed[..header + 2 * (CHUNK + TAG)];
        assert!(decrypt(&key, cut).is_err());
        let mut flipped = sealed.clone();
        flipped[header + 10] ^= 1;
        assert!(decrypt(&key, &flipped).is_err());
        assert!(decrypt(&BackupKey::generate(), &sealed).is_err());
        assert!(decrypt(&key, b"plain zstd bytes, not encrypted at all").is_err());
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_must_be_32_bytes() {
        let key = BackupKey::generate();
        assert_eq!(BackupKey::parse(&key.to_hex()).unwrap().0, key.0);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0);
        assert_eq!(BackupKey::parse(&b64).unwrap().0, key.0);
        assert!(BackupKey::parse("abcd").is_err());
        assert!(format!("{key:?}").find(&key.to_hex()).is_none());
    }
}
