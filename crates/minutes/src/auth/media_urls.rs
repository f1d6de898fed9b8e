//! Signed media URLs: an `<audio>` element cannot send `Authorization`, so the task views hand
//! out `uploads/…key…?tenant=…&expires=…&sig=…`, a relative URL served at the application root.
//! Stateless and HMAC-signed over the object key, the tenant and the expiry, so a URL cannot be
//! pointed at another key or tenant, nor made to last longer; a guessed path plays nothing.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::crypto::SigningKey;

/// Signed with the message: a tag made for another kind of token never verifies here.
const PURPOSE: &str = "minutes/media-url/v1";
/// Longest query looked at (real ones are well under 200 bytes plus the tenant id).
const MAX_QUERY: usize = 1024;

/// What a verified URL grants: reading `key` of `tenant_id` until `expires_at` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaGrant {
    pub key: String,
    pub tenant_id: String,
    pub expires_at: i64,
}

/// The signed message: JSON, so no choice of tenant or key can make two grants collide.
fn message(grant: &MediaGrant) -> Vec<u8> {
    serde_json::to_vec(&(&grant.key, &grant.tenant_id, grant.expires_at))
        .expect("strings and an integer always serialize")
}

/// The relative playback URL of `grant` (no leading slash: the original frontend prefixes its
/// base URL and a `/`). Path segments and query values are percent-encoded.
pub fn sign(signing: &SigningKey, grant: &MediaGrant) -> String {
    let tag = URL_SAFE_NO_PAD.encode(signing.sign(PURPOSE, &message(grant)));
    let mut url = url::Url::parse("http://media.invalid/").expect("a valid base");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .pop_if_empty()
        .extend(grant.key.split('/'));
    url.query_pairs_mut()
        .append_pair("tenant", &grant.tenant_id)
        .append_pair("expires", &grant.expires_at.to_string())
        .append_pair("sig", &tag);
    let path = url.path().trim_start_matches('/');
    format!("{path}?{}", url.query().unwrap_or_default())
}

/// The object key in an `audio_files` entry: a plain key as is, or the path of a playback URL
/// (its query dropped, its path decoded), so a task view's entries can be sent back to
/// `POST /tasks`.
pub fn object_key(entry: &str) -> String {
    match entry.split_once('?') {
        Some((path, _)) => percent_encoding::percent_decode_str(path.trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned(),
        None => entry.to_string(),
    }
}

/// The grant of a request for `key` with `query` when the signature is genuine and has not
/// expired at `now_secs`; the error is a reason for the log, never for the client.
pub fn verify(
    signing: &SigningKey,
    key: &str,
    query: Option<&str>,
    now_secs: i64,
) -> Result<MediaGrant, &'static str> {
    let query = query.ok_or("no signature")?;
    if query.len() > MAX_QUERY {
        return Err("query too long");
    }
    let (mut tenant, mut expires, mut sig) = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "tenant" => &mut tenant,
            "expires" => &mut expires,
            "sig" => &mut sig,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err("a signature parameter appears twice");
        }
    }
    let (Some(tenant_id), Some(expires), Some(sig)) = (tenant, expires, sig) else {
        return Err("no signature");
    };
    let expires_at: i64 = expires.parse().map_err(|_| "expires is not a number")?;
    let tag = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "sig is not base64url")?;
    let grant = MediaGrant {
        key: key.to_string(),
        tenant_id,
        expires_at,
    };
    if !signing.verify(PURPOSE, &message(&grant), &tag) {
        return Err("signature mismatch");
    }
    if expires_at <= now_secs {
        return Err("expired");
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signing() -> SigningKey {
        SigningKey::new(b"media-test-key-media-test-key-!!")
    }

    fn grant() -> MediaGrant {
        MediaGrant {
            key: "uploads/user_a b/0123456789abcdef.wav".into(),
            tenant_id: "tenant_a&b".into(),
            expires_at: 1_000,
        }
    }

    fn query_of(url: &str) -> String {
        url.split_once('?').unwrap().1.to_string()
    }

    #[test]
    fn a_url_is_relative_encoded_and_verifies_until_it_expires() {
        let url = sign(&signing(), &grant());
        assert!(
            url.starts_with(
                "uploads/user_a%20b/0123456789abcdef.wav?tenant=tenant_a%26b&expires=1000&sig="
            ),
            "{url}"
        );
        let (query, key) = (query_of(&url), grant().key);
        assert_eq!(verify(&signing(), &key, Some(&query), 999), Ok(grant()));
        assert_eq!(
            verify(&signing(), &key, Some(&query), 1_000),
            Err("expired")
        );
    }

    #[test]
    fn a_playback_url_names_its_object_key() {
        let url = sign(&signing(), &grant());
        assert_eq!(object_key(&url), grant().key);
        assert_eq!(object_key(&format!("/{url}")), grant().key);
        assert_eq!(object_key("uploads/u/100%.wav"), "uploads/u/100%.wav");
    }

    #[test]
    fn other_keys_tenants_expiries_and_signers_are_refused() {
        let url = sign(&signing(), &grant());
        let (query, key) = (query_of(&url), grant().key);
        let other_key = "uploads/user_a b/fedcba9876543210.wav";
        assert_eq!(
            verify(&signing(), other_key, Some(&query), 0),
            Err("signature mismatch")
        );
        let other_tenant = query.replace("tenant_a%26b", "tenant_c");
        assert_eq!(
            verify(&signing(), &key, Some(&other_tenant), 0),
            Err("signature mismatch")
        );
        let longer = query.replace("expires=1000", "expires=99999");
        assert_eq!(
            verify(&signing(), &key, Some(&longer), 0),
            Err("signature mismatch")
        );
        let other = SigningKey::new(b"another-key-another-key-another!");
        assert_eq!(
            verify(&other, &key, Some(&query), 0),
            Err("signature mismatch")
        );
        for bad in [
            None,
            Some(""),
            Some("tenant=t&expires=1"),
            Some("tenant=t&expires=x&sig=AA"),
            Some("tenant=t&expires=1&sig=!!"),
        ] {
            assert!(verify(&signing(), &key, bad, 0).is_err(), "{bad:?}");
        }
        let twice = format!("{query}&tenant=tenant_c");
        assert_eq!(
            verify(&signing(), &key, Some(&twice), 0),
            Err("a signature parameter appears twice")
        );
        assert_eq!(
            verify(&signing(), &key, Some(&"x".repeat(MAX_QUERY + 1)), 0),
            Err("query too long")
        );
    }
}
