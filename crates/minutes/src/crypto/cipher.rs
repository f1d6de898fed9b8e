//! `FieldCipher`: XChaCha20-Poly1305 over single field values, as self-describing strings.
//!
//! A sealed value is `enc1:<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>` (24-byte random nonce,
//! 16-byte tag, no padding). The associated data binds it to its field: the format version, the
//! key id, `table.column`, the row id and the JSON path, so a value copied into another field,
//! row or key id no longer opens. A value without the prefix is legacy plaintext and reads as is.
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::XNonce;
use rand::RngCore;

use super::keyring::Keyring;

/// Marks a sealed value (format version 1).
pub const PREFIX: &str = "enc1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{column}: a value is sealed with key `{kid}`, which is not configured")]
    UnknownKey { column: String, kid: String },
    #[error("{column}: a sealed value is malformed")]
    Malformed { column: String },
    #[error(
        "{column}: a sealed value failed authentication (altered, or copied from another field)"
    )]
    Unauthentic { column: String },
    #[error("no field-encryption key is configured")]
    NoKey,
}

/// Where a value lives: `table.column`, the row's id and the JSON path inside the column
/// (empty for a plain text column).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub column: &'a str,
    pub row: &'a str,
    pub path: &'a str,
}

impl Field<'_> {
    fn aad(&self, kid: &str) -> Vec<u8> {
        ["minutes-field-v1", kid, self.column, self.row, self.path]
            .join("\0")
            .into_bytes()
    }
}

/// What `reseal` did to one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resealed {
    /// Already sealed with the active key: left as it is.
    Current,
    /// Was sealed with another key; here it is under the active one.
    Rotated(String),
    /// Was legacy plaintext; here it is sealed.
    Encrypted(String),
}

/// Seals and opens field values with a keyring. Without one (`plaintext()`, a store connected
/// outside `App::build`) values are written as they are; sealed values then cannot be read.
#[derive(Debug, Clone, Default)]
pub struct FieldCipher {
    keyring: Option<Arc<Keyring>>,
}

impl FieldCipher {
    pub fn new(keyring: Keyring) -> FieldCipher {
        FieldCipher {
            keyring: Some(Arc::new(keyring)),
        }
    }

    pub fn plaintext() -> FieldCipher {
        FieldCipher::default()
    }

    pub fn is_enabled(&self) -> bool {
        self.keyring.is_some()
    }

    pub fn active_kid(&self) -> Option<&str> {
        self.keyring.as_deref().map(Keyring::active_kid)
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Seals `plaintext` for `field` with the active key (plaintext mode: returns it unchanged).
    pub fn seal(&self, field: Field<'_>, plaintext: &str) -> Result<String, CryptoError> {
        let Some(ring) = self.keyring.as_deref() else {
            return Ok(plaintext.to_string());
        };
        let kid = ring.active_kid();
        let cipher = ring.cipher(kid).ok_or(CryptoError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = field.aad(kid);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            // Only inputs near 256 GiB can fail; a field value never is one.
            .map_err(|_| CryptoError::Malformed {
                column: field.column.to_string(),
            })?;
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{kid}:{}", URL_SAFE_NO_PAD.encode(body)))
    }

    /// The plaintext of a stored value: sealed values are opened with their key, legacy
    /// plaintext (no `enc1:` prefix) is returned as it is.
    pub fn open(&self, field: Field<'_>, stored: &str) -> Result<String, CryptoError> {
        let Some((kid, body)) = split_sealed(stored) else {
            return Ok(stored.to_string());
        };
        let malformed = || CryptoError::Malformed {
            column: field.column.to_string(),
        };
        let cipher = self
            .keyring
            .as_deref()
            .and_then(|r| r.cipher(kid))
            .ok_or_else(|| CryptoError::UnknownKey {
                column: field.column.to_string(),
                kid: kid.to_string(),
            })?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed())?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed());
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let aad = field.aad(kid);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Unauthentic {
                column: field.column.to_string(),
            })?;
        String::from_utf8(plain).map_err(|_| malformed())
    }

    /// Brings one stored value under the active key (rotation and legacy encryption).
    pub fn reseal(&self, field: Field<'_>, stored: &str) -> Result<Resealed, CryptoError> {
        let active = self.active_kid().ok_or(CryptoError::NoKey)?;
        match sealed_kid(stored) {
            Some(kid) if kid == active => Ok(Resealed::Current),
            Some(_) => Ok(Resealed::Rotated(
                self.seal(field, &self.open(field, stored)?)?,
            )),
            None => Ok(Resealed::Encrypted(self.seal(field, stored)?)),
        }
    }
}

/// The key id of a sealed value; `None` for plaintext.
pub fn sealed_kid(stored: &str) -> Option<&str> {
    split_sealed(stored).map(|(kid, _)| kid)
}

fn split_sealed(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::super::keyring::{parse_entries, KeyEntry};
    use super::*;

    const NAME: Field<'static> = Field {
        column: "speaker_mappings.mapping",
        row: "task_1",
        path: "/Speaker 1/name",
    };

    fn cipher(kids: &[&str], active: Option<&str>) -> FieldCipher {
        let entries = kids
            .iter()
            .map(|k| KeyEntry::new(k, [k.as_bytes()[k.len() - 1]; 32]).unwrap())
            .collect();
        FieldCipher::new(Keyring::new(entries, active).unwrap())
    }

    #[test]
    fn round_trip_hides_the_value_and_names_the_key() {
        let c = cipher(&["k1"], None);
        let sealed = c.seal(NAME, "陈静 Chen Jing").unwrap();
        assert!(sealed.starts_with("enc1:k1:"), "{sealed}");
        assert!(!sealed.contains("Chen") && !sealed.contains("陈"));
        assert_eq!(sealed_kid(&sealed), Some("k1"));
        assert_eq!(c.open(NAME, &sealed).unwrap(), "陈静 Chen Jing");
        // A fresh nonce every time: equal names do not look equal.
        assert_ne!(c.seal(NAME, "陈静 Chen Jing").unwrap(), sealed);
        assert_eq!(c.open(NAME, &c.seal(NAME, "").unwrap()).unwrap(), "");
    }

    #[test]
    fn an_unknown_key_id_is_an_error_naming_the_id() {
        let sealed = cipher(&["k1"], None).seal(NAME, "Ann").unwrap();
        let err = cipher(&["k2"], None).open(NAME, &sealed).unwrap_err();
        assert_eq!(
            err,
            CryptoError::UnknownKey {
                column: NAME.column.into(),
                kid: "k1".into()
            }
        );
        // Same id, different key material: authentication fails.
        let other = FieldCipher::new(
            Keyring::new(vec![KeyEntry::new("k1", [9; 32]).unwrap()], None).unwrap(),
        );
        assert!(matches!(
            other.open(NAME, &sealed),
            Err(CryptoError::Unauthentic { .. })
        ));
        assert!(matches!(
            FieldCipher::plaintext().open(NAME, &sealed),
            Err(CryptoError::UnknownKey { .. })
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let c = cipher(&["k1"], None);
        let sealed = c.seal(NAME, "Ann").unwrap();
        let body = sealed.rsplit(':').next().unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = format!("enc1:k1:{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert!(matches!(
            c.open(NAME, &flipped),
            Err(CryptoError::Unauthentic { .. })
        ));
        // Pointing the value at another key id fails even when that key has the same bytes:
        // the key id is part of the associated data.
        let c2 = FieldCipher::new(
            Keyring::new(
                vec![
                    KeyEntry::new("k1", [b'1'; 32]).unwrap(),
                    KeyEntry::new("k2", [b'1'; 32]).unwrap(),
                ],
                None,
            )
            .unwrap(),
        );
        let relabeled = sealed.replacen("enc1:k1:", "enc1:k2:", 1);
        assert!(matches!(
            c2.open(NAME, &relabeled),
            Err(CryptoError::Unauthentic { .. })
        ));
        for bad in ["enc1:k1:", "enc1:k1:!!!", "enc1:k1:AAAA"] {
            assert!(
                matches!(c.open(NAME, bad), Err(CryptoError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_value_opens_only_in_the_field_it_was_sealed_for() {
        let c = cipher(&["k1"], None);
        let sealed = c.seal(NAME, "Ann").unwrap();
        for moved in [
            Field {
                column: "tasks.confirmed_by_name",
                ..NAME
            },
            Field {
                row: "task_2",
                ..NAME
            },
            Field {
                path: "/Speaker 2/name",
                ..NAME
            },
        ] {
            assert!(
                matches!(c.open(moved, &sealed), Err(CryptoError::Unauthentic { .. })),
                "{moved:?}"
            );
        }
    }

    #[test]
    fn legacy_plaintext_reads_as_is_and_plaintext_mode_writes_as_is() {
        let c = cipher(&["k1"], None);
        assert_eq!(c.open(NAME, "Speaker 1").unwrap(), "Speaker 1");
        assert_eq!(
            c.open(NAME, "enc1-like but not").unwrap(),
            "enc1-like but not"
        );
        let plain = FieldCipher::plaintext();
        assert!(!plain.is_enabled());
        assert_eq!(plain.seal(NAME, "Ann").unwrap(), "Ann");
        assert_eq!(plain.open(NAME, "Ann").unwrap(), "Ann");
        assert_eq!(plain.reseal(NAME, "Ann"), Err(CryptoError::NoKey));
    }

    #[test]
    fn reseal_moves_old_and_plain_values_to_the_active_key() {
        let old = cipher(&["k1"], None);
        let both = cipher(&["k1", "k2"], None);
        assert_eq!(both.active_kid(), Some("k2"));
        let v1 = old.seal(NAME, "Ann").unwrap();
        let Resealed::Rotated(v2) = both.reseal(NAME, &v1).unwrap() else {
            panic!("expected a rotation")
        };
        assert_eq!(sealed_kid(&v2), Some("k2"));
        assert_eq!(both.reseal(NAME, &v2).unwrap(), Resealed::Current);
        let Resealed::Encrypted(v3) = both.reseal(NAME, "Bob").unwrap() else {
            panic!("expected encryption")
        };
        // With the old key removed, the rotated values still open.
        let only_new = FieldCipher::new(
            Keyring::new(
                parse_entries(&format!("k2:{}", base64_key(b'2')), "t").unwrap(),
                None,
            )
            .unwrap(),
        );
        assert_eq!(only_new.open(NAME, &v2).unwrap(), "Ann");
        assert_eq!(only_new.open(NAME, &v3).unwrap(), "Bob");
        assert!(only_new.open(NAME, &v1).is_err());
    }

    fn base64_key(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }
}
