//! HS256 tokens issued by dev login. Only built when `auth.dev_login` is on, which the
//! production profile refuses at startup.
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{AuthError, Identity};
use crate::config::AuthConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    role: String,
    iss: String,
    iat: i64,
    exp: i64,
}

pub struct DevTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl_secs: u64,
}

impl DevTokens {
    /// `None` unless dev login is enabled and a secret is configured.
    pub fn from_config(c: &AuthConfig) -> Option<DevTokens> {
        if !c.dev_login {
            return None;
        }
        let bytes = c.jwt_secret.as_ref()?.expose_secret().as_bytes();
        Some(DevTokens {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            issuer: c.issuer.clone(),
            ttl_secs: c.jwt_ttl_secs,
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        role: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.into(),
            tid: tenant_id.into(),
            role: role.into(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + self.ttl_secs as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 30;
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| AuthError::Invalid(format!("dev token: {e}")))?
            .claims;
        Ok(Identity {
            user_id: claims.sub,
            tenant_id: claims.tid,
            // Dev tokens name a tenant role only; platform operators come from `auth.operators`.
            role: if claims.role == "admin" {
                "admin".into()
            } else {
                "member".into()
            },
            operator: false,
            provision: false,
        })
    }
}
