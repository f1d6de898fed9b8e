//! What a log line may not carry: the rules behind the redacting log formatters.
//!
//! Two nets, because a field name alone is not enough: `error = %e` can embed a provider's
//! answer, and that answer can echo a bearer token or a presigned URL. So sensitive *fields*
//! are dropped whole, and every other value is scrubbed for credential-shaped substrings.

/// Replaces a whole field's value.
pub const REDACTED: &str = "[redacted]";

/// Field names (the last dotted segment, any case) whose values never reach a log: credentials,
/// and personal content (transcripts, names) that info-level logs must not hold.
const SENSITIVE_FIELDS: &[&str] = &[
    "authorization",
    "cookie",
    "set_cookie",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "key",
    "private_key",
    "signature",
    "presigned_url",
    "transcript",
    "text",
    "content",
    "prompt",
    "name",
    "speaker",
    "speaker_name",
    "responsible",
    "email",
    "username",
    "phone",
];

/// Substrings that make any field name sensitive (`x_api_secret`, `jwt_token`, …).
const SENSITIVE_PARTS: &[&str] = &["password", "secret", "token", "api_key", "apikey"];

/// Query parameters whose values are credentials (presigned URLs, signed callbacks).
const SENSITIVE_QUERY_PARAMS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "sig",
    "token",
    "access_token",
    "key",
    "api_key",
    "apikey",
    "code",
];

pub fn is_sensitive_field(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    SENSITIVE_FIELDS.contains(&last.as_str()) || SENSITIVE_PARTS.iter().any(|p| last.contains(p))
}

/// Removes credential-shaped substrings from a free-text value: bearer tokens, JWTs, our API
/// keys (`mk_…`) and the values of signing query parameters.
pub fn scrub(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while !rest.is_empty() {
        let (word_end, next) = match rest.find(|c: char| c.is_whitespace()) {
            Some(i) => {
                let ws = rest[i..].chars().next().map_or(1, char::len_utf8);
                (i, i + ws)
            }
            None => (rest.len(), rest.len()),
        };
        let word = &rest[..word_end];
        out.push_str(&scrub_word(word));
        out.push_str(&rest[word_end..next]);
        if out.ends_with("Bearer ") || out.ends_with("bearer ") {
            // The next word is the credential itself.
            let after = &rest[next..];
            let end = after
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(after.len());
            if end > 0 {
                out.push_str(REDACTED);
            }
            rest = &after[end..];
            continue;
        }
        rest = &rest[next..];
    }
    out
}

fn scrub_word(word: &str) -> String {
    if looks_like_jwt(word.trim_matches(|c: char| !c.is_ascii_alphanumeric())) {
        return REDACTED.to_string();
    }
    let word = scrub_api_keys(word);
    match word.find('?') {
        Some(q) => format!("{}?{}", &word[..q], scrub_query(&word[q + 1..])),
        None => word,
    }
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].len() >= 4
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

/// `mk_` followed by a long run of key characters is one of our API keys.
fn scrub_api_keys(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find("mk_") {
        let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let tail = &rest[i + 3..];
        let run = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        out.push_str(&rest[..i]);
        if boundary && run >= 16 {
            out.push_str("mk_");
            out.push_str(REDACTED);
            rest = &tail[run..];
        } else {
            out.push_str("mk_");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn scrub_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SENSITIVE_QUERY_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_match_by_last_segment_and_part() {
        for name in [
            "token",
            "http.authorization",
            "speaker_name",
            "jwt_token",
            "db_password",
            "Client_Secret",
            "text",
        ] {
            assert!(is_sensitive_field(name), "{name}");
        }
        for name in [
            "task_id",
            "job.kind",
            "error",
            "status",
            "key_id",
            "credential",
        ] {
            assert!(!is_sensitive_field(name), "{name}");
        }
    }

    #[test]
    fn bearer_tokens_jwts_and_api_keys_are_scrubbed() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
        let s = scrub(&format!(
            "upstream said: Authorization: Bearer abc.def.ghi rejected; saw {jwt}, key mk_0123456789abcdef0123 ok"
        ));
        assert!(!s.contains("abc.def.ghi"), "{s}");
        assert!(!s.contains("eyJzdWIi"), "{s}");
        assert!(!s.contains("0123456789abcdef"), "{s}");
        assert!(s.contains("Bearer [redacted]"), "{s}");
        assert!(s.starts_with("upstream said:"), "{s}");
        assert!(s.ends_with(" ok"), "{s}");
    }

    #[test]
    fn presigned_url_signatures_are_scrubbed_but_the_path_stays() {
        let s = scrub("GET https://s3.local/b/o.wav?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeef&part=2 failed");
        assert!(s.contains("https://s3.local/b/o.wav?"), "{s}");
        assert!(!s.contains("deadbeef") && !s.contains("AK%2F1"), "{s}");
        assert!(s.contains("part=2"), "{s}");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let s = "job failed: provider answered 503 (retry in 2 s); mk_ short";
        assert_eq!(scrub(s), s);
    }
}
