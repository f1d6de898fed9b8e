//! The flows that need a finished meeting: the real pipeline (local Whisper, CAM++, the
//! extractive writer) runs once per test inside `minutes serve --with-worker`, then every page
//! call on it is replayed as a step; all failing steps are reported together.
use std::time::Duration;

use serde_json::Value;

use super::front::Front;
use super::server::Server;
use super::steps::Steps;
use super::{artifacts, create_task, media, templates, types, unique, workspace};

/// Upload → T3 → workbench → Workspace → transcript edits → SSE → generations → artifact
/// edits → billing, in the order a user of the frontend goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_minutes_task_through_the_workspace() {
    let server = Server::with_worker().await;
    let front = Front::login(&server, &unique("cc_flow")).await;
    let other = Front::login(&server, &unique("cc_flow_other")).await;
    let task = create_task::create(&front, "tpl_standard_minutes", "en-US").await;
    let mut steps = Steps::new(&server);
    // An EventSource opened while the pipeline runs, read alongside the workbench poll.
    let live = steps
        .run(
            "SSE opened during the run",
            media::open_progress(&front, &task),
        )
        .await
        .map(|stream| tokio::spawn(media::events(stream, Duration::from_secs(420))));
    let done = create_task::follow(&front, &task).await;
    let final_state = done["state"].as_str().unwrap().to_string();
    match live {
        Some(live) => {
            steps
                .run("SSE during the run: progress … complete", async {
                    let events = live
                        .await
                        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                    media::check_sequence(&task, &events, &final_state);
                })
                .await;
        }
        None => steps.skip("SSE during the run", "the stream"),
    }
    let detail = steps
        .run(
            "Workspace mount (T4, T6, R1, F1, T1, R2)",
            workspace::open(&front, &task),
        )
        .await;
    match &detail {
        Some(d) => {
            steps
                .run(
                    "audio playback, seeking, guessed URLs",
                    media::play(&front, d),
                )
                .await;
        }
        None => steps.skip("audio playback", "T4"),
    }
    let renamed = steps
        .run(
            "speaker rename from the editor (T7 + T8)",
            workspace::rename_speaker(&front, &task),
        )
        .await;
    match &renamed {
        Some(old) => {
            steps
                .run(
                    "whole-transcript save without segment ids",
                    workspace::edit_text(&front, &task, old),
                )
                .await;
        }
        None => steps.skip("whole-transcript save", "the rename"),
    }
    steps
        .run("SSE on a finished task", async {
            let stream = media::open_progress(&front, &task).await;
            let events = media::events(stream, Duration::from_secs(30)).await;
            media::check_sequence(&task, &events, &final_state);
        })
        .await;
    let prompt = create_task::prompt_of(&front, "tpl_standard_minutes").await;
    let v2 = steps
        .run(
            "async generate \"v2 纪要\" (R3, R4, R1, R2)",
            artifacts::generate(
                &front,
                &task,
                Some("v2 纪要"),
                "tpl_standard_minutes",
                &prompt,
            ),
        )
        .await;
    let blank = steps
        .run(
            "generate with the blank template __blank__",
            artifacts::generate(
                &front,
                &task,
                Some("空白模板"),
                "__blank__",
                "请列出本次会议的三个要点。",
            ),
        )
        .await;
    steps
        .run("generate with a template without {transcript}", async {
            let body = "Summarize the meeting in three bullet points.";
            let id =
                templates::create(&front, &unique("no placeholder"), body, "meeting_minutes").await;
            artifacts::generate(&front, &task, None, &id, body).await;
        })
        .await;
    steps
        .run(
            "R5 markdown edit is a new version",
            artifacts::edit(&front, &task),
        )
        .await;
    steps
        .run(
            "reload after the edit opens the edit",
            artifacts::reload_shows_edit(&front, &task),
        )
        .await;
    match &v2 {
        Some(id) => {
            steps
                .run("R6 rename a version", artifacts::rename(&front, &task, id))
                .await;
            steps
                .run(
                    "another user's artifact is 404",
                    artifacts::foreign(&other, id),
                )
                .await;
        }
        None => steps.skip("R6 rename, another user's artifact", "the v2 generation"),
    }
    match &blank {
        Some(id) => {
            steps
                .run("R7 delete a version", artifacts::delete(&front, &task, id))
                .await;
        }
        None => steps.skip("R7 delete", "the blank generation"),
    }
    steps
        .run("B1 billing after a run", async {
            let body = front.get("B1 GET /billing", "/billing").await.ok();
            let items = types::billing("B1 GET /billing", &body);
            assert!(
                items.iter().any(|i| i["type"] == "consumption"),
                "B1 GET /billing: no consumption row after a finished task: {body}"
            );
        })
        .await;
    steps.finish();
}

/// A task whose template makes `action_items`, then the API's own speaker renames on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_items_template_task_and_speaker_renames_by_label() {
    let server = Server::with_worker().await;
    let front = Front::login(&server, &unique("cc_actions")).await;
    let task = create_task::create(&front, "tpl_action_items", "zh-CN").await;
    create_task::follow(&front, &task).await;
    let mut steps = Steps::new(&server);
    steps
        .run("R1 lists an action_items artifact, R2 renders it", async {
            let list = workspace::artifacts(&front, &task, "R1 GET /tasks/{id}/artifacts").await;
            let item: &Value = list
                .iter()
                .find(|a| a["artifact_type"] == "action_items")
                .unwrap_or_else(|| {
                    panic!("R1: no action_items artifact for a tpl_action_items task: {list:?}")
                });
            let id = item["artifact_id"].as_str().unwrap();
            let call = "R2 GET /artifacts/{id} (action_items)";
            let body = front.get(call, &format!("/artifacts/{id}")).await.ok();
            types::artifact_markdown(call, &body);
        })
        .await;
    steps
        .run(
            "PATCH /speakers by label, then the renamed name",
            workspace::rename_by_label(&front, &task),
        )
        .await;
    steps.finish();
}
