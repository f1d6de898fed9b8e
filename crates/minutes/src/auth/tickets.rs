//! Stream tickets: short-lived query credentials for one task's SSE progress stream (a browser
//! `EventSource` cannot send an `Authorization` header). Stateless and HMAC-signed:
//! `st1.<base64url payload>.<base64url tag>`, bound to the task, user and tenant.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::crypto::SigningKey;

pub const PREFIX: &str = "st1.";
/// Signed with the payload: a tag made for another kind of token never verifies here.
const PURPOSE: &str = "minutes/sse-ticket/v1";
/// Longest ticket looked at (real ones are a few hundred bytes).
const MAX_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    #[serde(rename = "t")]
    pub task_id: String,
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "n")]
    pub tenant_id: String,
    /// Unix milliseconds on the application clock.
    #[serde(rename = "e")]
    pub expires_at_ms: i64,
}

pub fn issue(key: &SigningKey, ticket: &Ticket) -> String {
    let json = serde_json::to_vec(ticket).expect("strings and an integer always serialize");
    let payload = URL_SAFE_NO_PAD.encode(json);
    let tag = URL_SAFE_NO_PAD.encode(key.sign(PURPOSE, payload.as_bytes()));
    format!("{PREFIX}{payload}.{tag}")
}

/// The ticket's claims when it is well formed, untampered and not expired at `now_ms`; the
/// error is a reason for the log, never for the client.
pub fn verify(key: &SigningKey, token: &str, now_ms: i64) -> Result<Ticket, &'static str> {
    if token.len() > MAX_LEN {
        return Err("ticket too long");
    }
    let (payload, tag) = token
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or("not a stream ticket")?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| "ticket tag is not base64url")?;
    if !key.verify(PURPOSE, payload.as_bytes(), &tag) {
        return Err("ticket signature mismatch");
    }
    let ticket: Ticket = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("ticket payload unreadable")?;
    if ticket.expires_at_ms <= now_ms {
        return Err("ticket expired");
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(b"ticket-test-key-ticket-test-key!")
    }

    fn ticket() -> Ticket {
        Ticket {
            task_id: "task_0123456789abcdef".into(),
            user_id: "user_alice".into(),
            tenant_id: "tenant_alice".into(),
            expires_at_ms: 10_000,
        }
    }

    #[test]
    fn a_ticket_verifies_until_it_expires() {
        let token = issue(&key(), &ticket());
        assert!(token.starts_with(PREFIX));
        assert_eq!(verify(&key(), &token, 9_999), Ok(ticket()));
        assert_eq!(verify(&key(), &token, 10_000), Err("ticket expired"));
    }

    #[test]
    fn tampered_foreign_and_malformed_tickets_are_refused() {
        let token = issue(&key(), &ticket());
        let (payload, tag) = token[PREFIX.len()..].split_once('.').unwrap();
        let longer = Ticket {
            expires_at_ms: i64::MAX,
            ..ticket()
        };
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap());
        assert_eq!(
            verify(&key(), &format!("{PREFIX}{forged_payload}.{tag}"), 0),
            Err("ticket signature mismatch")
        );
        let other = SigningKey::new(b"another-key-another-key-another!");
        assert_eq!(verify(&other, &token, 0), Err("ticket signature mismatch"));
        for bad in [
            "",
            "st1.",
            "st1.abc",
            &format!("st2.{payload}.{tag}"),
            &format!("{PREFIX}{payload}.{tag}!"),
        ] {
            assert!(verify(&key(), bad, 0).is_err(), "{bad}");
        }
        assert_eq!(
            verify(&key(), &"x".repeat(MAX_LEN + 1), 0),
            Err("ticket too long")
        );
    }
}
