//! The cost ledger: estimates from the configured engines and price tables, every completed
//! step billed exactly once (retries included), regeneration billed as a new call, the
//! per-task and per-tenant views, and the Prometheus counters that follow the ledger.
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::engines::{ScriptedAsr, ScriptedVoiceprint};
use crate::helpers::{TestApp, TestOptions, JWT_SECRET};
use minutes::config::{Config, Micros, TokenPrice};
use minutes::providers::ProviderError;

/// Prices for the scripted engines: 0.00005/s of audio, 0.002 per voiceprint call, and
/// 0.0035 / 0.0105 per 1K input / output tokens.
pub(crate) fn price_scripted(c: &mut Config) {
    let p = &mut c.pricing;
    p.asr_per_second.insert("scripted-asr".into(), Micros(50));
    p.voiceprint_per_call
        .insert("scripted-voiceprint".into(), Micros(2_000));
    p.llm.insert(
        "scripted-llm".into(),
        TokenPrice {
            input_per_1k: Micros(3_500),
            output_per_1k: Micros(10_500),
        },
    );
}

fn sub_of(token: &str) -> String {
    let mut v = jsonwebtoken::Validation::default();
    v.validate_aud = false;
    v.set_issuer(&["minutes"]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &v,
    )
    .unwrap();
    data.claims["sub"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_estimate_prices_the_configured_engines_and_validates_its_input() {
    let t = TestApp::with(TestOptions {
        voiceprint: Some(Arc::new(ScriptedVoiceprint { fail: false })),
        configure: Box::new(price_scripted),
        ..Default::default()
    })
    .await;
    let token = t.login("est").await;
    let (code, e) = t
        .post_json(
            "/api/v1/tasks/estimate",
            &token,
            &json!({"audio_duration": 600, "meeting_type": "sprint"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{e}");
    let cfg = &t.app.config;
    let a = &cfg.pricing.estimate;
    let calls = a.speakers * cfg.voiceprint.samples_per_label as u64;
    let input = 600 * a.input_tokens_per_audio_second + a.prompt_overhead_tokens;
    let llm = (input * 3_500 + a.output_tokens_per_artifact * 10_500 + 500) / 1000;
    let expected = 600 * 50 + calls * 2_000 + llm;
    assert_eq!(e["total_micros"], json!(expected), "{e}");
    assert_eq!(e["currency"], "CNY");
    assert_eq!(e["meeting_type"], "sprint");
    let stages: Vec<&str> = e["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["transcribe", "identify_speakers", "generate_artifact"]
    );
    assert_eq!(e["stages"][0]["provider"], "scripted-asr");
    assert_eq!(e["stages"][0]["amount"], "0.0300");
    // The original API's numbers: yuan, 4 decimals, and a breakdown that adds up.
    let b = &e["cost_breakdown"];
    assert_eq!(b["asr"], json!(0.03));
    let sum =
        b["asr"].as_f64().unwrap() + b["voiceprint"].as_f64().unwrap() + b["llm"].as_f64().unwrap();
    assert!(
        (sum - e["total_cost"].as_f64().unwrap()).abs() < 0.0002,
        "{e}"
    );
    assert_eq!(e["per_regeneration"], e["stages"][2]["amount"]);

    let (_, without) = t
        .post_json(
            "/api/v1/tasks/estimate",
            &token,
            &json!({"audio_duration": 600, "enable_speaker_recognition": false}),
        )
        .await;
    assert_eq!(without["stages"].as_array().unwrap().len(), 2);
    assert_eq!(without["total_micros"], json!(expected - calls * 2_000));

    for bad in [
        json!({"audio_duration": 0}),
        json!({"audio_duration": -5}),
        json!({"audio_duration": 1e9}),
    ] {
        let (code, err) = t.post_json("/api/v1/tasks/estimate", &token, &bad).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert_eq!(err["code"], "invalid_audio_duration");
        assert_eq!(
            err["errors"][0]["loc"],
            json!(["body", "audio_duration"]),
            "{err}"
        );
    }
    // Unknown fields are ignored, as the original (pydantic) did; a missing duration is named.
    let (code, e) = t
        .post_json(
            "/api/v1/tasks/estimate",
            &token,
            &json!({"audio_duration": 600, "currency_hint": "USD"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{e}");
    assert_eq!(e["total_micros"], json!(expected), "{e}");
    let (code, err) = t
        .post_json("/api/v1/tasks/estimate", &token, &json!({"duration": 60}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["errors"][0]["loc"], json!(["body", "audio_duration"]));
    assert_eq!(err["errors"][0]["type"], "missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_is_billed_once_across_retries_and_regeneration_is_a_new_bill() {
    let asr = ScriptedAsr::default();
    asr.failures
        .lock()
        .unwrap()
        .push_back(ProviderError::Unavailable {
            provider: "scripted-asr".into(),
            detail: "503".into(),
        });
    let t = TestApp::with(TestOptions {
        asr,
        configure: Box::new(price_scripted),
        ..Default::default()
    })
    .await;
    let token = t.login("bill").await;
    let task_id = t.create_two_part_task(&token).await;
    // prepare_audio, then transcribe fails once; after the backoff the rest runs.
    assert_eq!(t.run_jobs_until_idle().await, 2);
    t.clock.advance_ms(60_000);
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");

    let (code, cost) = t
        .get(&format!("/api/v1/tasks/{task_id}/cost"), &token)
        .await;
    assert_eq!(code, StatusCode::OK, "{cost}");
    let records = cost["records"].as_array().unwrap();
    let asr: Vec<&Value> = records.iter().filter(|r| r["api_type"] == "asr").collect();
    assert_eq!(
        asr.len(),
        1,
        "one ASR bill despite two attempts: {records:?}"
    );
    assert_eq!(asr[0]["attempt"], 2, "billed by the attempt that succeeded");
    assert_eq!(asr[0]["stage"], "transcribe");
    let duration = t.task_status(&token, &task_id).await["audio_duration"]
        .as_f64()
        .unwrap();
    let asr_micros = ((duration * 1000.0).round() as i64 * 50 + 500) / 1000;
    assert_eq!(asr[0]["amount_micros"], json!(asr_micros));
    assert_eq!(asr[0]["priced"], true);
    // 100 prompt + 50 completion tokens: (100 × 3500 + 50 × 10500) / 1000 = 875 micros.
    let llm: Vec<&Value> = records.iter().filter(|r| r["api_type"] == "llm").collect();
    assert_eq!(llm.len(), 1);
    assert_eq!(llm[0]["amount_micros"], 875);
    assert_eq!(llm[0]["model"], "scripted-1");
    assert_eq!(cost["actual"]["total_micros"], json!(asr_micros + 875));
    let stages = cost["actual"]["stages"].as_array().unwrap();
    assert_eq!(stages[0]["stage"], "transcribe");
    assert_eq!(
        stages[0]["estimated"], stages[0]["amount"],
        "ASR estimate = actual for a known duration"
    );
    assert!(cost["estimate"]["total_micros"].as_i64().unwrap() > 0);

    // A regeneration is a new model call: a new row on its own job, the old ones untouched.
    let (code, gen) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{gen}");
    t.run_jobs_until_idle().await;
    let (_, cost) = t
        .get(&format!("/api/v1/tasks/{task_id}/cost"), &token)
        .await;
    let llm: Vec<&Value> = cost["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["api_type"] == "llm")
        .collect();
    assert_eq!(llm.len(), 2, "{cost}");
    assert_ne!(llm[0]["job_id"], llm[1]["job_id"]);
    assert_eq!(cost["actual"]["total_micros"], json!(asr_micros + 2 * 875));

    // The counters follow the ledger.
    let (code, _, text) = t.get_raw("/metrics", "").await;
    assert_eq!(code, StatusCode::OK);
    let text = String::from_utf8(text).unwrap();
    for line in [
        r#"minutes_provider_cost_micros_total{provider="scripted-llm",api_type="llm"} 1750"#.to_string(),
        format!(r#"minutes_provider_cost_micros_total{{provider="scripted-asr",api_type="asr"}} {asr_micros}"#),
        r#"minutes_jobs_total{kind="transcribe",outcome="retried"} 1"#.to_string(),
        r#"minutes_jobs_total{kind="transcribe",outcome="succeeded"} 1"#.to_string(),
        r#"minutes_http_requests_total{method="GET",route="/api/v1/tasks/{id}/cost",status="200"} 2"#.to_string(),
        r#"minutes_queue_depth{queue="llm"} 0"#.to_string(),
    ] {
        assert!(text.contains(&line), "missing `{line}` in\n{text}");
    }
    // Finished jobs are history, not queue state: a scrape never counts them.
    assert!(
        !text.contains(r#"minutes_queue_jobs{state="done"}"#),
        "{text}"
    );
    assert!(!text.contains(&task_id), "no ids in metric labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_ledger_is_for_admins_of_that_tenant_and_platform_operators() {
    let mut t = TestApp::with(TestOptions {
        configure: Box::new(price_scripted),
        ..Default::default()
    })
    .await;
    let owner = t.login("ledger").await;
    let task_id = t.create_two_part_task(&owner).await;
    t.run_jobs_until_idle().await;
    let other = t.login("ledger_other").await;

    let (code, page) = t.get("/api/v1/admin/costs", &owner).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert_eq!(page["total_count"], 2, "{page}");
    assert!(page["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["task_id"] == json!(task_id)));
    let totals = page["totals"].as_array().unwrap();
    let sum: i64 = totals
        .iter()
        .map(|t| t["amount_micros"].as_i64().unwrap())
        .sum();
    assert_eq!(page["total_micros"], json!(sum));
    let (_, paged) = t.get("/api/v1/admin/costs?limit=1&offset=1", &owner).await;
    assert_eq!(paged["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        paged["total_count"], 2,
        "the count covers the range, not the page"
    );
    let (_, none) = t
        .get(
            "/api/v1/admin/costs?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z",
            &owner,
        )
        .await;
    assert_eq!(none["total_count"], 0);
    let (code, _) = t
        .get(
            "/api/v1/admin/costs?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
            &owner,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant's admin sees their own (empty) ledger and cannot name ours.
    let (_, theirs) = t.get("/api/v1/admin/costs", &other).await;
    assert_eq!(theirs["total_count"], 0);
    let (code, _) = t
        .get("/api/v1/admin/costs?tenant=tenant_ledger", &other)
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = t
        .get(&format!("/api/v1/tasks/{task_id}/cost"), &other)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A platform operator reads any tenant's ledger.
    let operator = sub_of(&other);
    t.reopen(move |c| {
        price_scripted(c);
        c.auth.operators = vec![operator];
    })
    .await;
    let (code, ours) = t
        .get("/api/v1/admin/costs?tenant=tenant_ledger", &other)
        .await;
    assert_eq!(code, StatusCode::OK, "{ours}");
    assert_eq!(ours["total_count"], 2);
}
