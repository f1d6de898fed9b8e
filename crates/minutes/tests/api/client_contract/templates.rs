//! The Templates page, the template selector and the default-template lookup (contract §2.4.3,
//! §2.7, §3.11): the original template ids, field types, CRUD with `?user_id=`, a body without
//! `{transcript}`, and no 401/403 for any refusal.
use reqwest::Method;
use serde_json::{json, Value};

use super::front::Front;
use super::server::Server;
use super::shape::{array, string};
use super::steps::Steps;
use super::{query, types, unique};

/// The ids the original seeds and saved `prompt_instance`s name.
pub const ORIGINAL_TEMPLATES: [&str; 4] = [
    "tpl_standard_minutes",
    "tpl_action_items",
    "tpl_summary_notes",
    "tpl_technical_minutes",
];

/// P1 as every page sends it (`api/templates.ts:12-20`), each template checked.
pub async fn list(front: &Front) -> Vec<Value> {
    let call = "P1 GET /prompt-templates";
    let path = format!(
        "/prompt-templates?{}",
        query(&[("user_id", &front.user_id), ("tenant_id", &front.tenant_id)])
    );
    let body = front.get(call, &path).await.ok();
    let templates = array(call, &body, "templates");
    for i in 0..templates.len() {
        types::template(call, &body, &format!("templates[{i}]"));
    }
    templates.clone()
}

fn find<'a>(templates: &'a [Value], id: &str) -> Option<&'a Value> {
    templates.iter().find(|t| t["template_id"] == id)
}

fn user_query(front: &Front) -> String {
    query(&[("user_id", &front.user_id)])
}

/// P3 with the body of the Templates page's "create" (`store/template.ts:81-88`).
pub async fn create(front: &Front, title: &str, prompt_body: &str, artifact_type: &str) -> String {
    let call = "P3 POST /prompt-templates?user_id=";
    let body = front
        .send(
            call,
            Method::POST,
            &format!("/prompt-templates?{}", user_query(front)),
            Some(json!({
                "title": title, "prompt_body": prompt_body, "artifact_type": artifact_type,
                "description": "", "supported_languages": ["zh-CN"], "parameter_schema": {}
            })),
        )
        .await
        .ok();
    string(call, &body, "template_id").to_string()
}

async fn original_ids(front: &Front) {
    let templates = list(front).await;
    for id in ORIGINAL_TEMPLATES {
        let t = find(&templates, id).unwrap_or_else(|| {
            panic!("P1 GET /prompt-templates: `templates` lacks the original {id}")
        });
        assert!(
            t["is_system"] == true || t["scope"] == "global",
            "P1 GET /prompt-templates: {id} is neither is_system nor scope 'global': {t}"
        );
    }
    let detail = front
        .get(
            "P2 GET /prompt-templates/{id}",
            "/prompt-templates/tpl_standard_minutes",
        )
        .await
        .ok();
    types::template("P2 GET /prompt-templates/{id}", &detail, "template");
    assert_eq!(
        detail["template"]["template_id"], "tpl_standard_minutes",
        "P2 GET /prompt-templates/tpl_standard_minutes: another template: {detail}"
    );
}

async fn crud(front: &Front) {
    let title = unique("合同模板");
    let id = create(front, &title, "请总结会议：{transcript}", "meeting_minutes").await;
    let listed = list(front).await;
    let mine = find(&listed, &id)
        .unwrap_or_else(|| panic!("P1 after P3: the new template {id} is not listed"));
    assert_eq!(mine["title"], title.as_str(), "P1 after P3: {mine}");
    assert_eq!(
        (mine["scope"].as_str(), mine["is_system"].as_bool()),
        (Some("private"), Some(false)),
        "P1 after P3: a user's template belongs under 私人模板: {mine}"
    );
    front
        .send(
            "P4 PUT /prompt-templates/{id}?user_id=",
            Method::PUT,
            &format!("/prompt-templates/{id}?{}", user_query(front)),
            Some(json!({"title": "改过的标题", "description": "新的描述", "prompt_body": "只写要点"})),
        )
        .await
        .ok();
    let detail = front
        .get("P2 after P4", &format!("/prompt-templates/{id}"))
        .await
        .ok();
    types::template("P2 after P4", &detail, "template");
    let t = &detail["template"];
    assert_eq!(
        (&t["title"], &t["description"], &t["prompt_body"]),
        (&json!("改过的标题"), &json!("新的描述"), &json!("只写要点")),
        "P2 after P4: the update did not stick: {t}"
    );
    front
        .send(
            "P5 DELETE /prompt-templates/{id}?user_id=",
            Method::DELETE,
            &format!("/prompt-templates/{id}?{}", user_query(front)),
            None,
        )
        .await
        .ok();
    assert!(
        find(&list(front).await, &id).is_none(),
        "P1 after P5: the deleted template {id} is still listed"
    );
    front
        .get(
            "P2 of a deleted template",
            &format!("/prompt-templates/{id}"),
        )
        .await
        .expect(
            &[404],
            "a deleted default template falls back quietly on 404",
        );
}

/// "另存为新模板" from a system template (`TemplateSelector.tsx:199-219`) and a body without
/// the `{transcript}` placeholder (the editor's and the guide's own bodies have none).
async fn save_as_and_no_placeholder(front: &Front) {
    let templates = list(front).await;
    let source = find(&templates, "tpl_action_items")
        .cloned()
        .expect("P1: tpl_action_items is listed");
    let call = "P3 POST /prompt-templates (save as)";
    let body = front
        .send(
            call,
            Method::POST,
            &format!("/prompt-templates?{}", user_query(front)),
            Some(json!({
                "title": format!("{}-副本", source["title"].as_str().unwrap_or("")),
                "prompt_body": source["prompt_body"],
                "artifact_type": source["artifact_type"],
                "description": source["description"],
                "supported_languages": source["supported_languages"],
                "parameter_schema": source["parameter_schema"],
            })),
        )
        .await
        .ok();
    string(call, &body, "template_id");
    create(
        front,
        &unique("无占位符"),
        "请用三句话总结这次会议的结论。",
        "meeting_minutes",
    )
    .await;
}

async fn refusals(front: &Front, other: &Front) {
    front
        .send(
            "P5 DELETE of a system template",
            Method::DELETE,
            &format!(
                "/prompt-templates/tpl_standard_minutes?{}",
                user_query(front)
            ),
            None,
        )
        .await
        .expect(
            &[400, 404, 409],
            "a business refusal, never 401/403 (the frontend logs out)",
        );
    assert!(
        find(&list(other).await, "tpl_standard_minutes").is_some(),
        "P1: one user's DELETE removed the system template for everyone"
    );
    let id = create(front, &unique("私有"), "{transcript}", "meeting_minutes").await;
    other
        .get(
            "P2 of another user's template",
            &format!("/prompt-templates/{id}"),
        )
        .await
        .expect(&[404], "someone else's template is not found, never 403");
    other
        .send(
            "P4 of another user's template",
            Method::PUT,
            &format!("/prompt-templates/{id}?{}", user_query(other)),
            Some(json!({"title": "x", "description": "", "prompt_body": "y"})),
        )
        .await
        .expect(&[404], "someone else's template is not found, never 403");
    other
        .send(
            "P5 of another user's template",
            Method::DELETE,
            &format!("/prompt-templates/{id}?{}", user_query(other)),
            None,
        )
        .await
        .expect(&[404], "someone else's template is not found, never 403");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_page_selector_and_original_ids() {
    let server = Server::with_worker().await;
    let front = Front::login(&server, &unique("cc_tpl")).await;
    let other = Front::login(&server, &unique("cc_tpl_other")).await;
    let mut steps = Steps::new(&server);
    steps
        .run("original template ids (P1, P2)", original_ids(&front))
        .await;
    steps
        .run("Templates page CRUD (P3, P4, P5)", crud(&front))
        .await;
    steps
        .run(
            "save as, and a body without {transcript}",
            save_as_and_no_placeholder(&front),
        )
        .await;
    steps
        .run("refusals are 400/404/409", refusals(&front, &other))
        .await;
    steps.finish();
}
