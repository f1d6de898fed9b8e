//! The route matrix: every route of `openapi::ROUTES` (and `ROOT_ROUTES`) × {no token, expired,
//! wrong audience, other tenant, other user, member on an admin route, valid} → the expected
//! status, on real fixture resources. The table must cover the router exactly (a route without an
//! entry fails), foreign answers must not leak the fixture's names, ids or transcript, every
//! answer must match what `/openapi.json` documents for it, and the fixture is unchanged after
//! every credential but the valid one has been tried on every route. The table is `route_matrix/cases.rs`, the fixture and
//! its snapshot `fixture.rs`, the check against `/openapi.json` `conformance.rs`.
//!
//! Who is who (identity-provider tokens, so tenants and roles come from claims):
//! * owner `alice-m` — a member of tenant `acme-t1`; owns every user-level fixture resource
//! * admin `boss-m` — tenant admin of `acme-t1` (the valid caller of admin routes)
//! * operator `op-m` — platform operator (the valid caller of global hotword sets)
//! * other user `bob-m` — a member of `acme-t1`
//! * other tenant `carol-m` — tenant *admin* of `globex-t2`, so admin power is shown not to cross
//!   tenants
//! * member — `alice-m` on a route that needs the tenant admin or the operator role
//! * expired / wrong audience — `alice-m`'s claims, signed by the provider's key, with `exp` an
//!   hour ago / `aud` of another API
//!
//! What each route does for a caller who does not own the resource (the matrix pins it):
//! * task, transcript, artifact, export, session, folder, template, private hotword set, upload
//!   and API-key routes answer 404 to the other user *and* the other tenant (per-user resources;
//!   ids cannot be probed, and nothing tells "someone else's" from "does not exist")
//! * list routes (tasks, trash, folders, templates, hotword sets, API keys, search) answer 200
//!   with the caller's own items only; batch session operations answer 200 and skip foreign ids
//! * creating routes (upload, hotword set, template, folder, API key) answer 201 to anyone
//!   authenticated — the resource is the caller's own; `POST /tasks` with the owner's upload keys
//!   answers 400 `input_missing_file`
//! * a tenant hotword set is readable by the tenant's members (200), changeable by its admins
//!   only (403 for members), invisible to other tenants (404); a global set is readable by all
//!   and changeable by operators only (403, also for other tenants' admins)
//! * `/admin/audit` is 403 for members and shows an admin only their own tenant
//! * `/admin/jobs…` and `/queue/status` are 403 for members; another tenant's admin gets 404 for
//!   the tenant's dead jobs and 200 with their own (none) from lists and batches;
//!   `/admin/workers` is for operators only (403 for tenant admins too)
//! * `/uploads/{key}` (at the application root, `ROOT_ROUTES`) plays for whoever holds the signed
//!   path a task view lists, whatever token comes along (the signature is the credential), and
//!   answers 401 to the bare key; `/billing` answers 200 with the caller's own items only
use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::idp::{idp_app, token, Jwks};
use cases::{cases, Case, Payload, Req};
use conformance::conforms_to_the_document;
use fixture::{fixture, snapshot, Fx};

mod cases;
mod conformance;
mod fixture;

/// In the name of every user-level fixture resource: foreign answers must never contain it.
const MARK: &str = "matrix-secret";
/// In the name of the tenant hotword set: other tenants must never see it.
const TENANT_MARK: &str = "acme-only";
/// A phrase of the owner's transcript and minutes (scripted ASR and LLM).
const TRANSCRIPT_PHRASE: &str = "连接池";
const TENANT: &str = "acme-t1";
const OTHER_TENANT: &str = "globex-t2";
const OWNER: &str = "alice-m";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cred {
    NoToken,
    Expired,
    WrongAudience,
    OtherTenant,
    OtherUser,
    Member,
    Valid,
}

impl Cred {
    const ALL: [Cred; 7] = [
        Cred::NoToken,
        Cred::Expired,
        Cred::WrongAudience,
        Cred::OtherTenant,
        Cred::OtherUser,
        Cred::Member,
        Cred::Valid,
    ];

    fn name(self) -> &'static str {
        match self {
            Cred::NoToken => "no token",
            Cred::Expired => "expired token",
            Cred::WrongAudience => "wrong-audience token",
            Cred::OtherTenant => "other tenant",
            Cred::OtherUser => "other user",
            Cred::Member => "member",
            Cred::Valid => "valid",
        }
    }

    fn unauthenticated(self) -> bool {
        matches!(self, Cred::NoToken | Cred::Expired | Cred::WrongAudience)
    }
}

/// Whose credential is "valid" for a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// No credential needed; every credential gets the same answer.
    Public,
    /// The owner of the fixture resources (a tenant member).
    Owner,
    /// The tenant admin; members get 403.
    Admin,
    /// The platform operator; members (and tenant admins) get 403.
    Operator,
}

/// (method, path) of every route the router declares, read from the route table's source
/// (`src/http/mod.rs`): axum cannot list a router's routes.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/http/mod.rs");
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let open = rest.find('"').expect("a path literal after .route(");
        let after = &rest[open + 1..];
        let close = after.find('"').expect("the end of the path literal");
        let path = after[..close].replace("{*", "{");
        // The method router: up to the parenthesis that closes `.route(`.
        let args = &after[close + 1..];
        let mut depth = 1;
        let mut end = args.len();
        for (j, ch) in args.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let methods = &args[..end];
        for m in ["get", "post", "put", "patch", "delete"] {
            for (k, _) in methods.match_indices(&format!("{m}(")) {
                let before = methods[..k].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    out.insert((m.to_string(), path.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn the_matrix_the_documented_routes_and_the_router_agree() {
    use minutes::http::openapi::{ROOT_ROUTES, ROUTES};
    let documented: BTreeSet<(String, String)> = ROUTES
        .iter()
        .chain(ROOT_ROUTES)
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let matrix: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.to_string(), c.path.to_string()))
        .collect();
    let routed = router_routes();
    assert!(
        routed.len() > 40,
        "the route table was not parsed: {routed:?}"
    );
    let missing: Vec<_> = documented.difference(&matrix).collect();
    assert!(
        missing.is_empty(),
        "routes without a route-matrix entry (add them to cases() in tests/api/route_matrix/cases.rs): {missing:?}"
    );
    let unknown: Vec<_> = matrix.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "route-matrix entries that are not in openapi::ROUTES: {unknown:?}"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes in the router but not in openapi::ROUTES (nor, so, in the matrix): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "openapi::ROUTES entries the router does not declare: {unrouted:?}"
    );
    // Authenticated routes are the ones the matrix expects credentials on.
    for c in cases() {
        let authenticated = ROUTES
            .iter()
            .chain(ROOT_ROUTES)
            .find(|(m, p, _, _)| *m == c.method && *p == c.path)
            .map(|r| r.3);
        assert_eq!(
            authenticated,
            Some(c.who != Who::Public),
            "{} {}: `authenticated` in ROUTES and the matrix's caller disagree",
            c.method,
            c.path
        );
    }
}

struct Tokens {
    owner: String,
    admin: String,
    operator: String,
    other_user: String,
    other_tenant: String,
    expired: String,
    wrong_audience: String,
}

impl Tokens {
    fn new() -> Tokens {
        let now = chrono::Utc::now().timestamp();
        let who = |sub: &str, tenant: &str, roles: Value| {
            token(json!({"sub": sub, "tenant_id": tenant, "roles": roles}))
        };
        Tokens {
            owner: who(OWNER, TENANT, json!(["member"])),
            admin: who("boss-m", TENANT, json!(["admin"])),
            operator: who("op-m", "platform", json!(["operator"])),
            other_user: who("bob-m", TENANT, json!(["member"])),
            other_tenant: who("carol-m", OTHER_TENANT, json!(["admin"])),
            expired: token(
                json!({"sub": OWNER, "tenant_id": TENANT, "iat": now - 7200, "exp": now - 3600}),
            ),
            wrong_audience: token(json!({"sub": OWNER, "tenant_id": TENANT, "aud": "another-api"})),
        }
    }

    fn for_case(&self, who: Who, cred: Cred) -> Option<&str> {
        let t = match cred {
            Cred::NoToken => return None,
            Cred::Expired => &self.expired,
            Cred::WrongAudience => &self.wrong_audience,
            Cred::OtherTenant => &self.other_tenant,
            Cred::OtherUser => &self.other_user,
            Cred::Member => &self.owner,
            Cred::Valid => match who {
                Who::Public | Who::Owner => &self.owner,
                Who::Admin => &self.admin,
                Who::Operator => &self.operator,
            },
        };
        Some(t.as_str())
    }
}

async fn send(t: &TestApp, method: &str, req: &Req, token: Option<&str>) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    match &req.payload {
        Payload::None => {
            t.request(method, &req.uri, token, Body::empty(), None)
                .await
        }
        Payload::Json(v) => {
            t.request(
                method,
                &req.uri,
                token,
                Body::from(v.to_string()),
                Some("application/json"),
            )
            .await
        }
        Payload::Form(fields) => {
            let boundary = "matrix-boundary";
            let mut body = Vec::new();
            for (name, filename, bytes) in fields {
                let disposition = match filename {
                    Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                    None => format!("form-data; name=\"{name}\""),
                };
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n")
                        .as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let ct = format!("multipart/form-data; boundary={boundary}");
            t.request(method, &req.uri, token, Body::from(body), Some(&ct))
                .await
        }
    }
}

/// Runs one cell; returns the failures (empty when the cell holds).
async fn check(t: &TestApp, f: &Fx, tok: &Tokens, c: &Case, cred: Cred) -> Vec<String> {
    let Some(expected) = c.expected(cred) else {
        return vec![];
    };
    let req = (c.request)(f);
    let (code, body) = send(t, c.method, &req, tok.for_case(c.who, cred)).await;
    let label = c.label(cred);
    let mut failures = Vec::new();
    if code.as_u16() != expected {
        failures.push(format!("{label}: expected {expected}, got {code}: {body}"));
    }
    if !code.is_success() {
        let shaped = body["detail"].is_string()
            && body["code"].is_string()
            && body["retryable"].is_boolean();
        if !shaped {
            failures.push(format!(
                "{label}: a {code} without the {{detail, code, retryable}} body: {body}"
            ));
        }
        if code == StatusCode::UNAUTHORIZED && body["code"] != "not_authenticated" {
            failures.push(format!("{label}: 401 with code {}", body["code"]));
        }
    }
    conforms_to_the_document(c, code, &body, &label, &mut failures);
    let mut secrets = Vec::new();
    if matches!(cred, Cred::OtherUser | Cred::OtherTenant) || cred.unauthenticated() {
        secrets.extend(f.user_secrets());
    }
    if cred == Cred::OtherTenant || cred.unauthenticated() {
        secrets.extend(f.tenant_secrets());
    }
    // A value the caller sent may come back (an id in an error message); anything else leaks.
    let sent = req.text();
    let answer = body.to_string();
    for secret in secrets {
        if !sent.contains(secret) && answer.contains(secret) {
            failures.push(format!("{label}: the answer leaks `{secret}`: {answer}"));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_credential_as_the_matrix_says() {
    let jwks = Jwks::start().await;
    let mut t = idp_app(&jwks.url, true).await;
    let tok = Tokens::new();
    let f = fixture(&t, &tok).await;
    let cases = cases();
    let before = snapshot(&t, &f, &tok).await;

    let mut failures = Vec::new();
    let mut cells = 0;
    let foreign = Cred::ALL.into_iter().filter(|c| *c != Cred::Valid);
    for cred in foreign {
        for c in &cases {
            cells += usize::from(c.expected(cred).is_some());
            failures.extend(check(&t, &f, &tok, c, cred).await);
        }
    }
    let after = snapshot(&t, &f, &tok).await;
    for (what, value) in &before {
        if after.get(what) != Some(value) {
            failures.push(format!(
                "the fixture changed under foreign credentials: {what}\nbefore: {value}\nafter:  {}",
                after.get(what).unwrap_or(&Value::Null)
            ));
        }
    }
    // Valid last: the one pass allowed to change things, each route on its own resource.
    for c in &cases {
        cells += 1;
        failures.extend(check(&t, &f, &tok, c, Cred::Valid).await);
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} route-matrix cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Generation, retry and the new task left jobs behind on purpose.
    t.allow_unrun_jobs();
}
