//! Exports: every format parses, carries the current names and the confirmation watermark.
use std::io::Read;

use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_in_every_format_show_current_names_and_the_watermark() {
    let t = TestApp::new().await;
    let token = t.login("exp").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    t.send_json(
        Method::PATCH,
        &format!("/api/v1/tasks/{task_id}/speakers"),
        &token,
        &json!({"speaker_mapping": {"Speaker 2": "张伟"}, "regenerate_artifacts": false}),
    )
    .await;
    let items = json!({"key_conclusions": true, "responsible_persons": true});
    let (code, _) = t
        .post_json(&format!("/api/v1/tasks/{task_id}/confirm"), &token,
            &json!({"confirmation_items": items, "responsible_person": {"id": "u1", "name": "陈静"}}))
        .await;
    assert_eq!(code, StatusCode::OK);
    let url = |f: &str| format!("/api/v1/tasks/{task_id}/export?format={f}");

    let (code, headers, md) = t.get_raw(&url("md"), &token).await;
    assert_eq!(code, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert!(headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains(&format!("{task_id}.md")));
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with("# Incident review #1"), "{md}");
    assert!(md.contains("Speaker 1, 张伟"), "renamed participants: {md}");
    assert!(md.contains("Confirmed by 陈静"), "watermark: {md}");

    let (code, _, docx) = t.get_raw(&url("docx"), &token).await;
    assert_eq!(code, StatusCode::OK);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("docx is a zip");
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(xml.contains("Incident review #1") && xml.contains("Confirmed by 陈静"));

    let (code, headers, pdf) = t.get_raw(&url("pdf"), &token).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    let text = pdf_text(&pdf);
    assert!(text.contains("Incident review #1"), "{text}");
    assert!(
        text.contains("复盘订单服务故障。")
            && text.contains("Speaker 1, 张伟")
            && text.contains("Confirmed by 陈静"),
        "{text}"
    );

    let (_, _, srt) = t.get_raw(&url("srt"), &token).await;
    let srt = String::from_utf8(srt).unwrap();
    assert!(
        srt.starts_with("1\n00:00:00,500 --> 00:00:06,000\nSpeaker 1: 订单服务"),
        "{srt}"
    );
    assert!(
        srt.contains("00:00:13,000 --> 00:00:20,000\n张伟: Redis"),
        "{srt}"
    );
    let (_, _, vtt) = t.get_raw(&url("vtt"), &token).await;
    assert!(String::from_utf8(vtt)
        .unwrap()
        .starts_with("WEBVTT\n\n00:00:00.500 --> 00:00:06.000"));

    let (code, _, body) = t.get_raw(&url("json"), &token).await;
    assert_eq!(code, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["speakers"]["Speaker 2"], "张伟");
    assert_eq!(doc["artifacts"][0]["content"]["responsible_person"], "陈静");
    assert_eq!(doc["task"]["is_confirmed"], true);

    let (code, err) = t.get(&url("odt"), &token).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "unsupported_format");
    let other = t.login("other").await;
    let (code, _) = t.get(&url("md"), &other).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = t
        .get(&format!("{}&artifact_id=artifact_nope", url("md")), &token)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

/// The text of a PDF written by the exporter: content streams decoded through its ToUnicode map.
fn pdf_text(pdf: &[u8]) -> String {
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let raw = String::from_utf8_lossy(pdf);
    let mut map = std::collections::HashMap::new();
    for block in raw.split("beginbfchar").skip(1) {
        for line in block.split("endbfchar").next().unwrap().lines() {
            let parts: Vec<&str> = line
                .split(['<', '>'])
                .filter(|p| !p.trim().is_empty())
                .collect();
            if let [gid, uni] = parts[..] {
                let units: Vec<u16> = (0..uni.len())
                    .step_by(4)
                    .map(|i| u16::from_str_radix(&uni[i..i + 4], 16).unwrap())
                    .collect();
                map.insert(gid.to_string(), String::from_utf16(&units).unwrap());
            }
        }
    }
    let mut text = String::new();
    let mut at = 0;
    while let Some(start) = find(pdf, b">>\nstream\n", at).map(|p| p + 3) {
        let end = find(pdf, b"\nendstream", start).unwrap();
        let mut inflated = Vec::new();
        let decoded = std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&pdf[start + 7..end]),
            &mut inflated,
        )
        .is_ok();
        if decoded && inflated.starts_with(b"BT") {
            for line in String::from_utf8_lossy(&inflated).lines() {
                let hex = line.split(['<', '>']).nth(1).unwrap_or("");
                for i in (0..hex.len()).step_by(4) {
                    text.push_str(map.get(&hex[i..i + 4]).map(String::as_str).unwrap_or("?"));
                }
                text.push('\n');
            }
        }
        at = end;
    }
    text
}
