//! Access tokens from an external identity provider (RS256/ES256): signature with the key's
//! pinned algorithm, then `exp`, `iss`, `aud` and `sub`, then tenant and roles from the
//! configured claims.
use std::sync::Arc;

use jsonwebtoken::{decode, Header, Validation};
use serde_json::{Map, Value};

use super::jwks::KeySet;
use super::{valid_id, AuthError, Identity};
use crate::config::IdpConfig;
use crate::egress::EgressPolicy;
use crate::queue::Clock;

pub struct IdpVerifier {
    config: IdpConfig,
    keys: KeySet,
}

impl IdpVerifier {
    pub fn from_config(
        c: &IdpConfig,
        egress: &EgressPolicy,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<IdpVerifier> {
        Ok(IdpVerifier {
            keys: KeySet::from_config(c, egress, clock)?,
            config: c.clone(),
        })
    }

    pub async fn verify(&self, token: &str, header: &Header) -> Result<Identity, AuthError> {
        let key = self.keys.find(header.kid.as_deref()).await?;
        // The algorithm comes from the key, never from the token: a header saying HS256 (or
        // anything else) next to an RSA key fails here.
        let mut v = Validation::new(key.alg);
        v.leeway = self.config.leeway_secs;
        v.validate_nbf = true;
        v.set_issuer(&[self.config.issuer.trim()]);
        v.set_audience(&self.config.audience);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Map<String, Value>>(token, &key.key, &v)
            .map_err(|e| AuthError::Invalid(format!("identity-provider token: {e}")))?
            .claims;
        self.identity(&claims)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| valid_id(s))
            .ok_or_else(|| AuthError::Invalid("`sub` is not a usable user id".into()))?;
        let tenant = match claim(claims, &self.config.tenant_claim) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => None,
            None => self.config.default_tenant.clone(),
        }
        .filter(|t| valid_id(t))
        .ok_or_else(|| {
            AuthError::Invalid(format!(
                "the token has no usable `{}` claim",
                self.config.tenant_claim
            ))
        })?;
        let roles = roles(claim(claims, &self.config.roles_claim));
        Ok(Identity {
            user_id: sub.to_string(),
            tenant_id: tenant,
            role: if roles.iter().any(|r| r == "admin") {
                "admin".into()
            } else {
                "member".into()
            },
            operator: roles.iter().any(|r| r == "operator"),
            provision: true,
        })
    }
}

/// A claim by name, or by dotted path into nested objects (`realm_access.roles`). The exact
/// name wins, since URL-shaped claim names (`https://example.com/tenant`) contain dots.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// Roles as a list of strings or one space- or comma-separated string.
fn roles(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .split([' ', ','])
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_are_found_by_name_or_dotted_path() {
        let c = json!({"https://x.io/tenant": "t1", "realm_access": {"roles": ["admin"]}});
        let map = c.as_object().expect("object");
        assert_eq!(claim(map, "https://x.io/tenant"), Some(&json!("t1")));
        assert_eq!(claim(map, "realm_access.roles"), Some(&json!(["admin"])));
        assert_eq!(claim(map, "realm_access.nope"), None);
        assert_eq!(
            roles(Some(&json!("member operator"))),
            ["member", "operator"]
        );
        assert_eq!(roles(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert!(roles(Some(&json!(7))).is_empty());
    }
}
