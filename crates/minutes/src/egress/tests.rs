use std::net::IpAddr;

use super::*;

fn policy(allow_http: bool, allow: &[&str]) -> EgressPolicy {
    EgressPolicy::from_config(&NetworkConfig {
        allow_http,
        allow_private: allow.iter().map(|s| s.to_string()).collect(),
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// The documented refused list (docs/CONFIG.md, `network`).
const REFUSED: &[&str] = &[
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.8.9.10",
    "169.254.0.1",
    "169.254.169.254",
    "169.254.170.2",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "2001::1",
    "2001:db8::1",
    "100::1",
    "fc00::1",
    "fd00:ec2::254",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
];

const PUBLIC: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.169.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "2002:0808:0808::1",
];

#[test]
fn documented_non_public_addresses_are_refused_and_public_ones_pass() {
    let p = policy(false, &[]);
    for a in REFUSED {
        assert!(
            matches!(p.check_ip(ip(a)), Err(EgressError::Refused { .. })),
            "{a} must be refused"
        );
    }
    for a in PUBLIC {
        assert!(p.check_ip(ip(a)).is_ok(), "{a} is public");
    }
}

#[test]
fn metadata_is_named_and_needs_an_exact_entry() {
    let wide = policy(false, &["169.254.0.0/16", "fd00::/8", "127.0.0.0/8"]);
    for a in ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"] {
        let err = wide.check_ip(ip(a)).expect_err(a);
        assert!(err.to_string().contains("cloud metadata"), "{a}: {err}");
    }
    assert!(wide.check_ip(ip("169.254.1.1")).is_ok());
    assert!(wide.check_ip(ip("fd12::1")).is_ok());
    let exact = policy(false, &["169.254.169.254/32"]);
    assert!(exact.check_ip(ip("169.254.169.254")).is_ok());
    assert!(exact.check_ip(ip("169.254.169.253")).is_err());
}

#[test]
fn allow_list_covers_mapped_forms_of_listed_addresses() {
    let p = EgressPolicy::default();
    for a in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
        assert!(p.check_ip(ip(a)).is_ok(), "{a}");
    }
    for a in ["10.0.0.1", "::ffff:10.0.0.1", "192.168.0.10"] {
        assert!(p.check_ip(ip(a)).is_err(), "{a}");
    }
    // A bare address is a one-address network.
    let single = policy(false, &["10.1.2.3"]);
    assert!(single.check_ip(ip("10.1.2.3")).is_ok());
    assert!(single.check_ip(ip("10.1.2.4")).is_err());
}

#[test]
fn every_spelling_of_an_ipv4_literal_is_checked() {
    let p = policy(true, &[]);
    for url in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://0177.0000.0000.0001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0251.0376.0251.0376/",
        "http://[fd00:ec2::254]/",
        "http://0/",
        "http://10.1/",
        "https://[fe80::1%25eth0]/",
    ] {
        match p.check_url(url) {
            Err(EgressError::Refused { .. }) => {}
            // Zone ids do not parse in URLs at all; refusing to parse is also a refusal.
            Err(EgressError::InvalidUrl(_)) if url.contains("%25") => {}
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(p.check_url("http://8.8.8.8/").is_ok());
    assert!(
        p.check_url("http://134744072/").is_ok(),
        "8.8.8.8 in decimal"
    );
}

#[test]
fn https_is_required_except_for_allowed_local_destinations() {
    let p = EgressPolicy::default();
    assert!(p.check_url("https://api.openai.com/v1").is_ok());
    assert!(matches!(
        p.check_url("http://api.openai.com/v1"),
        Err(EgressError::Scheme(_))
    ));
    assert!(matches!(
        p.check_url("ftp://api.openai.com/"),
        Err(EgressError::Scheme(_))
    ));
    assert!(matches!(
        p.check_url("file:///etc/passwd"),
        Err(EgressError::InvalidUrl(_))
    ));
    // Loopback is allow-listed by default (a local Ollama or whisper server speaks plain http).
    assert!(p.check_url("http://127.0.0.1:11434/v1").is_ok());
    assert!(p.check_url("http://localhost:11434/v1").is_ok());
    assert!(p.check_url("http://[::1]:8001/v1").is_ok());
    // Without loopback on the list, even https to it is refused.
    let strict = policy(false, &[]);
    assert!(strict.check_url("https://127.0.0.1/").is_err());
    assert!(strict.check_url("http://localhost/").is_err());
    assert!(policy(true, &[]).check_url("http://example.com/").is_ok());
    assert!(p.check_url("not a url").is_err());
}

#[test]
fn the_default_policy_is_the_embedded_configuration() {
    let config = crate::config::Config::load(None).expect("defaults load");
    let from_config = EgressPolicy::from_config(&config.network);
    let default = EgressPolicy::default();
    assert_eq!(from_config.allow_http, default.allow_http);
    assert_eq!(from_config.allow_private, default.allow_private);
}

#[tokio::test]
async fn names_are_resolved_and_checked_before_connecting() {
    let strict = policy(true, &[]);
    let err = strict.resolve("localhost", 80).await.expect_err("loopback");
    assert!(matches!(err, EgressError::Refused { .. }), "{err}");
    let allowed = EgressPolicy::default()
        .resolve("localhost", 80)
        .await
        .expect("loopback allowed");
    assert!(allowed.iter().all(|a| a.ip().is_loopback()));

    // The client never reaches a server behind a refused name.
    let base = crate::providers::http::test_support::serve(
        axum::Router::new().route("/", axum::routing::get(|| async { "secret" })),
    )
    .await;
    let port = base.rsplit(':').next().expect("port");
    let client = strict.client_builder().build().expect("client");
    let err = client
        .get(format!("http://localhost:{port}/"))
        .send()
        .await
        .expect_err("refused");
    assert!(
        err.is_connect() || format!("{err:?}").contains("Refused"),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirects_to_refused_addresses_are_not_followed() {
    use axum::response::Redirect;
    let target = crate::providers::http::test_support::serve(
        axum::Router::new().route("/", axum::routing::get(|| async { "internal" })),
    )
    .await;
    let hop = target.clone();
    let redirector = crate::providers::http::test_support::serve(
        axum::Router::new()
            .route(
                "/meta",
                axum::routing::get(|| async {
                    Redirect::temporary("http://169.254.169.254/latest/meta-data/")
                }),
            )
            .route(
                "/decimal",
                axum::routing::get(|| async { Redirect::temporary("http://2852039166/") }),
            )
            .route(
                "/local",
                axum::routing::get(move || async move { Redirect::temporary(&hop) }),
            ),
    )
    .await;
    // Loopback allowed: the redirector is reachable; the metadata hop is not followed.
    let client = EgressPolicy::default()
        .client_builder()
        .build()
        .expect("client");
    for path in ["/meta", "/decimal"] {
        let err = client
            .get(format!("{redirector}{path}"))
            .send()
            .await
            .expect_err("redirect refused");
        assert!(err.is_redirect(), "{path}: {err:?}");
    }
    let ok = client
        .get(format!("{redirector}/local"))
        .send()
        .await
        .expect("allowed hop");
    assert_eq!(ok.text().await.expect("body"), "internal");
}
