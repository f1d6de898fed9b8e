//! Credential verification: identity-provider tokens (RS256/ES256 from a JWKS or static keys),
//! dev-login HS256 tokens (only when enabled) and their refresh tokens, API keys, SSE stream
//! tickets and signed media URLs. Turning a request into a caller, and the scopes, live in `http/auth.rs`.
pub mod api_keys;
mod dev;
mod idp;
mod jwks;
pub mod media_urls;
pub mod refresh;
pub mod tickets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{decode_header, Algorithm};

pub use dev::DevTokens;
pub use idp::IdpVerifier;

use crate::config::AuthConfig;
use crate::egress::EgressPolicy;
use crate::queue::Clock;

/// Longest bearer token looked at; real access tokens are 1–4 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Tenant under which failures without a known tenant are audited.
pub const UNKNOWN_TENANT: &str = "_unauthenticated";

/// Anonymous auth failures audited per minute per process; beyond this they are only logged,
/// so a flood of bad tokens cannot fill the database.
const ANONYMOUS_AUDITS_PER_MINUTE: i64 = 60;

/// Provisioned users are re-checked (active, tenant, role) this often.
const PROVISION_RECHECK_MS: i64 = 10 * 60 * 1000;

/// A verified token's subject.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub tenant_id: String,
    /// `admin` or `member` within the tenant.
    pub role: String,
    /// Platform operator (the `operator` role of the identity provider).
    pub operator: bool,
    /// The tenant and user rows are created on first sight (identity-provider users).
    pub provision: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential is wrong; the reason is for logs and the audit, never for the client.
    #[error("{0}")]
    Invalid(String),
    /// The keys needed to check the credential cannot be fetched right now.
    #[error("{0}")]
    Unavailable(String),
}

/// Everything needed to check credentials, built once from `auth`.
pub struct Authenticator {
    dev: Option<DevTokens>,
    idp: Option<IdpVerifier>,
    clock: Arc<dyn Clock>,
    /// user id → (tenant, role, checked at ms) of users whose rows are known to be current.
    provisioned: Mutex<HashMap<String, (String, String, i64)>>,
    audit_window: (AtomicI64, AtomicI64),
}

impl Authenticator {
    pub fn from_config(
        c: &AuthConfig,
        egress: &EgressPolicy,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Authenticator> {
        let idp = if c.idp.enabled() {
            Some(IdpVerifier::from_config(&c.idp, egress, clock.clone())?)
        } else {
            None
        };
        Ok(Authenticator {
            dev: DevTokens::from_config(c),
            idp,
            clock,
            provisioned: Mutex::new(HashMap::new()),
            audit_window: (AtomicI64::new(0), AtomicI64::new(0)),
        })
    }

    /// Dev-login tokens, when dev login is enabled.
    pub fn dev(&self) -> Option<&DevTokens> {
        self.dev.as_ref()
    }

    /// Verifies a JWT. Tokens with a `kid`, or an RS/ES algorithm, go to the identity
    /// provider's keys; HS256 tokens without `kid` to dev login (when enabled). Either way the
    /// selected key decides the algorithm.
    pub async fn verify_jwt(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too long".into()));
        }
        let header =
            decode_header(token).map_err(|e| AuthError::Invalid(format!("token header: {e}")))?;
        if let Some(typ) = &header.typ {
            let typ = typ.to_ascii_lowercase();
            if !matches!(
                typ.as_str(),
                "jwt" | "at+jwt" | "application/jwt" | "application/at+jwt"
            ) {
                return Err(AuthError::Invalid(format!("token type `{typ}`")));
            }
        }
        match (&self.dev, &self.idp) {
            (Some(dev), _) if header.kid.is_none() && header.alg == Algorithm::HS256 => {
                dev.verify(token)
            }
            (_, Some(idp)) => idp.verify(token, &header).await,
            _ => Err(AuthError::Invalid(
                "no key for this token (identity provider not configured, dev login off)".into(),
            )),
        }
    }

    /// Whether the user row of `identity` must be written (first sight, role change, or an
    /// old check); cheap enough for every request.
    pub fn needs_provisioning(&self, identity: &Identity) -> bool {
        if !identity.provision {
            return false;
        }
        let now = self.clock.now_ms();
        let known = self.lock_provisioned();
        !known
            .get(&identity.user_id)
            .is_some_and(|(tenant, role, at)| {
                *tenant == identity.tenant_id
                    && *role == identity.role
                    && now - at < PROVISION_RECHECK_MS
            })
    }

    pub fn mark_provisioned(&self, identity: &Identity) {
        let mut known = self.lock_provisioned();
        // A bound on memory: forgetting only costs one more upsert per user.
        if known.len() >= 10_000 {
            known.clear();
        }
        known.insert(
            identity.user_id.clone(),
            (
                identity.tenant_id.clone(),
                identity.role.clone(),
                self.clock.now_ms(),
            ),
        );
    }

    fn lock_provisioned(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, String, i64)>> {
        // The map is a cache: a panic while holding it leaves nothing inconsistent to protect.
        self.provisioned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether one more failure without a known tenant may be audited this minute.
    pub fn take_anonymous_audit(&self) -> bool {
        let minute = self.clock.now_ms() / 60_000;
        let (window, count) = &self.audit_window;
        if window.swap(minute, Ordering::Relaxed) != minute {
            count.store(0, Ordering::Relaxed);
        }
        count.fetch_add(1, Ordering::Relaxed) < ANONYMOUS_AUDITS_PER_MINUTE
    }
}

/// A user or tenant id taken from a token: it ends up in rows and object keys, so only
/// characters identity providers actually use (`auth0|abc`, `user@example.com`, UUIDs).
pub fn valid_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@|:+-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_tokens_cannot_escape_keys_or_rows() {
        for ok in [
            "user_1",
            "auth0|5f2a",
            "a@b.example",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        ] {
            assert!(valid_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            "tab\t",
            long.as_str(),
            "é",
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
