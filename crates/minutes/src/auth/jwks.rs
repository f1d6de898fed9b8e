//! The identity provider's verification keys: static PEM keys and a JWKS fetched over HTTPS,
//! cached, and refetched when a token names an unknown `kid` — at most once per
//! `jwks_min_refresh_secs`, so made-up `kid`s cannot turn into a fetch storm.
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::AuthError;
use crate::config::IdpConfig;
use crate::egress::EgressPolicy;
use crate::queue::Clock;

/// Largest JWKS document read; real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A verification key with its algorithm pinned: a token is checked with this algorithm only.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

pub struct KeySet {
    static_keys: Vec<VerifyingKey>,
    remote: Option<Remote>,
}

struct Remote {
    url: String,
    client: reqwest::Client,
    cache_ms: i64,
    min_refresh_ms: i64,
    clock: Arc<dyn Clock>,
    cached: RwLock<Cached>,
    /// One fetch at a time; waiters re-check the cache after it.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct Cached {
    keys: Vec<VerifyingKey>,
    fetched_at_ms: Option<i64>,
    attempted_at_ms: Option<i64>,
}

impl KeySet {
    pub fn from_config(
        c: &IdpConfig,
        egress: &EgressPolicy,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<KeySet> {
        let mut static_keys = Vec::new();
        for k in &c.keys {
            let pem = k.pem.as_deref().unwrap_or_default().as_bytes();
            let (alg, key) = match k.alg.as_str() {
                "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
                "ES256" => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
                other => anyhow::bail!("auth.idp.keys: alg `{other}`: use RS256 or ES256"),
            };
            static_keys.push(VerifyingKey {
                kid: k.kid.clone(),
                alg,
                key: key.with_context(|| {
                    format!(
                        "auth.idp.keys: key {:?} is not a {} public key PEM",
                        k.kid, k.alg
                    )
                })?,
            });
        }
        let remote = if c.jwks_url.trim().is_empty() {
            None
        } else {
            egress
                .check_url(&c.jwks_url)
                .context("auth.idp.jwks_url is not allowed by the network policy")?;
            let timeout = Duration::from_secs(c.jwks_timeout_secs.max(1));
            let client = egress
                .client_builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .context("building the JWKS client")?;
            Some(Remote {
                url: c.jwks_url.trim().to_string(),
                client,
                cache_ms: (c.jwks_cache_secs as i64).saturating_mul(1000),
                min_refresh_ms: (c.jwks_min_refresh_secs as i64).saturating_mul(1000),
                clock,
                cached: RwLock::new(Cached::default()),
                fetching: Mutex::new(()),
            })
        };
        Ok(KeySet {
            static_keys,
            remote,
        })
    }

    /// The key for a token's `kid` (or the only key, for tokens without one).
    pub async fn find(&self, kid: Option<&str>) -> Result<VerifyingKey, AuthError> {
        if let Some(k) = pick(&self.static_keys, kid, self.remote.is_none()) {
            return Ok(k);
        }
        let Some(remote) = &self.remote else {
            return Err(unknown(kid));
        };
        let only = self.static_keys.is_empty();
        let (found, fresh) = {
            let cached = remote.cached.read().await;
            (pick(&cached.keys, kid, only), remote.is_fresh(&cached))
        };
        if let (Some(k), true) = (&found, fresh) {
            return Ok(k.clone());
        }
        // Unknown kid (rotation) or stale cache: refetch, unless one happened very recently.
        if let Err(e) = remote.refresh().await {
            // Stale keys still verify: an outage of the provider is not an outage of ours.
            return match found {
                Some(k) => {
                    tracing::warn!(error = %e, url = %remote.url, "JWKS refresh failed; using cached keys");
                    Ok(k)
                }
                None => Err(e),
            };
        }
        let cached = remote.cached.read().await;
        pick(&cached.keys, kid, only).ok_or_else(|| unknown(kid))
    }
}

fn unknown(kid: Option<&str>) -> AuthError {
    AuthError::Invalid(match kid {
        Some(k) => format!("unknown kid `{k}`"),
        None => "the token has no kid and several keys are configured".into(),
    })
}

/// The key named `kid`; without a kid, the key only when it is the single one.
fn pick(keys: &[VerifyingKey], kid: Option<&str>, only_source: bool) -> Option<VerifyingKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None if only_source && keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

impl Remote {
    fn is_fresh(&self, cached: &Cached) -> bool {
        cached
            .fetched_at_ms
            .is_some_and(|at| self.clock.now_ms() - at < self.cache_ms)
    }

    /// Fetches the JWKS unless an attempt was made within `min_refresh_ms`. When no keys were
    /// ever fetched and this fails, tokens cannot be checked: `Unavailable`.
    async fn refresh(&self) -> Result<(), AuthError> {
        let _one = self.fetching.lock().await;
        let now = self.clock.now_ms();
        {
            let cached = self.cached.read().await;
            if cached
                .attempted_at_ms
                .is_some_and(|at| now - at < self.min_refresh_ms)
            {
                return if cached.fetched_at_ms.is_some() {
                    Ok(())
                } else {
                    Err(AuthError::Unavailable(
                        "the identity provider's keys could not be fetched".into(),
                    ))
                };
            }
        }
        self.cached.write().await.attempted_at_ms = Some(now);
        let keys = self.fetch().await.map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), url = %self.url, "JWKS fetch failed");
            AuthError::Unavailable("the identity provider's keys could not be fetched".into())
        })?;
        let mut cached = self.cached.write().await;
        cached.keys = keys;
        cached.fetched_at_ms = Some(now);
        Ok(())
    }

    async fn fetch(&self) -> anyhow::Result<Vec<VerifyingKey>> {
        let mut resp = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(body.len() <= MAX_JWKS_BYTES, "JWKS larger than 1 MiB");
        }
        let doc: Value = serde_json::from_slice(&body).context("JWKS is not JSON")?;
        let entries = doc["keys"].as_array().context("JWKS has no `keys` list")?;
        let keys: Vec<VerifyingKey> = entries.iter().filter_map(usable_key).collect();
        tracing::info!(url = %self.url, keys = keys.len(), "fetched the identity provider's keys");
        Ok(keys)
    }
}

/// A JWKS entry as a pinned verification key; `None` for encryption keys, symmetric keys and
/// algorithms other than RS256/ES256 (so a JWKS can never introduce HMAC verification).
fn usable_key(entry: &Value) -> Option<VerifyingKey> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}
