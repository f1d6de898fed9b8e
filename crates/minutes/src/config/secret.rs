//! Serializers that keep secrets out of `config print` and logs.
use secrecy::SecretString;
use serde::Serializer;

pub fn redact<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

/// Hides the password part of `scheme://user:password@host/db`.
pub fn redact_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_dsn(url))
}

/// Also hides query parameters named like a password (`?sentinel_password=…`, `?password=…`).
pub fn redact_dsn(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (userinfo, host) = match rest.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, rest),
    };
    let host = redact_query_passwords(host);
    match userinfo.map(|u| (u, u.split_once(':'))) {
        Some((_, Some((user, _)))) => format!("{scheme}://{user}:[redacted]@{host}"),
        Some((user, None)) => format!("{scheme}://{user}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

fn redact_query_passwords(host_and_rest: &str) -> String {
    let Some((before, query)) = host_and_rest.split_once('?') else {
        return host_and_rest.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                format!("{key}=[redacted]")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{before}?{}", pairs.join("&"))
}
