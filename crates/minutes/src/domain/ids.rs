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

pub fn user_id_for(username: &str) -> String {
    format!("user_{username}")
}

pub fn tenant_id_for(username: &str) -> String {
    format!("tenant_{username}")
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
}
