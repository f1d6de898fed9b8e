//! The iFlyTek client against a local server that speaks the documented envelope and checks
//! every request's HMAC signature like the real service (wrong signature: 401).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::*;
use crate::domain::voiceprint::EnrolledSpeaker;
use crate::providers::http::test_support::serve;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const SECRET: &str = "fedcba9876543210fedcba9876543210";
const SERVICE: &str = "s1aa729d0";

/// The published example of iFlyTek's documentation (key `apikey` + X's, secret `apisecret`
/// + X's, its date and host): our signature must be exactly theirs.
#[test]
fn the_signature_matches_the_documented_example() {
    let auth = authorization(
        "api.xf-yun.com",
        "Fri, 23 Apr 2021 02:35:47 GMT",
        "/v1/private/s782b4996",
        &format!("apikey{}", "X".repeat(26)),
        &format!("apisecret{}", "X".repeat(23)),
    );
    assert_eq!(
        auth,
        "YXBpX2tleT0iYXBpa2V5WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFgiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2IiwgaGVhZGVycz0iaG9zdCBkYXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iMWp3UWJJQUttUUU3SndJSDBJRHhpQzFwZWpybE4rVnBIWERXT0ZWeTVOTT0i"
    );
}

#[test]
fn group_ids_fit_the_api_and_are_stable_per_tenant() {
    let a = group_id("minutes", "tenant_alice");
    assert_eq!(a, group_id("minutes", "tenant_alice"));
    assert_ne!(a, group_id("minutes", "tenant_bob"));
    for g in [a, group_id("a-very/long prefix!!", "t")] {
        assert!(g.len() <= MAX_ID_CHARS, "{g}");
        assert!(
            g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{g}"
        );
    }
}

#[test]
fn the_pacer_spaces_requests_by_the_configured_rate() {
    let pacer = Pacer::new(4.0);
    let start = std::time::Instant::now();
    let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve(start) - start).collect();
    // Five requests asked for at once at 4 per second: the fifth goes out a second later.
    let ms: Vec<u128> = slots.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 250, 500, 750, 1000]);
    // After a quiet spell the next request goes at once.
    let later = start + Duration::from_secs(10);
    assert_eq!(pacer.reserve(later), later);
}

/// The fake service: groups of features; a feature's "voice" is its audio's first sample, and
/// `searchFea` scores 0.9 for the same voice and 0.2 otherwise.
#[derive(Default)]
struct Fake {
    groups: HashMap<String, BTreeMap<String, i16>>,
    calls: Vec<String>,
    refused: usize,
}

type Shared = Arc<Mutex<Fake>>;

fn answer(func: &str, result: Value) -> Json<Value> {
    Json(json!({
        "header": {"code": 0, "message": "success", "sid": "ase000test"},
        "payload": {format!("{func}Res"): {
            "compress": "raw", "encoding": "utf8", "format": "json", "status": "3",
            "text": B64.encode(result.to_string()),
        }},
    }))
}

fn failure(code: i64, message: &str) -> Json<Value> {
    Json(json!({"header": {"code": code, "message": message, "sid": "ase000test"}}))
}

/// What the real service checks: the signature over `host date request-line`, the key, the
/// algorithm and a date within 300 s.
fn verify(q: &HashMap<String, String>) -> Result<(), &'static str> {
    let (Some(auth), Some(host), Some(date)) =
        (q.get("authorization"), q.get("host"), q.get("date"))
    else {
        return Err("missing authorization parameters");
    };
    let header =
        String::from_utf8(B64.decode(auth).map_err(|_| "not base64")?).map_err(|_| "not utf8")?;
    let field = |name: &str| {
        header
            .split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name}=\"")))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
    };
    if field("api_key").as_deref() != Some(KEY)
        || field("algorithm").as_deref() != Some("hmac-sha256")
    {
        return Err("unknown api_key or algorithm");
    }
    if field("headers").as_deref() != Some("host date request-line") {
        return Err("wrong signed headers");
    }
    let expected = authorization(host, date, &format!("/v1/private/{SERVICE}"), KEY, SECRET);
    if auth != &expected {
        return Err("HMAC signature does not match");
    }
    let sent = chrono::DateTime::parse_from_rfc2822(date).map_err(|_| "bad date")?;
    if (Utc::now() - sent.with_timezone(&Utc)).num_seconds().abs() > 300 {
        return Err("clock skew");
    }
    Ok(())
}

async fn handle(
    State(fake): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut f = fake.lock().unwrap();
    if let Err(why) = verify(&q) {
        f.refused += 1;
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": why})));
    }
    assert_eq!(body["header"]["app_id"], "app123");
    let p = &body["parameter"][SERVICE];
    let func = p["func"].as_str().unwrap().to_string();
    assert!(p[format!("{func}Res")].is_object(), "{body}");
    f.calls.push(func.clone());
    let group = p["groupId"].as_str().unwrap().to_string();
    let voice = || {
        let r = &body["payload"]["resource"];
        assert_eq!(
            (r["encoding"].as_str(), r["sample_rate"].as_i64()),
            (Some("raw"), Some(16000))
        );
        let pcm = B64.decode(r["audio"].as_str().unwrap()).unwrap();
        i16::from_le_bytes([pcm[0], pcm[1]])
    };
    let ok = StatusCode::OK;
    match func.as_str() {
        "createGroup" if f.groups.contains_key(&group) => {
            (ok, failure(23005, "group already exists"))
        }
        "createGroup" => {
            f.groups.insert(group.clone(), BTreeMap::new());
            (ok, answer(&func, json!({"groupId": group})))
        }
        _ if !f.groups.contains_key(&group) => (ok, failure(23006, "group not found")),
        "createFeature" | "updateFeature" => {
            let id = p["featureId"].as_str().unwrap().to_string();
            let features = f.groups.get_mut(&group).unwrap();
            if func == "createFeature" && features.contains_key(&id) {
                return (ok, failure(23008, "feature already exists"));
            }
            features.insert(id.clone(), voice());
            (ok, answer(&func, json!({"featureId": id})))
        }
        "deleteFeature" => {
            let id = p["featureId"].as_str().unwrap();
            match f.groups.get_mut(&group).unwrap().remove(id) {
                Some(_) => (ok, answer(&func, json!({"msg": "success"}))),
                None => (ok, failure(23009, "feature not found")),
            }
        }
        "queryFeatureList" => {
            let list: Vec<Value> = f.groups[&group]
                .keys()
                .map(|id| json!({"featureId": id, "featureInfo": id}))
                .collect();
            (ok, answer(&func, json!(list)))
        }
        "searchFea" => {
            let probe = voice();
            let mut scores: Vec<Value> = f.groups[&group]
                .iter()
                .map(|(id, v)| json!({"featureId": id, "featureInfo": id, "score": if *v == probe { 0.9 } else { 0.2 }}))
                .collect();
            scores.sort_by(|a, b| {
                b["score"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&a["score"].as_f64().unwrap())
            });
            scores.truncate(p["topK"].as_u64().unwrap() as usize);
            (ok, answer(&func, json!({"scoreList": scores})))
        }
        other => panic!("unexpected function {other}"),
    }
}

async fn fake() -> (String, Shared) {
    let state: Shared = Arc::default();
    let router = Router::new()
        .route(&format!("/v1/private/{SERVICE}"), post(handle))
        .with_state(state.clone());
    (serve(router).await, state)
}

fn settings(base: &str, secret: &str) -> IflytekVoiceprintSettings {
    IflytekVoiceprintSettings {
        base_url: base.into(),
        service_id: SERVICE.into(),
        app_id: "app123".into(),
        api_key: Some(SecretString::from(KEY)),
        api_key_file: None,
        api_secret: Some(SecretString::from(secret)),
        api_secret_file: None,
        group_prefix: "minutes".into(),
        top_k: 5,
        max_qps: 1000.0,
        timeout_secs: 10,
        thresholds: ScoreThresholds::IFLYTEK,
    }
}

fn client(base: &str, secret: &str) -> IflytekVoiceprint {
    IflytekVoiceprint::new(settings(base, secret), &EgressPolicy::default()).unwrap()
}

/// A second of 16 kHz mono whose samples all equal `voice`.
fn wav(voice: i16) -> Vec<u8> {
    let n = 16_000u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + n * 2).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(&16_000u32.to_le_bytes());
    w.extend_from_slice(&32_000u32.to_le_bytes());
    for v in [2u16, 16] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(n * 2).to_le_bytes());
    for _ in 0..n {
        w.extend_from_slice(&voice.to_le_bytes());
    }
    w
}

fn sample(label: &str, voice: i16) -> SpeakerSample {
    SpeakerSample {
        label: label.into(),
        wav: wav(voice),
    }
}

fn registry(tenant: &str, entries: &[(&str, &str, &str)]) -> VoiceprintRegistry {
    VoiceprintRegistry {
        tenant_id: tenant.into(),
        speakers: entries
            .iter()
            .map(|(id, name, feature)| EnrolledSpeaker {
                speaker_id: id.to_string(),
                name: name.to_string(),
                feature_id: Some(feature.to_string()),
                embeddings: Vec::new(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let (base, state) = fake().await;
    let wrong = client(&base, "not-the-secret-not-the-secret-00");
    let err = wrong.enroll("t1", "spk_1", &wav(1000)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(state.lock().unwrap().refused >= 1);
    assert!(state.lock().unwrap().groups.is_empty());
}

#[tokio::test]
async fn enrolled_speakers_are_found_by_a_majority_and_erased_at_the_provider() {
    let (base, state) = fake().await;
    let vp = client(&base, SECRET);
    let sarah = vp
        .enroll("tenant_a", "spk_sarah", &wav(1000))
        .await
        .unwrap();
    let david = vp
        .enroll("tenant_a", "spk_david", &wav(2000))
        .await
        .unwrap();
    assert_eq!(sarah.feature_id, "spk_sarah");
    assert!(
        sarah.embeddings.is_empty(),
        "the provider keeps the feature"
    );
    // A retried enrollment (its first answer lost) replaces the feature instead of failing.
    vp.enroll("tenant_a", "spk_sarah", &wav(1000))
        .await
        .unwrap();
    {
        let f = state.lock().unwrap();
        assert_eq!(
            f.calls.iter().filter(|c| *c == "createGroup").count(),
            1,
            "{:?}",
            f.calls
        );
        assert!(f.calls.contains(&"updateFeature".to_string()));
        assert_eq!(f.groups.len(), 1);
    }
    let reg = registry(
        "tenant_a",
        &[
            ("spk_sarah", "Sarah Kim", &sarah.feature_id),
            ("spk_david", "David Okafor", &david.feature_id),
        ],
    );
    let samples = [
        sample("A", 1000),
        sample("A", 1000),
        sample("A", 3000),
        sample("B", 2000),
        sample("B", 3000),
        sample("C", 3000),
    ];
    let matches = vp.identify(&reg, &samples).await.unwrap();
    let named: Vec<(&str, &str)> = matches
        .iter()
        .map(|m| (m.label.as_str(), m.name.as_str()))
        .collect();
    // A: 2 of 3 samples are Sarah; B: 1 of 2 is David (no majority); C: nobody.
    assert_eq!(named, [("A", "Sarah Kim")]);
    assert_eq!(matches[0].speaker_id.as_deref(), Some("spk_sarah"));

    // Another tenant's registry never searches this tenant's group.
    let other = vp
        .identify(&registry("tenant_b", &[]), &samples)
        .await
        .unwrap();
    assert!(other.is_empty());

    vp.delete("tenant_a", &sarah.feature_id).await.unwrap();
    // Deleting again (a retried erasure) succeeds: the feature is gone.
    vp.delete("tenant_a", &sarah.feature_id).await.unwrap();
    let reg = registry(
        "tenant_a",
        &[("spk_david", "David Okafor", &david.feature_id)],
    );
    let matches = vp
        .identify(&reg, &[sample("A", 1000), sample("B", 2000)])
        .await
        .unwrap();
    let named: Vec<(&str, &str)> = matches
        .iter()
        .map(|m| (m.label.as_str(), m.name.as_str()))
        .collect();
    assert_eq!(named, [("B", "David Okafor")]);
    assert_eq!(state.lock().unwrap().refused, 0);
}
