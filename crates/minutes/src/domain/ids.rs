//! Identifier formats kept from the original API (`task_…`, `art_…`, …) so clients keep working.
use rand::RngCore;

/// `prefix_` followed by 16 lowercase hex characters (64 random bits).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

pub fn task_id() -> String {
    new_id("task")
}

pub fn artifact_id() -> String {
    new_id("artifact")
}

pub fn job_id() -> String {
    new_id("job")
}

/// A dev-login user's id: `user_{username}` as in the original when the name is only ASCII
/// letters, digits, `_` and `-`, else `user_` + 16 hex of its SHA-256. Ids end up in object
/// keys (`uploads/{user_id}/…`) and URLs, so `张三`, `a b` or `../x` never appear in one.
pub fn user_id_for(username: &str) -> String {
    format!("user_{}", dev_slug(username))
}

/// The dev-login user's own tenant: `tenant_` + the same slug as `user_id_for`.
pub fn tenant_id_for(username: &str) -> String {
    format!("tenant_{}", dev_slug(username))
}

fn dev_slug(username: &str) -> String {
    let safe = !username.is_empty()
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if safe {
        username.to_string()
    } else {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(username.as_bytes())[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_sixteen_hex_chars() {
        let id = task_id();
        let hex = id.strip_prefix("task_").unwrap();
        assert_eq!(hex.len(), 16);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(task_id(), task_id());
    }

    #[test]
    fn dev_ids_keep_safe_names_and_hash_the_rest() {
        assert_eq!(user_id_for("alice_1-x"), "user_alice_1-x");
        assert_eq!(tenant_id_for("alice_1-x"), "tenant_alice_1-x");
        for name in ["张三", "test.user", "a b", "../etc", "a/b"] {
            let id = user_id_for(name);
            let hex = id.strip_prefix("user_").unwrap();
            assert_eq!(hex.len(), 16, "{name}: {id}");
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{name}: {id}");
            assert_eq!(tenant_id_for(name), format!("tenant_{hex}"));
            assert_eq!(user_id_for(name), id, "stable");
        }
        assert_ne!(user_id_for("张三"), user_id_for("李四"));
    }
}
