//! Configuration of identity-provider tokens, API keys and outgoing network access.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Tokens from an external identity provider (RS256/ES256). Enabled when `jwks_url` or `keys`
/// is set; `issuer` and `audience` are then required.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpConfig {
    /// Required `iss` of every token.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry at least one of them.
    pub audience: Vec<String>,
    /// Where the provider publishes its signing keys (`https://idp.example.com/.well-known/jwks.json`).
    pub jwks_url: String,
    /// Static public keys, instead of or in addition to the JWKS.
    pub keys: Vec<StaticKey>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_cache_secs: u64,
    /// Fewest seconds between two fetches, so tokens with made-up `kid`s cannot cause a fetch storm.
    pub jwks_min_refresh_secs: u64,
    pub jwks_timeout_secs: u64,
    /// Claim holding the tenant id; a dotted path reaches into objects (`org.id`).
    pub tenant_claim: String,
    /// Claim holding the roles (a list or a space-separated string): `admin`, `member`, `operator`.
    pub roles_claim: String,
    /// Tenant of tokens without the tenant claim (single-tenant deployments); `null` = refuse them.
    pub default_tenant: Option<String>,
}

/// One configured public key; the algorithm is pinned here, never taken from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticKey {
    /// Matched against the token's `kid`; may be omitted when it is the only key.
    #[serde(default)]
    pub kid: Option<String>,
    /// `RS256` or `ES256`.
    pub alg: String,
    #[serde(default)]
    pub pem: Option<String>,
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
}

impl IdpConfig {
    pub fn enabled(&self) -> bool {
        !self.jwks_url.trim().is_empty() || !self.keys.is_empty()
    }

    /// Reads `pem_file`s into `pem` and checks that an enabled provider can verify anything.
    pub(super) fn resolve(&mut self) -> Result<(), ConfigError> {
        for key in &mut self.keys {
            if let Some(path) = key.pem_file.clone() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path, source })?;
                key.pem = Some(text);
            }
            if key.pem.as_deref().is_none_or(|p| p.trim().is_empty()) {
                return Err(invalid(
                    "auth.idp.keys",
                    "every key needs `pem` or `pem_file`",
                ));
            }
            if !matches!(key.alg.as_str(), "RS256" | "ES256") {
                return Err(invalid(
                    "auth.idp.keys",
                    format!("alg `{}`: use RS256 or ES256", key.alg),
                ));
            }
        }
        if self.keys.len() > 1 && self.keys.iter().any(|k| k.kid.is_none()) {
            return Err(invalid(
                "auth.idp.keys",
                "with several keys every key needs a `kid`",
            ));
        }
        if !self.enabled() {
            return Ok(());
        }
        if self.issuer.trim().is_empty() || self.audience.iter().all(|a| a.trim().is_empty()) {
            return Err(invalid(
                "auth.idp",
                "issuer and audience are required when jwks_url or keys is set",
            ));
        }
        if self.leeway_secs > 300 {
            return Err(invalid("auth.idp.leeway_secs", "at most 300 seconds"));
        }
        if self.tenant_claim.trim().is_empty() || self.roles_claim.trim().is_empty() {
            return Err(invalid(
                "auth.idp",
                "tenant_claim and roles_claim must name a claim",
            ));
        }
        Ok(())
    }
}

/// API keys for service clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Lifetime of a key created without `expires_in_days`.
    pub default_ttl_days: u32,
    /// Longest lifetime a key may be given.
    pub max_ttl_days: u32,
}

impl ApiKeyConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.default_ttl_days == 0 || self.default_ttl_days > self.max_ttl_days {
            return Err(invalid(
                "auth.api_keys",
                "default_ttl_days must be between 1 and max_ttl_days",
            ));
        }
        Ok(())
    }
}

/// Outgoing requests (provider endpoints, the JWKS): which destinations are allowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Allow plain `http://` to any allowed address (otherwise only to `allow_private` ones).
    pub allow_http: bool,
    /// CIDRs that may be reached although they are loopback, private, link-local, … addresses
    /// (e.g. a local Ollama on 127.0.0.1). Everything else of that kind is refused.
    pub allow_private: Vec<String>,
}

impl NetworkConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for net in &self.allow_private {
            if net.parse::<ipnet::IpNet>().is_err() && net.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "network.allow_private",
                    format!("`{net}` is not a CIDR like 127.0.0.0/8 or an address"),
                ));
            }
        }
        Ok(())
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// Dotted paths of secret-looking settings given a value in a configuration file. Under the
/// production profile secrets come only from the environment or `*_file` settings, so a file
/// that can end up in version control or a container image never carries one.
pub(super) fn secrets_in_file(yaml: &serde_yaml::Value) -> Vec<String> {
    fn looks_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        !key.ends_with("_file")
            && ["secret", "password", "api_key", "token", "private_key"]
                .iter()
                .any(|w| key.contains(w))
    }
    fn walk(value: &serde_yaml::Value, path: &str, out: &mut Vec<String>) {
        let Some(map) = value.as_mapping() else {
            return;
        };
        for (k, v) in map {
            let Some(key) = k.as_str() else { continue };
            let here = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            let set = v.as_str().is_some_and(|s| !s.trim().is_empty());
            // A database URL with a password in it is a secret too.
            let dsn_password = key == "url"
                && v.as_str().is_some_and(|s| {
                    s.split_once("://")
                        .and_then(|(_, rest)| rest.split_once('@'))
                        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
                });
            if (looks_secret(key) && set) || dsn_password {
                out.push(here.clone());
            }
            walk(v, &here, out);
        }
    }
    let mut out = Vec::new();
    walk(yaml, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Profile};
    use super::*;

    fn resolved(change: impl FnOnce(&mut Config)) -> Result<Config, ConfigError> {
        let mut c = Config::load(None).expect("defaults load");
        change(&mut c);
        c.resolve().map(|()| c)
    }

    fn key_of(r: Result<Config, ConfigError>) -> &'static str {
        match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn production_refuses_dev_login() {
        let r = resolved(|c| {
            c.profile = Profile::Production;
            c.auth.dev_login = true;
            c.auth.jwt_secret = Some("0123456789abcdef0123456789abcdef".to_string().into());
        });
        assert_eq!(key_of(r), "auth.dev_login");
    }

    #[test]
    fn an_enabled_identity_provider_needs_issuer_audience_and_pinned_keys() {
        let jwks = |c: &mut Config| c.auth.idp.jwks_url = "https://idp.example.com/jwks".into();
        assert_eq!(key_of(resolved(jwks)), "auth.idp");
        let ok = resolved(|c| {
            jwks(c);
            c.auth.idp.issuer = "https://idp.example.com/".into();
            c.auth.idp.audience = vec!["minutes".into()];
        });
        assert!(ok.expect("valid").auth.idp.enabled());
        let hs = resolved(|c| {
            c.auth.idp.keys = vec![StaticKey {
                kid: None,
                alg: "HS256".into(),
                pem: Some("x".into()),
                pem_file: None,
            }];
        });
        assert_eq!(key_of(hs), "auth.idp.keys");
        let leeway = resolved(|c| {
            jwks(c);
            c.auth.idp.issuer = "i".into();
            c.auth.idp.audience = vec!["a".into()];
            c.auth.idp.leeway_secs = 3600;
        });
        assert_eq!(key_of(leeway), "auth.idp.leeway_secs");
    }

    #[test]
    fn network_and_api_key_settings_are_checked() {
        let r = resolved(|c| c.network.allow_private = vec!["localhost".into()]);
        assert_eq!(key_of(r), "network.allow_private");
        let r = resolved(|c| c.network.allow_private = vec!["10.0.0.0/8".into(), "::1".into()]);
        assert!(r.is_ok());
        let r = resolved(|c| c.auth.api_keys.default_ttl_days = 1000);
        assert_eq!(key_of(r), "auth.api_keys");
    }
}
