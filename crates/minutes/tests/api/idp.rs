//! Identity-provider tokens: RS256/ES256 from a JWKS served by a local server (cached, refetched
//! for unknown `kid`s at most once per interval) or static PEM keys, and the JWT attacks.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{data_file, TestApp, TestOptions, JWT_SECRET};

pub const ISSUER: &str = "https://idp.example.test/";
pub const AUDIENCE: &str = "minutes-api";
const RSA1_KEY: &str = include_str!("fixtures/rsa1.key.pem");
const RSA1_PUB: &str = include_str!("fixtures/rsa1.pub.pem");
const RSA2_KEY: &str = include_str!("fixtures/rsa2.key.pem");
const EC1_KEY: &str = include_str!("fixtures/ec1.key.pem");
const EC1_PUB: &str = include_str!("fixtures/ec1.pub.pem");
const JWK_PARAMS: &str = include_str!("fixtures/jwk_params.json");

/// A JWKS endpoint on loopback whose key list the test changes, counting fetches.
pub struct Jwks {
    pub url: String,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub fetches: Arc<AtomicUsize>,
}

fn jwk(name: &str, alg: &str) -> Value {
    let params: Value = serde_json::from_str(JWK_PARAMS).unwrap();
    let mut k = params[name].clone();
    k["kid"] = json!(name);
    k["alg"] = json!(alg);
    k["use"] = json!("sig");
    k
}

impl Jwks {
    pub async fn start() -> Jwks {
        let keys = Arc::new(Mutex::new(vec![jwk("rsa1", "RS256"), jwk("ec1", "ES256")]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"keys": *k.lock().unwrap()}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Jwks { url, keys, fetches }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A TestApp trusting the JWKS at `url` (dev login stays on for the other tests' helpers).
pub async fn idp_app(url: &str, dev_login: bool) -> TestApp {
    let url = url.to_string();
    TestApp::with(TestOptions {
        configure: Box::new(move |c| {
            c.auth.dev_login = dev_login;
            c.auth.idp.issuer = ISSUER.into();
            c.auth.idp.audience = vec![AUDIENCE.into(), "other-api".into()];
            c.auth.idp.jwks_url = url;
            c.auth.idp.leeway_secs = 30;
            c.auth.idp.jwks_min_refresh_secs = 60;
        }),
        ..Default::default()
    })
    .await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Standard claims with `changes` applied; a `null` in `changes` removes the claim.
pub fn claims(changes: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "auth0|alice", "tenant_id": "acme",
        "roles": ["member"], "iat": now(), "exp": now() + 600,
    });
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

pub fn rs256(kid: Option<&str>, key_pem: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_string);
    encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn es256(kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = kid.map(str::to_string);
    encode(
        &h,
        claims,
        &EncodingKey::from_ec_pem(EC1_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn token(c: Value) -> String {
    rs256(Some("rsa1"), RSA1_KEY, &claims(c))
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn create_global_set(t: &TestApp, token: &str) -> (StatusCode, Value) {
    t.multipart(
        Method::POST,
        "/api/v1/hotword-sets",
        token,
        &[
            ("name", None, b"glossary"),
            ("scope", None, b"global"),
            ("asr_language", None, b"zh-CN"),
            ("hotwords_file", Some("w.txt"), b"word|5\n"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_authenticate_provision_and_carry_roles() {
    let jwks = Jwks::start().await;
    let t = idp_app(&jwks.url, false).await;
    let member = token(json!({}));
    let (code, body) = t.get("/api/v1/tasks", &member).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // ES256 keys from the same JWKS, and a second accepted audience.
    let ec = es256(Some("ec1"), &claims(json!({"aud": ["x", "other-api"]})));
    let (code, body) = t.get("/api/v1/tasks", &ec).await;
    assert_eq!(code, StatusCode::OK, "{body}");

    // The user and tenant rows exist, so the user can upload and create work.
    let key = t
        .upload(&member, &data_file("en01_sprint_planning.wav"))
        .await;
    assert!(key.starts_with("uploads/auth0|alice/"), "{key}");
    let (code, body) = t.get("/api/v1/quota", &member).await;
    assert_eq!(code, StatusCode::OK, "{body}");

    // Roles: member vs tenant admin, and the platform operator role.
    let (code, _) = t.get("/api/v1/admin/audit", &member).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let admin = token(json!({"sub": "auth0|boss", "roles": "admin"}));
    let (code, body) = t.get("/api/v1/admin/audit", &admin).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let operator =
        token(json!({"sub": "auth0|op", "tenant_id": "platform", "roles": ["operator"]}));
    let (code, _) = create_global_set(&t, &member).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "members are not operators");
    let (code, body) = create_global_set(&t, &operator).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    // Tenants are isolated; one identity cannot switch tenants by claim.
    let other = token(json!({"sub": "auth0|carol", "tenant_id": "globex"}));
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/upload/{key}"),
            Some(&other),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let hijack = token(json!({"tenant_id": "globex"}));
    let (code, body) = t.get("/api/v1/tasks", &hijack).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(jwks.fetches(), 1, "keys are cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_attacks_are_rejected_with_401() {
    let jwks = Jwks::start().await;
    // Dev login on: HS256 tokens have a verifier, and still must not pass as provider tokens.
    let t = idp_app(&jwks.url, true).await;
    let good = token(json!({}));
    let (code, _) = t.get("/api/v1/tasks", &good).await;
    assert_eq!(code, StatusCode::OK);

    let parts: Vec<&str> = good.split('.').collect();
    let mut attacks: Vec<(&str, String)> = Vec::new();
    let none_header = json!({"alg": "none", "typ": "JWT", "kid": "rsa1"});
    attacks.push(("alg none", format!("{}.{}.", b64(&none_header), parts[1])));
    attacks.push((
        "alg none, signature kept",
        format!("{}.{}.{}", b64(&none_header), parts[1], parts[2]),
    ));
    let hmac_with_public_key = |kid: Option<&str>| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = kid.map(str::to_string);
        encode(
            &h,
            &claims(json!({"roles": ["admin"]})),
            &EncodingKey::from_secret(RSA1_PUB.as_bytes()),
        )
        .unwrap()
    };
    attacks.push((
        "HS256 with the RSA public key, kid",
        hmac_with_public_key(Some("rsa1")),
    ));
    attacks.push((
        "HS256 with the RSA public key, no kid",
        hmac_with_public_key(None),
    ));
    let ec_pub_hmac = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(EC1_PUB.as_bytes()),
    )
    .unwrap();
    attacks.push(("HS256 with the EC public key", ec_pub_hmac));
    for claim in ["exp", "aud", "iss", "sub"] {
        attacks.push((claim, token(json!({ claim: null }))));
    }
    attacks.push(("wrong aud", token(json!({"aud": "someone-else"}))));
    attacks.push(("wrong iss", token(json!({"iss": "https://evil.example/"}))));
    attacks.push(("expired beyond leeway", token(json!({"exp": now() - 120}))));
    attacks.push(("not yet valid", token(json!({"nbf": now() + 600}))));
    let tampered = b64(&claims(json!({"roles": ["admin"], "sub": "auth0|mallory"})));
    attacks.push((
        "tampered payload",
        format!("{}.{tampered}.{}", parts[0], parts[2]),
    ));
    attacks.push((
        "signed by another key under a known kid",
        rs256(Some("rsa1"), RSA2_KEY, &claims(json!({}))),
    ));
    attacks.push((
        "RS256 header on the EC kid",
        rs256(Some("ec1"), RSA1_KEY, &claims(json!({}))),
    ));
    attacks.push((
        "unknown kid",
        rs256(Some("nope"), RSA1_KEY, &claims(json!({}))),
    ));
    attacks.push((
        "no kid with several keys",
        rs256(None, RSA1_KEY, &claims(json!({}))),
    ));
    let mut jwe_typ = Header::new(Algorithm::RS256);
    jwe_typ.kid = Some("rsa1".into());
    jwe_typ.typ = Some("secevent+jwt".into());
    let wrong_typ = encode(
        &jwe_typ,
        &claims(json!({})),
        &EncodingKey::from_rsa_pem(RSA1_KEY.as_bytes()).unwrap(),
    )
    .unwrap();
    attacks.push(("typ is not JWT", wrong_typ));
    attacks.push(("path in sub", token(json!({"sub": "../../etc"}))));
    attacks.push(("no tenant", token(json!({"tenant_id": null}))));
    attacks.push(("garbage", "a.b.c".into()));
    for (name, tok) in &attacks {
        let (code, body) = t.get("/api/v1/tasks", tok).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["code"], "not_authenticated", "{name}");
    }
    // Within the leeway is accepted (so the leeway is what rejected the expired one).
    let (code, _) = t
        .get("/api/v1/tasks", &token(json!({"exp": now() - 10})))
        .await;
    assert_eq!(code, StatusCode::OK);

    // Tokens are never taken from the query string, not even next to a valid header.
    for uri in [
        format!("/api/v1/tasks?access_token={good}"),
        format!("/api/v1/tasks?limit=5&api_key={good}"),
    ] {
        let (code, _) = t
            .request(Method::GET, &uri, None, Body::empty(), None)
            .await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{uri}");
        let (code, _) = t.get(&uri, &good).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{uri} with a header");
    }
    // A 1 MB Authorization header is an ordinary 401, not a crash.
    let req = Request::builder()
        .uri("/api/v1/tasks")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", "A".repeat(1 << 20)),
        )
        .body(Body::empty())
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Failures without a known tenant are audited under a reserved tenant, reasons included.
    let filter = minutes::store::AuditFilter {
        action: Some("auth.failed".into()),
        limit: 1000,
        ..Default::default()
    };
    let log = t
        .app
        .store
        .audit_log(minutes::auth::UNKNOWN_TENANT, &filter)
        .await
        .unwrap();
    assert!(log.len() >= 10, "{}", log.len());
    assert!(log.iter().any(|e| e.details.0["reason"]
        .as_str()
        .unwrap()
        .contains("InvalidAlgorithm")));
    assert!(!log.iter().any(|e| e.details.0.to_string().contains(&good)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_the_jwks_at_most_once_per_interval() {
    let jwks = Jwks::start().await;
    let t = idp_app(&jwks.url, false).await;
    let (code, _) = t.get("/api/v1/tasks", &token(json!({}))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(jwks.fetches(), 1);

    // The provider rotates in a new key; a token with it arrives right after the first fetch.
    jwks.keys.lock().unwrap().push(jwk("rsa2", "RS256"));
    let rotated = rs256(Some("rsa2"), RSA2_KEY, &claims(json!({})));
    let (code, _) = t.get("/api/v1/tasks", &rotated).await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "within the minimum interval"
    );
    assert_eq!(jwks.fetches(), 1);
    t.clock.advance_ms(61_000);
    let (code, body) = t.get("/api/v1/tasks", &rotated).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "refetched for the unknown kid: {body}"
    );
    assert_eq!(jwks.fetches(), 2);

    // A storm of made-up kids causes no fetches, and after the interval exactly one.
    for i in 0..20 {
        let tok = rs256(Some(&format!("made-up-{i}")), RSA1_KEY, &claims(json!({})));
        let (code, _) = t.get("/api/v1/tasks", &tok).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jwks.fetches(), 2);
    t.clock.advance_ms(61_000);
    for i in 0..5 {
        let tok = rs256(Some(&format!("later-{i}")), RSA1_KEY, &claims(json!({})));
        let (code, _) = t.get("/api/v1/tasks", &tok).await;
        assert_eq!(
            code,
            StatusCode::UNAUTHORIZED,
            "unknown even after a refresh"
        );
    }
    assert_eq!(jwks.fetches(), 3);
    // Removed keys stop working once the cache is refreshed.
    jwks.keys.lock().unwrap().retain(|k| k["kid"] != "rsa1");
    t.clock.advance_ms(3_601_000);
    let (code, _) = t.get("/api/v1/tasks", &token(json!({}))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(jwks.fetches(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_keys_pin_their_algorithm_and_hs256_needs_dev_login() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.auth.dev_login = false;
            c.auth.idp.issuer = ISSUER.into();
            c.auth.idp.audience = vec![AUDIENCE.into()];
            c.auth.idp.keys = vec![minutes::config::StaticKey {
                kid: None,
                alg: "ES256".into(),
                pem: Some(EC1_PUB.into()),
                pem_file: None,
            }];
        }),
        ..Default::default()
    })
    .await;
    let (code, body) = t
        .get("/api/v1/tasks", &es256(None, &claims(json!({}))))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = t
        .get("/api/v1/tasks", &rs256(None, RSA1_KEY, &claims(json!({}))))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "RS256 against an ES256 key");
    // With dev login off, HS256 tokens signed with the configured secret are refused.
    let dev = jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": "user_x", "tid": "tenant_x", "role": "admin", "iss": "minutes",
                "iat": now(), "exp": now() + 600}),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let (code, _) = t.get("/api/v1/tasks", &dev).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
