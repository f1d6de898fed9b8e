//! Field-level encryption of personal data (speaker names, voiceprint ids, responsible persons):
//! a keyring of 32-byte keys by id, XChaCha20-Poly1305 sealing into `enc1:<kid>:…` strings,
//! and the map of which stored values are personal. The store seals on write and opens on read.
//! Also the HMAC key of stream tickets and signed URLs (`signing.rs`).
mod cipher;
mod fields;
mod keyring;
mod signing;

use std::path::{Path, PathBuf};

pub use cipher::{sealed_kid, CryptoError, Field, FieldCipher, Resealed, PREFIX};
pub use fields::{Column, ResealCount, CONTENT_PERSONAL_KEYS};
pub use keyring::{
    generate_key_file, new_kid, parse_entries, read_key_file, KeyEntry, Keyring, KeyringError,
};
pub use signing::SigningKey;

/// The environment variable holding `kid:base64` entries.
pub const KEYS_ENV: &str = "MINUTES_FIELD_KEYS";
/// The key file generated in the data directory outside the production profile.
pub const DEFAULT_KEY_FILE: &str = "field-encryption.keys";

/// Where the keys come from (resolved from configuration and the environment by `App`).
#[derive(Debug, Default)]
pub struct KeySources<'a> {
    /// The value of `MINUTES_FIELD_KEYS`.
    pub env: Option<&'a str>,
    /// `encryption.key_file`, when set: it must exist.
    pub file: Option<&'a Path>,
    /// Used (and created once, mode 0600) when neither of the above gives a key; `None` = a
    /// missing key is an error.
    pub generate_at: Option<&'a Path>,
    /// `encryption.active_key`; empty = the last key given.
    pub active: Option<&'a str>,
}

/// How the keyring was found, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Configured,
    /// The default key file, which existed already.
    DefaultFile(PathBuf),
    /// The default key file, created now with this key id.
    Generated {
        path: PathBuf,
        kid: String,
    },
}

/// Loads the keyring: the key file's entries, then `MINUTES_FIELD_KEYS`'s; with neither, the
/// default file (generated when missing, if allowed).
pub fn load_keyring(sources: &KeySources<'_>) -> Result<(Keyring, KeyOrigin), KeyringError> {
    let mut entries = Vec::new();
    if let Some(path) = sources.file {
        entries.extend(read_key_file(path)?);
    }
    if let Some(env) = sources.env {
        entries.extend(parse_entries(env, KEYS_ENV)?);
    }
    let mut origin = KeyOrigin::Configured;
    if entries.is_empty() {
        let path = sources.generate_at.ok_or(KeyringError::Empty)?;
        origin = KeyOrigin::DefaultFile(path.to_path_buf());
        if !path.exists() {
            match generate_key_file(path) {
                Ok(kid) => {
                    origin = KeyOrigin::Generated {
                        path: path.to_path_buf(),
                        kid,
                    }
                }
                // Another process created it first: use theirs.
                Err(KeyringError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        entries = read_key_file(path)?;
    }
    let ring = Keyring::new(entries, sources.active)?;
    Ok((ring, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_file_and_env_or_a_generated_default() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("field-encryption.keys");
        let none = KeySources::default();
        assert!(matches!(load_keyring(&none), Err(KeyringError::Empty)));

        let (ring, origin) = load_keyring(&KeySources {
            generate_at: Some(&default),
            ..Default::default()
        })
        .unwrap();
        let KeyOrigin::Generated { kid, .. } = origin else {
            panic!("expected a generated key, got {origin:?}")
        };
        assert_eq!(ring.active_kid(), kid);
        // The second start reads the same file.
        let (again, origin) = load_keyring(&KeySources {
            generate_at: Some(&default),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(origin, KeyOrigin::DefaultFile(default.clone()));
        assert_eq!(again.active_kid(), kid);

        // Configured keys win over the default file; env entries come after the file's.
        let env = KeyEntry::generate("envkey").unwrap().to_line();
        let (ring, origin) = load_keyring(&KeySources {
            env: Some(&env),
            file: Some(&default),
            generate_at: Some(&default),
            active: None,
        })
        .unwrap();
        assert_eq!(origin, KeyOrigin::Configured);
        assert_eq!(ring.kids().count(), 2);
        assert_eq!(ring.active_kid(), "envkey");

        let missing = dir.path().join("missing.keys");
        assert!(matches!(
            load_keyring(&KeySources {
                file: Some(&missing),
                generate_at: Some(&default),
                ..Default::default()
            }),
            Err(KeyringError::Io { .. })
        ));
    }
}
