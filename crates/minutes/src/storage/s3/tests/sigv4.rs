//! The server's half of AWS Signature Version 4, written from the AWS documentation ("Create a
//! signed AWS API request", "Authenticating Requests: Using Query Parameters"): rebuild the
//! canonical request from what arrived on the wire, sign it with the known secret and compare.
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of every presigned request.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SigV4's URI encoding: everything but the unreserved characters is `%XY`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// How far the time of a header-signed request may be from the server's clock.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
/// The longest `X-Amz-Expires` S3 accepts: seven days.
const MAX_EXPIRES_SECS: i64 = 604_800;

/// The one key pair and region the server knows.
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

/// An S3 error answer: the status, `<Code>` and `<Message>`.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

/// A request as the signature covers it: the path and query exactly as they arrived.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// Checks the signature (header or query form) at the server's time `now` and returns the
/// payload hash the client signed: a hex SHA-256 the body must match, or `UNSIGNED-PAYLOAD`.
pub fn verify(req: &Incoming, keys: &Keys, now: DateTime<Utc>) -> Result<String, Refusal> {
    let query = query_pairs(req.raw_query);
    if query.iter().any(|(k, _)| k == "X-Amz-Signature") {
        verify_query(req, &query, keys, now)
    } else {
        verify_header(req, &query, keys, now)
    }
}

fn verify_header(
    req: &Incoming,
    query: &[(String, String)],
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<String, Refusal> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization")
        .ok_or_else(|| refuse(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"))?;
    let fields = authorization
        .strip_prefix(ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| malformed("the Authorization header must use AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(malformed(format!("unexpected field `{field}`"))),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "Credential, SignedHeaders and Signature are required",
        ));
    };
    let amz_date = header("x-amz-date").ok_or_else(|| {
        refuse(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    let time = parse_time(amz_date)?;
    if (now - time).abs() > MAX_SKEW {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    let payload = header("x-amz-content-sha256").ok_or_else(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256",
        )
    })?;
    let scope = check_credential(credential, amz_date, keys)?;
    let signing = Signing {
        amz_date,
        scope: &scope,
        signed_headers,
        payload,
    };
    check_signature(req, query, &signing, signature, keys)?;
    Ok(payload.to_string())
}

fn verify_query(
    req: &Incoming,
    query: &[(String, String)],
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<String, Refusal> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationQueryParametersError",
                    format!("{name} is required"),
                )
            })
    };
    if param("X-Amz-Algorithm")? != ALGORITHM {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let amz_date = param("X-Amz-Date")?;
    let time = parse_time(amz_date)?;
    let expires = param("X-Amz-Expires")?
        .parse::<i64>()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_SECS).contains(s))
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be between 1 and 604800 seconds",
            )
        })?;
    if now < time - MAX_SKEW {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request is not valid yet",
        ));
    }
    if now > time + TimeDelta::seconds(expires) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired",
        ));
    }
    let scope = check_credential(param("X-Amz-Credential")?, amz_date, keys)?;
    let signing = Signing {
        amz_date,
        scope: &scope,
        signed_headers: param("X-Amz-SignedHeaders")?,
        payload: UNSIGNED_PAYLOAD,
    };
    let unsigned: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .cloned()
        .collect();
    check_signature(req, &unsigned, &signing, param("X-Amz-Signature")?, keys)?;
    Ok(UNSIGNED_PAYLOAD.to_string())
}

/// `AKID/yyyymmdd/region/s3/aws4_request`: a known key, the request's own day, our region.
fn check_credential(credential: &str, amz_date: &str, keys: &Keys) -> Result<String, Refusal> {
    let (key_id, scope) = credential
        .split_once('/')
        .ok_or_else(|| malformed("the credential must be key-id/scope"))?;
    if key_id != keys.access_key_id {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    }
    match scope.split('/').collect::<Vec<_>>().as_slice() {
        [day, region, "s3", "aws4_request"] if Some(*day) == amz_date.get(..8) => {
            if *region != keys.region {
                return Err(malformed(format!(
                    "the region '{region}' is wrong; expecting '{}'",
                    keys.region
                )));
            }
            Ok(scope.to_string())
        }
        _ => Err(malformed(
            "the credential scope must be date/region/s3/aws4_request of the request's date",
        )),
    }
}

/// What the string to sign is made of, besides the request itself.
struct Signing<'a> {
    amz_date: &'a str,
    scope: &'a str,
    signed_headers: &'a str,
    payload: &'a str,
}

fn check_signature(
    req: &Incoming,
    query: &[(String, String)],
    signing: &Signing,
    signature: &str,
    keys: &Keys,
) -> Result<(), Refusal> {
    let names: Vec<&str> = signing.signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(malformed("the host header must be signed"));
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!("the signed header {name} is missing"),
            ));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.as_str(),
        canonical_uri(req.raw_path),
        canonical_query(query),
        canonical_headers,
        signing.signed_headers,
        signing.payload,
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        signing.amz_date,
        signing.scope,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let day = signing.amz_date.get(..8).unwrap_or_default();
    let mut key = hmac(format!("AWS4{}", keys.secret_access_key).as_bytes(), day);
    for part in [keys.region.as_str(), "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    if hex::encode(hmac(&key, &string_to_sign)) != signature {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        ));
    }
    Ok(())
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn parse_time(amz_date: &str) -> Result<DateTime<Utc>, Refusal> {
    NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| {
            refuse(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!("`{amz_date}` is not an ISO 8601 basic time like 20250101T000000Z"),
            )
        })
}

/// Decoded `(name, value)` pairs of a raw query; `+` is a literal plus, as in SigV4.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Each path segment decoded, then URI-encoded once (S3 does not double-encode).
fn canonical_uri(raw_path: &str) -> String {
    raw_path
        .split('/')
        .map(|segment| encode(&percent_decode_str(segment).decode_utf8_lossy()))
        .collect::<Vec<_>>()
        .join("/")
}

/// Names and values URI-encoded, sorted by name (then value), `name=value` joined by `&`.
fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn malformed(message: impl Into<String>) -> Refusal {
    refuse(
        StatusCode::BAD_REQUEST,
        "AuthorizationHeaderMalformed",
        message,
    )
}
