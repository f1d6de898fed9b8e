//! What every chaos run must end with: each task `success` with exactly one version of its
//! artifact (through the API, as a user sees it), each of its five stages run to completion
//! exactly once (one `done` job per stage: a stage that completed twice would have enqueued its
//! successor twice; one transcript revision), every step settled, and no job left behind.
use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use super::deployment::Deployment;

const STAGES: [&str; 5] = [
    "prepare_audio",
    "transcribe",
    "identify_speakers",
    "correct_speakers",
    "generate_artifact",
];

/// What the run cost beyond one claim per stage.
#[derive(Debug)]
pub struct Summary {
    /// Claims that did not complete (killed, fenced or failed attempts): Σ (lease_gen − 1).
    pub extra_claims: i64,
    /// Transcription requests the ASR stub received (one per task when nothing is interrupted).
    pub asr_calls: usize,
}

pub async fn every_task_exactly_once(d: &Deployment, token: &str, tasks: &[String]) -> Summary {
    let logs = || d.logs(30);
    for task in tasks {
        let (status, body) = d
            .call(
                Method::GET,
                &format!("/tasks/{task}/status"),
                Some(token),
                None,
            )
            .await;
        assert!(
            status.is_success(),
            "GET /tasks/{task}/status: {status} {body}"
        );
        assert_eq!(body["state"], "success", "task {task}: {body}{}", logs());
        let (status, body) = d
            .call(
                Method::GET,
                &format!("/tasks/{task}/artifacts"),
                Some(token),
                None,
            )
            .await;
        assert!(
            status.is_success(),
            "GET /tasks/{task}/artifacts: {status} {body}"
        );
        assert_eq!(
            body["total_count"], 1,
            "task {task}: exactly one artifact version: {body}"
        );
        let by_type = body["artifacts_by_type"]
            .as_object()
            .expect("artifacts_by_type");
        let versions: Vec<&Value> = by_type
            .values()
            .flat_map(|v| v.as_array().unwrap().iter())
            .collect();
        assert_eq!(versions.len(), 1, "task {task}: {body}");
        assert_eq!(versions[0]["version"], 1, "task {task}: {body}");
    }

    let jobs = d.db.stage_jobs().await;
    let mut per_task: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (task, kind, state, _, _) in &jobs {
        per_task.entry(task).or_default().push((kind, state));
    }
    assert_eq!(
        per_task.len(),
        tasks.len(),
        "jobs of other tasks, or tasks without jobs: {jobs:?}"
    );
    for task in tasks {
        let mut got = per_task.get(task.as_str()).cloned().unwrap_or_default();
        got.sort();
        let mut want: Vec<(&str, &str)> = STAGES.iter().map(|s| (*s, "done")).collect();
        want.sort();
        assert_eq!(
            got, want,
            "task {task}: one finished job per stage, nothing twice, nothing left"
        );
    }

    let steps = d.db.steps().await;
    for task in tasks {
        let mine: Vec<_> = steps.iter().filter(|s| &s.0 == task).collect();
        assert_eq!(mine.len(), STAGES.len(), "task {task}: {steps:?}");
        for (_, step, status) in mine {
            assert!(
                status == "success" || status == "skipped",
                "task {task}: step {step} is {status}"
            );
        }
    }

    let revisions = d.db.transcript_revisions().await;
    for task in tasks {
        assert_eq!(
            revisions.get(task),
            Some(&1),
            "task {task}: one transcript revision: {revisions:?}"
        );
    }

    Summary {
        extra_claims: jobs.iter().map(|j| j.3 - 1).sum(),
        asr_calls: d.asr.started(),
    }
}
