//! Field-encryption keys: several 32-byte keys by id, one of them active (it seals new values).
//!
//! Keys are written as `kid:base64` entries (standard or URL-safe base64 of 32 random bytes),
//! one per line in a key file (`#` starts a comment) or separated by commas, semicolons or
//! whitespace in `MINUTES_FIELD_KEYS`. Key material never appears in errors, logs or `Debug`.
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};

pub const KEY_LEN: usize = 32;
/// Longest key id; ids are `[A-Za-z0-9_-]`, so `enc1:<kid>:` always parses.
pub const MAX_KID_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("{origin}, entry {entry}: {reason}")]
    Parse {
        origin: String,
        entry: usize,
        reason: String,
    },
    #[error("key id `{0}` is given twice with different keys")]
    Conflict(String),
    #[error("the active key `{0}` (encryption.active_key) is not among the configured keys")]
    UnknownActive(String),
    #[error("no field-encryption key is configured")]
    Empty,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One key as read: its id and its 32 bytes (wiped when dropped).
pub struct KeyEntry {
    pub kid: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl KeyEntry {
    pub fn new(kid: &str, key: [u8; KEY_LEN]) -> Result<KeyEntry, String> {
        valid_kid(kid)?;
        Ok(KeyEntry {
            kid: kid.to_string(),
            key: SecretBox::new(Box::new(key)),
        })
    }

    /// A fresh random key.
    pub fn generate(kid: &str) -> Result<KeyEntry, String> {
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        KeyEntry::new(kid, key)
    }

    /// The `kid:base64` line for a key file or `MINUTES_FIELD_KEYS`.
    pub fn to_line(&self) -> String {
        format!("{}:{}", self.kid, STANDARD.encode(self.key.expose_secret()))
    }
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyEntry({}: [redacted])", self.kid)
    }
}

fn valid_kid(kid: &str) -> Result<(), String> {
    if kid.is_empty()
        || kid.len() > MAX_KID_LEN
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "key id `{kid}` must be 1–{MAX_KID_LEN} characters of A-Z a-z 0-9 - _"
        ));
    }
    Ok(())
}

/// Parses `kid:base64` entries. `origin` names the source in errors (a path or the variable).
pub fn parse_entries(text: &str, origin: &str) -> Result<Vec<KeyEntry>, KeyringError> {
    let mut out = Vec::new();
    let tokens = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.split(|c: char| c == ',' || c == ';' || c.is_whitespace()))
        .filter(|t| !t.is_empty());
    for (i, token) in tokens.enumerate() {
        let err = |reason: String| KeyringError::Parse {
            origin: origin.to_string(),
            entry: i + 1,
            reason,
        };
        let (kid, encoded) = token
            .split_once(':')
            .ok_or_else(|| err("expected `kid:base64`".into()))?;
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(encoded).ok())
            .ok_or_else(|| err(format!("the key of `{kid}` is not base64")))?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
            err(format!(
                "the key of `{kid}` is {} bytes; it must be {KEY_LEN}",
                b.len()
            ))
        })?;
        out.push(KeyEntry::new(kid, key).map_err(err)?);
    }
    Ok(out)
}

/// Reads a key file, warning when other users may read it.
pub fn read_key_file(path: &Path) -> Result<Vec<KeyEntry>, KeyringError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the field-encryption key file is readable by other users; chmod 600 it");
            }
        }
    }
    parse_entries(&text, &path.display().to_string())
}

/// Creates `path` (mode 0600, never overwriting) holding one new random key; returns its id.
/// `AlreadyExists` is passed through so a concurrent starter can read the winner's file.
pub fn generate_key_file(path: &Path) -> Result<String, KeyringError> {
    let io = |source| KeyringError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let entry = KeyEntry::generate(&new_kid()).map_err(|e| io(std::io::Error::other(e)))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let text = format!(
        "# minutes field-encryption keys: one `kid:base64` (32 bytes) per line; the last one\n\
         # seals new values unless encryption.active_key names another. Back this file up:\n\
         # without it the encrypted fields cannot be read. See docs/OPERATIONS.md (rotation).\n{}\n",
        entry.to_line()
    );
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(entry.kid.clone())
}

/// A key id for a new key: the date plus a random suffix (`k20260301-9f2c`).
pub fn new_kid() -> String {
    format!(
        "k{}-{:04x}",
        chrono::Utc::now().format("%Y%m%d"),
        rand::random::<u16>()
    )
}

/// The keys by id and which one is active. Every key opens values; only the active one seals.
pub struct Keyring {
    keys: BTreeMap<String, XChaCha20Poly1305>,
    active: String,
}

impl Keyring {
    /// `active` defaults to the last entry. A key id given twice must carry the same key.
    pub fn new(entries: Vec<KeyEntry>, active: Option<&str>) -> Result<Keyring, KeyringError> {
        let last = entries.last().map(|e| e.kid.clone());
        let mut bytes: BTreeMap<String, [u8; KEY_LEN]> = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for e in &entries {
            let key = e.key.expose_secret();
            if let Some(seen) = bytes.get(&e.kid) {
                if seen != key {
                    return Err(KeyringError::Conflict(e.kid.clone()));
                }
                continue;
            }
            bytes.insert(e.kid.clone(), *key);
            keys.insert(
                e.kid.clone(),
                XChaCha20Poly1305::new(Key::from_slice(key.as_slice())),
            );
        }
        // The copies above were only for the duplicate check.
        for b in bytes.values_mut() {
            b.fill(0);
        }
        let active = match active.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) if keys.contains_key(a) => a.to_string(),
            Some(a) => return Err(KeyringError::UnknownActive(a.to_string())),
            None => last.ok_or(KeyringError::Empty)?,
        };
        Ok(Keyring { keys, active })
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub(super) fn cipher(&self, kid: &str) -> Option<&XChaCha20Poly1305> {
        self.keys.get(kid)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kid: &str, byte: u8) -> String {
        format!("{kid}:{}", STANDARD.encode([byte; KEY_LEN]))
    }

    #[test]
    fn entries_parse_from_lines_and_lists_and_the_last_is_active() {
        let text = format!(
            "# comment\n{}\n\n{}, {}  # trailing comment\n",
            line("a", 1),
            line("b", 2),
            line("c", 3)
        );
        let entries = parse_entries(&text, "test").unwrap();
        assert_eq!(
            entries.iter().map(|e| e.kid.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let ring = Keyring::new(entries, None).unwrap();
        assert_eq!(ring.active_kid(), "c");
        let ring = Keyring::new(parse_entries(&text, "t").unwrap(), Some("a")).unwrap();
        assert_eq!(ring.active_kid(), "a");
        assert!(matches!(
            Keyring::new(parse_entries(&text, "t").unwrap(), Some("zz")),
            Err(KeyringError::UnknownActive(_))
        ));
        // URL-safe and unpadded base64 are accepted too.
        let url = format!("u:{}", URL_SAFE_NO_PAD.encode([0xfb; KEY_LEN]));
        assert_eq!(parse_entries(&url, "t").unwrap()[0].kid, "u");
    }

    #[test]
    fn bad_entries_are_refused_without_echoing_key_material() {
        let short = format!("a:{}", STANDARD.encode([7u8; 16]));
        let err = parse_entries(&short, "MINUTES_FIELD_KEYS").unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
        assert!(!err.to_string().contains(&STANDARD.encode([7u8; 16])));
        assert!(parse_entries("nocolon", "t").is_err());
        assert!(parse_entries(&line("bad!", 1), "t").is_err());
        assert!(parse_entries("a:***", "t").is_err());
        let dup = format!("{}\n{}", line("a", 1), line("a", 2));
        assert!(matches!(
            Keyring::new(parse_entries(&dup, "t").unwrap(), None),
            Err(KeyringError::Conflict(_))
        ));
        let same = format!("{}\n{}", line("a", 1), line("a", 1));
        assert!(Keyring::new(parse_entries(&same, "t").unwrap(), None).is_ok());
        assert!(matches!(
            Keyring::new(Vec::new(), None),
            Err(KeyringError::Empty)
        ));
    }

    #[test]
    fn debug_output_names_ids_only() {
        let e = parse_entries(&line("a", 9), "t").unwrap();
        let shown = format!("{e:?}");
        assert!(!shown.contains(&STANDARD.encode([9u8; KEY_LEN])), "{shown}");
        let ring = Keyring::new(e, None).unwrap();
        assert_eq!(
            format!("{ring:?}"),
            "Keyring { kids: [\"a\"], active: \"a\" }"
        );
    }

    #[test]
    fn generated_key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/field-encryption.keys");
        let kid = generate_key_file(&path).unwrap();
        let entries = read_key_file(&path).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].kid, kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = generate_key_file(&path).unwrap_err();
        assert!(
            matches!(&again, KeyringError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
        );
    }
}
