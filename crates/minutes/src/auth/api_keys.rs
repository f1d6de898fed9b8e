//! API keys for service clients: `mk_<key id>_<secret>`. The key id is public (it finds the
//! row); only a SHA-256 of the whole key is stored, compared in constant time.
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "mk_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

/// The scopes a key may carry: `read` for safe methods, `write` for everything else.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// A freshly generated key: `token` is shown to the client once, `hash` is stored.
pub struct NewKey {
    pub id: String,
    pub token: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    // 256 bits of secret from the OS generator: guessing is hopeless, so no per-key salt or
    // slow hash is needed — SHA-256 keeps verification cheap on every request.
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let token = format!("{PREFIX}{id}_{}", hex::encode(secret));
    NewKey {
        id: format!("ak_{id}"),
        hash: hash(&token),
        token,
    }
}

/// The key id (`ak_…`) of a well-formed key; `None` for anything else, before any lookup.
pub fn key_id(token: &str) -> Option<String> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then(|| format!("ak_{id}"))
}

/// What the key list shows instead of the secret: `mk_<key id>_…`.
pub fn display_prefix(key_id: &str) -> String {
    format!("{PREFIX}{}_…", key_id.trim_start_matches("ak_"))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored_hash`, in time independent of where they differ.
pub fn matches(token: &str, stored_hash: &str) -> bool {
    let computed = hash(token);
    let (a, b) = (computed.as_bytes(), stored_hash.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `scopes` allow a request with `method`.
pub fn allows(scopes: &[String], method: &axum::http::Method) -> bool {
    let needed = if method.is_safe() { "read" } else { "write" };
    scopes.iter().any(|s| s == needed)
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    #[test]
    fn keys_round_trip_and_malformed_ones_are_rejected_early() {
        let k = generate();
        assert!(k.token.starts_with("mk_"));
        assert_eq!(key_id(&k.token).as_deref(), Some(k.id.as_str()));
        assert!(matches(&k.token, &k.hash));
        let mut tampered = k.token.clone();
        tampered.pop();
        tampered.push(if k.token.ends_with('0') { '1' } else { '0' });
        assert!(!matches(&tampered, &k.hash));
        assert!(!matches(&k.token, "short"));
        for bad in [
            "",
            "mk_",
            "mk_abc_def",
            "xk_0123456789abcdef_00",
            &k.token[1..],
        ] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
        assert_ne!(generate().token, k.token);
        assert!(display_prefix(&k.id).starts_with("mk_"));
    }

    #[test]
    fn read_scope_allows_only_safe_methods() {
        let read = vec!["read".to_string()];
        let write = vec!["read".to_string(), "write".to_string()];
        assert!(allows(&read, &Method::GET));
        assert!(!allows(&read, &Method::POST));
        assert!(!allows(&read, &Method::DELETE));
        assert!(allows(&write, &Method::PATCH));
    }
}
