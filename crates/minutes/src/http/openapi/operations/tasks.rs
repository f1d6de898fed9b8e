//! Task operations: lifecycle, transcript, speakers, confirmation, exports and artifacts.
use serde_json::{json, Value};

use super::*;

/// The answers of the task operations; `None` when `(method, path)` is not one of them.
pub(super) fn answers(
    method: &str,
    path: &str,
    query_params: &mut Vec<Value>,
    body: &mut Option<Value>,
) -> Option<Answers> {
    Some(match (method, path) {
        ("post", "/tasks") => {
            *body = json_body(schema_ref("CreateTask"));
            created(done(&[("task_id", string()), ("state", string())]))
        }
        ("get", "/tasks") => {
            *query_params = paging();
            query_params.push(query("state", one_of(&STATES)));
            query_params.push(query("folder_id", string()));
            query_params.push(query("include_deleted", of("boolean")));
            ok(array(schema_ref("Task")))
        }
        ("get", "/tasks/{id}") => ok(schema_ref("Task")),
        ("post", "/tasks/estimate") => {
            *body = json_body(optional(
                &[
                    (
                        "audio_duration",
                        json!({"type": "number", "exclusiveMinimum": 0}),
                    ),
                    ("meeting_type", nullable("string")),
                    ("enable_speaker_recognition", of("boolean")),
                ],
                &["audio_duration"],
            ));
            ok(estimate())
        }
        ("get", "/tasks/{id}/cost") => {
            let stage = object(&[
                ("stage", string()),
                ("amount", string()),
                ("amount_micros", of("integer")),
                ("estimated", nullable("string")),
                ("calls", of("integer")),
                ("priced", of("boolean")),
            ]);
            ok(object(&[
                ("task_id", string()),
                ("currency", string()),
                ("estimate", json!({"anyOf": [estimate(), {"type": "null"}]})),
                (
                    "actual",
                    object(&[
                        ("total", string()),
                        ("total_micros", of("integer")),
                        ("stages", array(stage)),
                    ]),
                ),
                ("records", array(super::service::cost_record())),
            ]))
        }
        ("get", "/tasks/{id}/status") => {
            query_params.push(query("wait", int_range(0, 60)));
            ok(schema_ref("TaskStatus"))
        }
        ("post", "/sse/tickets") => {
            *body = json_body(optional(
                &[("task_id", json!({"type": "string", "minLength": 1}))],
                &["task_id"],
            ));
            created(object(&[
                ("ticket", string()),
                ("expires_in", of("integer")),
                ("url", string()),
            ]))
        }
        ("get", "/sse/tasks/{task_id}/progress") => {
            // The credential of a browser `EventSource`, instead of the Authorization header.
            query_params.push(query("ticket", string()));
            // OpenAPI 3.1 has the schema of an event stream describe one event (`: keep-alive`
            // comments are not events).
            let event = json!({
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": one_of(&["progress", "complete", "error", "timeout"]),
                    "data": {"type": "string", "contentMediaType": "application/json"},
                },
            });
            vec![(200, Some(json!({"text/event-stream": {"schema": event}})))]
        }
        ("patch", "/tasks/{id}/rename") => {
            *body = json_body(optional(
                &[(
                    "name",
                    json!({"type": "string", "minLength": 1, "maxLength": 255}),
                )],
                &["name"],
            ));
            ok(done(&[]))
        }
        ("post", "/tasks/{id}/cancel") => {
            ok(done(&[("task_id", string()), ("previous_state", string())]))
        }
        ("post", "/tasks/{id}/retry") => ok(done(&[
            ("task_id", string()),
            ("previous_state", string()),
            ("state", string()),
            ("resume_from", string()),
        ])),
        ("get", "/tasks/{id}/history") => ok(object(&[
            ("task_id", string()),
            (
                "entries",
                array(object(&[
                    ("timestamp", time()),
                    ("from_state", nullable("string")),
                    ("state", string()),
                    ("message", string()),
                    ("details", any()),
                ])),
            ),
            (
                "steps",
                array(object(&[
                    ("step", string()),
                    ("status", string()),
                    ("attempts", of("integer")),
                    ("error", nullable("string")),
                    ("started_at", nullable("string")),
                    ("completed_at", nullable("string")),
                ])),
            ),
        ])),
        ("get", "/tasks/{id}/transcript") => {
            query_params.push(query("revision", json!({"type": "integer", "minimum": 1})));
            ok(object(&[
                ("task_id", string()),
                ("revision", of("integer")),
                ("latest_revision", nullable("integer")),
                ("author", string()),
                ("reason", string()),
                ("segments", array(of("object"))),
                ("full_text", string()),
                ("duration", of("number")),
                ("language", string()),
                ("provider", string()),
                (
                    "speaker_mapping",
                    json!({"type": "object", "additionalProperties": {"type": "string"}}),
                ),
                ("speaker_mapping_version", nullable("integer")),
                ("created_at", time()),
            ]))
        }
        ("put", "/tasks/{id}/transcript") => {
            *body = json_body(optional(
                &[
                    ("corrected_text", string()),
                    (
                        "segments",
                        array(optional(
                            &[
                                ("id", string()),
                                ("text", string()),
                                ("speaker", string()),
                                ("start_time", json!({"type": "number", "minimum": 0})),
                                ("end_time", json!({"type": "number", "minimum": 0})),
                                ("confidence", of("number")),
                            ],
                            &[],
                        )),
                    ),
                    ("regenerate_artifacts", of("boolean")),
                    ("reason", string()),
                ],
                &[],
            ));
            ok(done(&[
                ("revision", of("integer")),
                ("changes", array(schema_ref("SegmentChange"))),
                ("regenerated_artifacts", array(string())),
                ("jobs", array(string())),
            ]))
        }
        ("get", "/tasks/{id}/transcript/revisions") => ok(object(&[
            ("task_id", string()),
            (
                "revisions",
                array(object(&[
                    ("revision", of("integer")),
                    ("author", string()),
                    ("reason", string()),
                    ("created_at", time()),
                    ("segment_count", of("integer")),
                ])),
            ),
            ("total", of("integer")),
        ])),
        ("get", "/tasks/{id}/transcript/diff") => {
            query_params.push(required_query(
                "from",
                json!({"type": "integer", "minimum": 1}),
            ));
            query_params.push(query("to", json!({"type": "integer", "minimum": 1})));
            ok(object(&[
                ("task_id", string()),
                ("from", of("integer")),
                ("to", of("integer")),
                ("full_text_changed", of("boolean")),
                ("changes", array(schema_ref("SegmentChange"))),
            ]))
        }
        ("patch", "/tasks/{id}/speakers") => {
            *body = json_body(optional(
                &[
                    (
                        "speaker_mapping",
                        json!({"type": "object", "additionalProperties": {"type": "string"}}),
                    ),
                    ("regenerate_artifacts", of("boolean")),
                ],
                &["speaker_mapping"],
            ));
            ok(done(&[
                ("speaker_mapping_version", of("integer")),
                ("regenerated_artifacts", array(string())),
                ("jobs", array(string())),
            ]))
        }
        ("post", "/tasks/{id}/confirm") => {
            *body = json_body(optional(
                &[
                    (
                        "confirmation_items",
                        json!({"type": "object", "additionalProperties": {"type": "boolean"}}),
                    ),
                    (
                        "responsible_person",
                        optional(&[("id", string()), ("name", string())], &[]),
                    ),
                ],
                &[],
            ));
            ok(done(&[
                ("task_id", string()),
                ("state", string()),
                ("confirmed_by", nullable("string")),
                ("confirmed_by_name", nullable("string")),
                ("confirmed_at", nullable("string")),
            ]))
        }
        ("get", "/tasks/{id}/export") => {
            query_params.push(required_query(
                "format",
                one_of(&["md", "docx", "pdf", "srt", "vtt", "json"]),
            ));
            query_params.push(query("artifact_id", string()));
            let file = json!({"schema": {"type": "string", "format": "binary"}});
            vec![(
                200,
                Some(json!({
                    "text/markdown": file, "application/pdf": file, "application/x-subrip": file,
                    "text/vtt": file, "application/json": {"schema": {"type": "object"}},
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": file,
                })),
            )]
        }
        ("get", "/tasks/{id}/artifacts") => ok(object(&[
            ("task_id", string()),
            (
                "artifacts_by_type",
                json!({"type": "object", "additionalProperties": array(schema_ref("ArtifactInfo"))}),
            ),
            ("total_count", of("integer")),
        ])),
        ("get", "/tasks/{id}/artifacts/{artifact_id}") | ("get", "/artifacts/{artifact_id}") => {
            ok(object(&[("artifact", schema_ref("Artifact"))]))
        }
        ("delete", "/tasks/{id}/artifacts/{artifact_id}") => ok(done(&[("artifact_id", string())])),
        ("put", "/artifacts/{artifact_id}") => {
            *body = json_body(optional(&[("content", any())], &["content"]));
            ok(done(&[
                ("artifact_id", string()),
                ("version", of("integer")),
                ("edited_from", string()),
                ("artifact", schema_ref("Artifact")),
            ]))
        }
        ("patch", "/artifacts/{artifact_id}") => {
            *body = json_body(optional(
                &[(
                    "display_name",
                    json!({"type": "string", "minLength": 1, "maxLength": 256}),
                )],
                &["display_name"],
            ));
            ok(done(&[
                ("artifact_id", string()),
                ("display_name", string()),
            ]))
        }
        ("get", "/artifacts/{artifact_id}/status") => ok(object(&[
            ("artifact_id", string()),
            ("state", one_of(&["processing", "success", "failed"])),
            ("task_id", string()),
        ])),
        ("get", "/tasks/{id}/artifacts/{artifact_type}/versions") => ok(object(&[
            ("task_id", string()),
            ("artifact_type", one_of(&ARTIFACT_TYPES)),
            ("total_count", of("integer")),
            ("versions", array(schema_ref("ArtifactInfo"))),
        ])),
        ("post", "/tasks/{id}/artifacts/{artifact_type}/generate")
        | ("post", "/tasks/{id}/artifacts/{artifact_type}/regenerate")
        | ("post", "/tasks/{id}/regenerate") => {
            (*query_params, *body) = generate_params();
            vec![
                (
                    201,
                    json_content(done(&[
                        ("artifact_id", string()),
                        ("version", of("integer")),
                        ("display_name", nullable("string")),
                        ("state", one_of(&["success"])),
                        ("content", any()),
                    ])),
                ),
                (
                    202,
                    json_content(done(&[
                        ("job_id", string()),
                        ("artifact_id", string()),
                        ("display_name", nullable("string")),
                        ("state", one_of(&["processing"])),
                        ("status", string()),
                    ])),
                ),
            ]
        }
        ("get", "/tasks/{id}/hotwords") => ok(object(&[
            ("task_id", string()),
            ("hotword_set_id", nullable("string")),
            ("supplied", array(string())),
            (
                "found",
                array(object(&[
                    ("word", string()),
                    ("count", of("integer")),
                    ("segment_ids", array(string())),
                ])),
            ),
            ("missing", array(string())),
            ("transcript_revision", of("integer")),
        ])),
        _ => return None,
    })
}

fn generate_params() -> (Vec<Value>, Option<Value>) {
    let body = optional(
        &[
            ("prompt_instance", schema_ref("PromptInstance")),
            ("artifact_type", one_of(&ARTIFACT_TYPES)),
            ("name", json!({"type": "string", "maxLength": 256})),
        ],
        &[],
    );
    (
        vec![query("wait", int_range(0, 300))],
        Some(json!({"required": false, "content": {"application/json": {"schema": body}}})),
    )
}

/// What `POST /tasks/estimate` answers (and `GET /tasks/{id}/cost` embeds).
fn estimate() -> Value {
    let row = object(&[
        ("stage", string()),
        ("api_type", one_of(&["asr", "voiceprint", "llm"])),
        ("provider", string()),
        ("model", string()),
        ("units", of("number")),
        ("unit", string()),
        ("amount", string()),
        ("amount_micros", of("integer")),
        ("priced", of("boolean")),
    ]);
    object(&[
        ("currency", string()),
        ("audio_duration", of("number")),
        ("total_cost", of("number")),
        (
            "cost_breakdown",
            object(&[
                ("asr", of("number")),
                ("voiceprint", of("number")),
                ("llm", of("number")),
            ]),
        ),
        ("total", string()),
        ("total_micros", of("integer")),
        ("stages", array(row)),
        ("per_regeneration", string()),
        ("assumptions", of("object")),
    ])
}
