//! `GET /billing` for the original frontend's billing page: one negative `consumption` item per
//! billed task of the caller, from the cost ledger, newest first; nothing of other users.
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::costs::price_scripted;
use crate::engines::ScriptedVoiceprint;
use crate::helpers::{TestApp, TestOptions};

async fn bill(t: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (code, body) = t.get(&format!("/api/v1/billing{query}"), token).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Every field the frontend reads, with the type it expects.
fn assert_frontend_shape(item: &Value) {
    assert!(item["id"].is_string(), "{item}");
    assert!(item["amount"].is_number(), "{item}");
    assert!(
        ["consumption", "recharge"].contains(&item["type"].as_str().unwrap()),
        "{item}"
    );
    assert!(item["created_at"].is_string(), "{item}");
    assert!(item["remark"].is_string(), "{item}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_billed_task_is_one_negative_consumption_item_of_its_owner() {
    let t = TestApp::with(TestOptions {
        voiceprint: Some(Arc::new(ScriptedVoiceprint { fail: false })),
        configure: Box::new(price_scripted),
        ..Default::default()
    })
    .await;
    let token = t.login("payer").await;
    assert!(bill(&t, &token, "").await.is_empty(), "nothing billed yet");

    let first = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &first).await["state"], "success");
    let (_, cost) = t.get(&format!("/api/v1/tasks/{first}/cost"), &token).await;
    let total = cost["actual"]["total_micros"].as_i64().unwrap();
    assert!(total > 0, "{cost}");

    let items = bill(&t, &token, "").await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_frontend_shape(item);
    assert_eq!(item["id"], format!("bill_{first}"));
    assert_eq!(item["type"], "consumption");
    assert_eq!(item["task_id"], first.as_str());
    assert_eq!(
        item["amount_micros"],
        json!(-total),
        "the exact ledger total, as a charge"
    );
    let expected = -((total as f64 / 100.0).round() / 10_000.0);
    assert_eq!(item["amount"].as_f64().unwrap(), expected, "{item}");
    assert!(item["amount"].as_f64().unwrap() < 0.0, "no `+` on the page");
    assert_eq!(item["currency"], "CNY");
    assert_eq!(
        item["remark"], "incident_review",
        "the meeting type of an unnamed task"
    );
    let records = cost["records"].as_array().unwrap();
    let latest = records
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(item["created_at"], latest, "the latest ledger row's time");
    chrono::DateTime::parse_from_rfc3339(item["created_at"].as_str().unwrap()).unwrap();
    let breakdown = item["breakdown"].as_array().unwrap();
    let types: Vec<&str> = breakdown
        .iter()
        .map(|p| p["api_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["asr", "llm", "voiceprint"], "{item}");
    let parts: i64 = breakdown
        .iter()
        .map(|p| p["amount_micros"].as_i64().unwrap())
        .sum();
    assert_eq!(parts, -total, "the parts add up to the item");
    for part in breakdown {
        let api = part["api_type"].as_str().unwrap();
        let billed: i64 = records
            .iter()
            .filter(|r| r["api_type"] == api)
            .map(|r| r["amount_micros"].as_i64().unwrap())
            .sum();
        assert_eq!(part["amount_micros"], json!(-billed), "{api}");
        assert!(part["calls"].as_i64().unwrap() >= 1);
    }

    // A task the ledger never billed (cancelled before any stage ran) has no item.
    let key = t
        .upload(
            &token,
            &crate::helpers::data_file("parts/zh02_incident_review.part1.wav"),
        )
        .await;
    let (code, created) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "never_run", "asr_language": "zh-CN"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let unbilled = created["task_id"].as_str().unwrap().to_string();
    let cancel = format!("/api/v1/tasks/{unbilled}/cancel");
    let (code, _) = t
        .request(Method::POST, &cancel, Some(&token), Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        bill(&t, &token, "").await.len(),
        1,
        "no item for an unbilled task"
    );

    // Newest first, paged, and the remark follows a rename.
    let second = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let rename = json!({"name": "周会"});
    let (code, _) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tasks/{second}/rename"),
            &token,
            &rename,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let items = bill(&t, &token, "").await;
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    assert_eq!(items[0]["remark"], "周会");
    let page = bill(&t, &token, "?limit=1&offset=1").await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["id"], format!("bill_{first}"));
    let (_, clamped) = t.get("/api/v1/billing?limit=100000", &token).await;
    assert_eq!(clamped["limit"], 500);

    // Another user (another tenant under dev login) sees none of it.
    let other = t.login("not_the_payer").await;
    assert!(bill(&t, &other, "").await.is_empty());
}
