//! The HMAC-SHA256 key behind signed URLs and stream tickets (`server.url_signing_secret`).
//! Every use names a purpose that is signed with the message, so a tag made for one kind of
//! token never verifies as another.
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct SigningKey {
    key: Vec<u8>,
}

impl SigningKey {
    /// The configured secret, or else one random key shared by every `App` of this process
    /// (generated, and warned about, once): tokens it signs die with the process and are not
    /// accepted by other instances.
    pub fn from_secret(secret: Option<&SecretString>) -> SigningKey {
        if let Some(secret) = secret {
            return SigningKey::new(secret.expose_secret().as_bytes());
        }
        static PROCESS_KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let key = PROCESS_KEY.get_or_init(|| {
            tracing::warn!(
                "server.url_signing_secret is not set: stream tickets and signed URLs use a random \
                 key of this process, so they stop working on restart and on other instances"
            );
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            key
        });
        SigningKey::new(key)
    }

    pub fn new(key: &[u8]) -> SigningKey {
        SigningKey { key: key.to_vec() }
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        // The purpose cannot contain the separator, so (purpose, message) pairs never collide.
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(message);
        mac
    }

    /// The tag of `message` for `purpose`.
    pub fn sign(&self, purpose: &str, message: &[u8]) -> Vec<u8> {
        self.mac(purpose, message).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is the tag of `message` for `purpose`, compared in constant time.
    pub fn verify(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        self.mac(purpose, message).verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_bound_to_key_purpose_and_message() {
        let key = SigningKey::new(b"0123456789abcdef0123456789abcdef");
        let tag = key.sign("ticket", b"hello");
        assert!(key.verify("ticket", b"hello", &tag));
        assert!(!key.verify("media", b"hello", &tag));
        assert!(!key.verify("ticket", b"hellO", &tag));
        assert!(!key.verify("ticket", b"hello", &tag[1..]));
        let other = SigningKey::new(b"another key another key another!");
        assert!(!other.verify("ticket", b"hello", &tag));
    }

    #[test]
    fn without_a_secret_every_app_of_the_process_shares_one_key() {
        let a = SigningKey::from_secret(None);
        let b = SigningKey::from_secret(None);
        assert!(b.verify("p", b"m", &a.sign("p", b"m")));
    }
}
