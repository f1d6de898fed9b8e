//! SSRF guard for outgoing requests (provider endpoints, the JWKS, later webhooks and URL
//! import): https only by default, and no loopback, private, link-local, CGNAT, unique-local or
//! metadata destinations unless `network.allow_private` lists them.
//!
//! Host names are resolved by the guard itself and the HTTP client connects only to the
//! addresses that passed the check (resolve, check, pin), so a DNS answer that changes between
//! check and connect (rebinding) cannot smuggle a refused address in. IP literals skip DNS in
//! the client, so URLs are checked before use, and every redirect hop is checked again.
pub mod ip;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;

use crate::config::NetworkConfig;

/// Most redirects a guarded client follows.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("`{0}` is not a valid absolute URL")]
    InvalidUrl(String),
    #[error("`{0}` URLs are not allowed: use https (network.allow_http permits http)")]
    Scheme(String),
    #[error("{addr} is a {class} address; list it in network.allow_private to allow it")]
    Refused { addr: IpAddr, class: &'static str },
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve { host: String, reason: String },
}

/// The outgoing-request policy built from `network`.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allow_http: bool,
    allow_private: Arc<Vec<IpNet>>,
}

impl Default for EgressPolicy {
    /// The embedded defaults of `network`: https only, loopback allowed (local engines).
    fn default() -> Self {
        let loopback = ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        EgressPolicy {
            allow_http: false,
            allow_private: Arc::new(loopback),
        }
    }
}

impl EgressPolicy {
    /// The policy of `network` (entries that are not CIDRs are refused by config validation;
    /// a bare address counts as a single-address network).
    pub fn from_config(c: &NetworkConfig) -> EgressPolicy {
        let nets = c
            .allow_private
            .iter()
            .filter_map(|n| {
                n.parse::<IpNet>()
                    .ok()
                    .or_else(|| n.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect();
        EgressPolicy {
            allow_http: c.allow_http,
            allow_private: Arc::new(nets),
        }
    }

    /// Ok for public addresses and allow-listed non-public ones. Metadata endpoints must be
    /// listed as single addresses: allowing `169.254.0.0/16` does not expose credentials.
    pub fn check_ip(&self, addr: IpAddr) -> Result<(), EgressError> {
        let Some(class) = ip::non_public(addr) else {
            return Ok(());
        };
        let mut candidates = vec![addr];
        if let IpAddr::V6(v6) = addr {
            candidates.extend(ip::embedded_v4(v6).map(IpAddr::V4));
        }
        let exact_only = candidates.iter().any(|a| ip::METADATA.contains(a));
        let listed = self.allow_private.iter().any(|net| {
            let exact = net.prefix_len() == net.max_prefix_len();
            (exact || !exact_only) && candidates.iter().any(|a| net.contains(a))
        });
        if listed {
            Ok(())
        } else {
            Err(EgressError::Refused { addr, class })
        }
    }

    /// Parses and checks a URL before use: scheme, and the address when the host is an IP
    /// literal (in any spelling: `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`
    /// all parse to the address they reach). Names are checked when they are resolved.
    pub fn check_url(&self, raw: &str) -> Result<Url, EgressError> {
        let url = Url::parse(raw.trim()).map_err(|_| EgressError::InvalidUrl(raw.into()))?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(EgressError::InvalidUrl(raw.into())),
        };
        if let Some(addr) = literal {
            self.check_ip(addr)?;
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.allow_http || self.plain_http_is_local(&url, literal) => Ok(url),
            other => Err(EgressError::Scheme(other.to_string())),
        }
    }

    /// Plain http to an allow-listed non-public address (or `localhost` while loopback is
    /// allowed) stays on a network the operator vouched for, where TLS is rarely set up.
    fn plain_http_is_local(&self, url: &Url, literal: Option<IpAddr>) -> bool {
        match literal {
            Some(addr) => ip::non_public(addr).is_some() && self.check_ip(addr).is_ok(),
            None => {
                url.host_str() == Some("localhost")
                    && self.check_ip(IpAddr::from([127, 0, 0, 1])).is_ok()
            }
        }
    }

    /// Resolves `host` and keeps the addresses the policy allows; an error when none is left.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let found =
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| EgressError::Resolve {
                    host: host.into(),
                    reason: e.to_string(),
                })?;
        let mut allowed = Vec::new();
        let mut refusal = None;
        for addr in found {
            match self.check_ip(addr.ip()) {
                Ok(()) => allowed.push(addr),
                Err(e) => refusal = Some(e),
            }
        }
        match (allowed.is_empty(), refusal) {
            (false, _) => Ok(allowed),
            (true, Some(e)) => Err(e),
            (true, None) => Err(EgressError::Resolve {
                host: host.into(),
                reason: "no addresses".into(),
            }),
        }
    }

    /// A reqwest builder that resolves through this policy (pinning the checked addresses),
    /// checks every redirect hop, and ignores proxy environment variables (a proxy would
    /// connect on our behalf to addresses we never checked).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let hops = self.clone();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match hops.check_url(attempt.url().as_str()) {
                    Ok(_) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
    }
}

struct GuardedResolver(EgressPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port on each address.
            let addrs = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests;
