//! Dev-login refresh tokens: `mr_<64 hex>`, opaque and random; only a SHA-256 of the token is
//! stored. Each refresh uses its token up and issues the next one of the same family (one
//! family per login), so a token presented twice shows that it was copied.
use rand::RngCore;

pub const PREFIX: &str = "mr_";
const SECRET_HEX: usize = 64;

/// A freshly generated token: `token` goes to the client once, `hash` to the store.
pub struct NewRefreshToken {
    pub token: String,
    pub hash: String,
}

pub fn generate() -> NewRefreshToken {
    // 256 bits from the OS generator: unguessable, so a fast unsalted hash is enough.
    let mut secret = [0u8; SECRET_HEX / 2];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{PREFIX}{}", hex::encode(secret));
    NewRefreshToken {
        hash: super::api_keys::hash(&token),
        token,
    }
}

/// The stored hash of a well-formed token; `None` for anything else, before any lookup.
pub fn hash_of(token: &str) -> Option<String> {
    let secret = token.strip_prefix(PREFIX)?;
    (secret.len() == SECRET_HEX && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| super::api_keys::hash(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_well_formed_ones_are_hashed() {
        let a = generate();
        assert!(a.token.starts_with(PREFIX) && a.token.len() == PREFIX.len() + SECRET_HEX);
        assert_eq!(hash_of(&a.token).as_deref(), Some(a.hash.as_str()));
        assert_ne!(generate().token, a.token);
        for bad in ["", "mr_", "mr_xyz", &a.token[1..], &format!("{}0", a.token)] {
            assert_eq!(hash_of(bad), None, "{bad}");
        }
    }
}
