//! Shared HTTP plumbing for provider adapters: client setup, capped body reads, error classification.
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

use super::ProviderError;
use crate::egress::EgressPolicy;

/// Largest response body an adapter will buffer; a verbose transcript of a six-hour meeting is a
/// few MiB, so anything past this is a misbehaving server rather than an answer.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Upper bound on establishing a TCP/TLS connection; a provider that cannot even accept a
/// connection this fast is down, and waiting the whole request timeout would only delay fallback.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error body goes into `ProviderError` details: enough to see the server's
/// message, short enough to keep task rows and logs readable.
const EXCERPT_CHARS: usize = 300;

/// Builds a client whose every request (connect, upload, response body) ends within `timeout`
/// and only reaches destinations `egress` allows.
pub fn build_client(
    provider: &str,
    timeout: Duration,
    egress: &EgressPolicy,
) -> Result<reqwest::Client, ProviderError> {
    egress
        .client_builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("minutes/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Unavailable {
            provider: provider.to_string(),
            detail: format!("cannot build HTTP client: {}", error_chain(&e)),
        })
}

/// How an API key travels with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScheme {
    /// `Authorization: Bearer KEY` (OpenAI-compatible servers).
    Bearer,
    /// The key in a header of its own, e.g. Gemini's `x-goog-api-key`.
    Header(&'static str),
}

/// A non-2xx answer, for adapters that classify their provider's error bodies themselves.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One provider's HTTP endpoint settings: the client, its timeout and how keys are sent. The
/// keys themselves come per request from the provider's key pool.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    provider: String,
    client: reqwest::Client,
    timeout: Duration,
    scheme: KeyScheme,
    max_body: usize,
}

impl ProviderHttp {
    /// A client under the embedded default egress policy (https, or loopback).
    pub fn new(provider: &str, timeout: Duration) -> Result<Self, ProviderError> {
        Self::with_egress(provider, timeout, &EgressPolicy::default())
    }

    pub fn with_egress(
        provider: &str,
        timeout: Duration,
        egress: &EgressPolicy,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            provider: provider.to_string(),
            client: build_client(provider, timeout, egress)?,
            timeout,
            scheme: KeyScheme::Bearer,
            max_body: MAX_BODY_BYTES,
        })
    }

    /// Sends keys the provider's way instead of as a bearer token.
    pub fn with_scheme(mut self, scheme: KeyScheme) -> Self {
        self.scheme = scheme;
        self
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Renames the provider used in error messages (for adapters renamed after construction).
    pub fn set_provider(&mut self, provider: &str) {
        self.provider = provider.to_string();
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A POST to `url` carrying `key` (none for servers without authentication).
    pub fn post(&self, url: &str, key: Option<&SecretString>) -> RequestBuilder {
        let req = self.client.post(url);
        match (key, self.scheme) {
            (None, _) => req,
            (Some(key), KeyScheme::Bearer) => req.bearer_auth(key.expose_secret()),
            (Some(key), KeyScheme::Header(name)) => req.header(name, key.expose_secret()),
        }
    }

    /// Sends the request and returns the body of a 2xx answer; everything else becomes a
    /// classified `ProviderError`. `key` is the key the request carries, scrubbed from details.
    pub async fn send(
        &self,
        req: RequestBuilder,
        key: Option<&SecretString>,
    ) -> Result<Bytes, ProviderError> {
        match self.exchange(req).await? {
            Ok(body) => Ok(body),
            Err(answer) => Err(classify_status(
                &self.provider,
                answer.status,
                &answer.headers,
                &answer.body,
                key.map(|k| k.expose_secret()),
            )),
        }
    }

    /// Sends the request: `Ok(body)` for a 2xx answer, `Err(answer)` for any other status, and
    /// a classified error when no answer arrived or its body was too large.
    pub async fn exchange(
        &self,
        req: RequestBuilder,
    ) -> Result<Result<Bytes, HttpAnswer>, ProviderError> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| classify_transport(&self.provider, self.timeout, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_body_capped(&self.provider, self.timeout, &mut resp, self.max_body).await;
        if status.is_success() {
            return body.map(Ok);
        }
        // An error status is classified even if its body was unreadable: the status is the
        // signal, the body only decorates the detail.
        Ok(Err(HttpAnswer {
            status,
            headers,
            body: body.unwrap_or_default(),
        }))
    }
}

/// Maps a transport-level reqwest failure (no HTTP status) onto an error class.
pub fn classify_transport(
    provider: &str,
    timeout: Duration,
    err: &reqwest::Error,
) -> ProviderError {
    let provider = provider.to_string();
    if err.is_timeout() {
        return ProviderError::Timeout {
            provider,
            after: timeout,
        };
    }
    let detail = if err.is_connect() {
        format!("cannot connect: {}", error_chain(err))
    } else {
        error_chain(err)
    };
    ProviderError::Unavailable { provider, detail }
}

/// Maps a non-2xx status onto an error class.
///
/// `secret` is scrubbed from the body excerpt because some servers echo the submitted key back
/// in "invalid API key" messages.
pub fn classify_status(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
) -> ProviderError {
    let provider = provider.to_string();
    let detail = || {
        let excerpt = body_excerpt(body, secret);
        if excerpt.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {excerpt}")
        }
    };
    match status.as_u16() {
        // OpenAI answers 429 `insufficient_quota` when the key's credit is gone: waiting a
        // minute will not help, so the key pool rests that key for longer.
        429 if contains(body, b"insufficient_quota") => ProviderError::QuotaExceeded {
            provider,
            retry_after: parse_retry_after(headers, Utc::now()),
            detail: detail(),
        },
        429 => ProviderError::RateLimited {
            provider,
            retry_after: parse_retry_after(headers, Utc::now()),
        },
        401 | 403 => ProviderError::Auth {
            provider,
            detail: detail(),
        },
        408 | 500..=599 => ProviderError::Unavailable {
            provider,
            detail: detail(),
        },
        // Remaining 4xx (400, 404, 413, 415, 422, …) all say "this request will not work as sent".
        400..=499 => ProviderError::Rejected {
            provider,
            detail: detail(),
        },
        // 1xx/3xx reaching us means redirects ran out or the server speaks something else.
        _ => ProviderError::InvalidResponse {
            provider,
            detail: detail(),
        },
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The server's retry hint: `retry-after-ms` (OpenAI's precise variant) wins over `Retry-After`,
/// which may be delta-seconds or an HTTP-date. A date in the past means "now".
pub fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0) {
            return Some(d);
        }
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some servers send fractional seconds even though the RFC says integer.
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Parses the three HTTP-date forms RFC 9110 requires recipients to accept.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    // IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 2822 syntax, GMT zone).
    if let Ok(dt) = DateTime::parse_from_rfc2822(value) {
        return Some(dt.with_timezone(&Utc));
    }
    // Obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(value, fmt).ok())
        .map(|naive| naive.and_utc())
}

/// Reads the whole body but refuses more than `cap` bytes, so a misbehaving server cannot
/// exhaust memory.
pub async fn read_body_capped(
    provider: &str,
    timeout: Duration,
    resp: &mut Response,
    cap: usize,
) -> Result<Bytes, ProviderError> {
    let too_large = || ProviderError::InvalidResponse {
        provider: provider.to_string(),
        detail: format!("response body exceeds {cap} bytes"),
    };
    // Fail before reading anything when the server announces an oversized body.
    if resp.content_length().is_some_and(|len| len > cap as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| classify_transport(provider, timeout, &e))?
    {
        if buf.len() + chunk.len() > cap {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A short single-line, lossy-UTF-8 excerpt of a body with `secret` masked out.
pub fn body_excerpt(body: &[u8], secret: Option<&str>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    let mut excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((idx, _)) = excerpt.char_indices().nth(EXCERPT_CHARS) {
        excerpt.truncate(idx);
        excerpt.push('…');
    }
    excerpt
}

/// An error and its `source()` chain on one line; reqwest's top-level message alone ("error
/// sending request") hides the useful part (connection refused, DNS failure, …).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let msg = e.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = e.source();
    }
    out
}

/// `serialize_with` for optional API keys: settings can be printed or dumped without the key.
pub fn serialize_redacted<S: Serializer>(
    value: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

/// Checks a configured base URL against the egress policy (scheme, IP literals); names are
/// checked again whenever the client resolves them.
pub fn check_base_url(
    provider: &str,
    base_url: &str,
    egress: &EgressPolicy,
) -> Result<(), ProviderError> {
    if base_url.trim().is_empty() {
        return Err(ProviderError::Rejected {
            provider: provider.to_string(),
            detail: "base_url is empty".into(),
        });
    }
    egress
        .check_url(base_url)
        .map(|_| ())
        .map_err(|e| ProviderError::Rejected {
            provider: provider.to_string(),
            detail: format!("base_url: {e}"),
        })
}

/// Joins `base_url` and an endpoint path without doubling or dropping the slash.
pub fn endpoint(base_url: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Local HTTP servers for adapter tests.
#[cfg(test)]
pub(crate) mod test_support {
    /// Serves `router` on an ephemeral loopback port and returns `http://127.0.0.1:PORT`.
    ///
    /// The listener is bound before this returns, so requests queue in the backlog until the
    /// spawned server accepts them; no readiness wait is needed.
    pub async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests;
