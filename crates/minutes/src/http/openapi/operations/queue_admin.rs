//! The queue operations: `/queue/status`, `/admin/workers` and the dead letters under
//! `/admin/jobs` (`http/queue_admin.rs`).
use serde_json::{json, Value};

use super::*;
use crate::domain::job::{kind_names, queues};
use crate::store::{JOB_STATES, MAX_JOB_BATCH, MAX_JOB_PAGE};

/// `object` that may also be `null`.
fn nullable_object(props: &[(&str, Value)]) -> Value {
    let mut o = object(props);
    o["type"] = json!(["object", "null"]);
    o
}

fn attempt() -> Vec<(&'static str, Value)> {
    vec![
        ("attempt", nullable("integer")),
        ("at", nullable("string")),
        ("worker", nullable("string")),
        ("code", string()),
        ("detail", string()),
    ]
}

fn job_props() -> Vec<(&'static str, Value)> {
    vec![
        ("job_id", string()),
        ("kind", string()),
        ("queue", string()),
        ("state", one_of(&JOB_STATES)),
        ("tenant_id", nullable("string")),
        ("task_id", nullable("string")),
        ("priority", of("integer")),
        ("attempts", of("integer")),
        ("max_attempts", of("integer")),
        ("due_at", nullable("string")),
        ("locked_by", nullable("string")),
        ("lease_expires_at", nullable("string")),
        ("created_at", time()),
        ("updated_at", time()),
        ("finished_at", nullable("string")),
        ("last_error", nullable_object(&attempt())),
    ]
}

fn job() -> Value {
    object(&job_props())
}

/// A requeue or discard of one job.
fn job_done() -> Value {
    done(&[("job", job())])
}

/// The answers of the queue operations; `None` when `(method, path)` is not one of them.
pub(super) fn answers(
    method: &str,
    path: &str,
    query_params: &mut Vec<Value>,
    body: &mut Option<Value>,
) -> Option<Answers> {
    let counts = |extra: &[(&str, Value)]| {
        let mut props = vec![
            ("depth", of("integer")),
            ("scheduled", of("integer")),
            ("running", of("integer")),
            ("dead", of("integer")),
            ("oldest_age_seconds", of("number")),
        ];
        props.extend(extra.iter().cloned());
        object(&props)
    };
    Some(match (method, path) {
        ("get", "/queue/status") => {
            let schedule = optional(
                &[
                    ("kind", string()),
                    ("cron", string()),
                    ("next_run_at", nullable("string")),
                    (
                        "last_run",
                        nullable_object(&[
                            ("job_id", string()),
                            ("state", string()),
                            ("finished_at", nullable("string")),
                        ]),
                    ),
                ],
                &["kind", "cron", "next_run_at"],
            );
            ok(object(&[
                ("queues", array(counts(&[("queue", one_of(&queues()))]))),
                ("totals", counts(&[])),
                (
                    "workers",
                    object(&[("active", of("integer")), ("lost", of("integer"))]),
                ),
                ("delivery", one_of(&["database", "redis", "rabbitmq"])),
                ("schedules", array(schedule)),
                ("scope", one_of(&["tenant", "platform"])),
                ("generated_at", nullable("string")),
            ]))
        }
        ("get", "/admin/workers") => {
            let worker = object(&[
                ("id", string()),
                ("host", string()),
                ("pid", of("integer")),
                ("version", string()),
                ("queues", array(string())),
                ("concurrency", of("integer")),
                ("running", of("integer")),
                ("delivery", string()),
                ("state", one_of(&["active", "stopped", "lost"])),
                ("started_at", time()),
                ("last_seen_at", time()),
                ("stopped_at", nullable("string")),
            ]);
            ok(object(&[
                ("workers", array(worker)),
                ("total", of("integer")),
                ("active", of("integer")),
                ("lost", of("integer")),
                ("stopped", of("integer")),
            ]))
        }
        ("get", "/admin/jobs") => {
            query_params.push(query("state", one_of(&JOB_STATES)));
            query_params.push(query("queue", one_of(&queues())));
            query_params.push(query("kind", one_of(&kind_names())));
            query_params.push(query("task_id", json!({"type": "string", "minLength": 1})));
            query_params.push(query("tenant", string()));
            query_params.push(query("limit", int_range(1, MAX_JOB_PAGE)));
            query_params.push(query("cursor", string()));
            ok(object(&[
                ("jobs", array(job())),
                ("next_cursor", nullable("string")),
                ("limit", of("integer")),
            ]))
        }
        ("get", "/admin/jobs/{id}") => {
            let mut props = job_props();
            props.extend([
                ("lease_gen", of("integer")),
                ("payload", of("object")),
                ("errors", array(object(&attempt()))),
            ]);
            ok(object(&[("job", object(&props))]))
        }
        ("post", "/admin/jobs/requeue") => {
            let mut request = optional(
                &[
                    (
                        "job_ids",
                        json!({"type": "array", "minItems": 1, "maxItems": MAX_JOB_BATCH,
                               "items": {"type": "string", "minLength": 1}}),
                    ),
                    ("state", one_of(&["dead"])),
                    ("kind", one_of(&kind_names())),
                    ("queue", one_of(&queues())),
                    ("task_id", json!({"type": "string", "minLength": 1})),
                ],
                &[],
            );
            request["additionalProperties"] = json!(false);
            *body = json_body(request);
            let result = optional(
                &[
                    ("job_id", string()),
                    (
                        "outcome",
                        one_of(&["requeued", "not_found", "not_dead", "task_moved_on"]),
                    ),
                    ("kind", string()),
                    ("queue", string()),
                    ("task_reopened", of("boolean")),
                    ("task_id", string()),
                    ("state", string()),
                ],
                &["job_id", "outcome"],
            );
            ok(done(&[
                ("requeued", of("integer")),
                ("skipped", of("integer")),
                ("capped", of("boolean")),
                ("results", array(result)),
            ]))
        }
        ("post", "/admin/jobs/{id}/requeue") => {
            let mut answer = job_done();
            if let Some(required) = answer["required"].as_array_mut() {
                required.push(json!("task_reopened"));
            }
            answer["properties"]["task_reopened"] = of("boolean");
            ok(answer)
        }
        ("post", "/admin/jobs/{id}/discard") => ok(job_done()),
        _ => return None,
    })
}
