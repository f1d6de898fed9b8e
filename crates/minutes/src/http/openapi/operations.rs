//! Per operation: query parameters, request body and the success answers (errors are the
//! shared `Error` body, added by `document()`).
use serde_json::{json, Value};

use super::schemas::{
    any, api_key, array, int_range, nullable, object, of, one_of, optional, schema_ref, string,
    time, ARTIFACT_TYPES, STATES,
};
use crate::domain::task::{ASR_LANGUAGES, OUTPUT_LANGUAGES};
use crate::domain::voiceprint::CONSENT_METHODS;

/// What the document says about one operation beyond `ROUTES`.
pub(super) struct Operation {
    pub(super) query: Vec<Value>,
    pub(super) body: Option<Value>,
    /// (status, `content` object or none for an empty body)
    pub(super) answers: Vec<(u16, Option<Value>)>,
}

fn json_content(schema: Value) -> Option<Value> {
    Some(json!({"application/json": {"schema": schema}}))
}

fn ok(schema: Value) -> Vec<(u16, Option<Value>)> {
    vec![(200, json_content(schema))]
}

fn created(schema: Value) -> Vec<(u16, Option<Value>)> {
    vec![(201, json_content(schema))]
}

fn no_content() -> Vec<(u16, Option<Value>)> {
    vec![(204, None)]
}

fn json_body(schema: Value) -> Option<Value> {
    Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}))
}

fn form_body(schema: Value) -> Option<Value> {
    Some(json!({"required": true, "content": {"multipart/form-data": {"schema": schema}}}))
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

fn required_query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": true, "schema": schema})
}

/// `{success: true, message}` plus the listed fields.
fn done(extra: &[(&str, Value)]) -> Value {
    let mut props = vec![("success", of("boolean")), ("message", string())];
    props.extend(extra.iter().cloned());
    object(&props)
}

fn paging() -> Vec<Value> {
    vec![
        query("limit", int_range(1, 1000)),
        query("offset", json!({"type": "integer", "minimum": 0})),
    ]
}

fn hotword_form(required: &[&str]) -> Option<Value> {
    form_body(optional(
        &[
            (
                "name",
                json!({"type": "string", "minLength": 1, "maxLength": 256}),
            ),
            ("scope", one_of(&["user", "tenant", "global"])),
            ("asr_language", one_of(&ASR_LANGUAGES)),
            ("description", string()),
            (
                "hotwords_file",
                // `word|weight` lines of UTF-8 text.
                json!({"type": "string", "contentMediaType": "text/plain"}),
            ),
        ],
        required,
    ))
}

fn generate_params() -> (Vec<Value>, Option<Value>) {
    let body = optional(
        &[
            ("prompt_instance", schema_ref("PromptInstance")),
            ("artifact_type", one_of(&ARTIFACT_TYPES)),
        ],
        &[],
    );
    (
        vec![query("wait", int_range(0, 300))],
        Some(json!({"required": false, "content": {"application/json": {"schema": body}}})),
    )
}

/// `None` for a route this table does not describe (a unit test keeps that from happening).
pub(super) fn operation(method: &str, path: &str) -> Option<Operation> {
    let mut query_params = Vec::new();
    let mut body = None;
    let answers = match (method, path) {
        ("get", "/") => ok(object(&[
            ("message", string()),
            ("version", string()),
            ("docs", string()),
        ])),
        ("get", "/health") => ok(object(&[
            ("status", string()),
            ("version", string()),
            ("timestamp", time()),
        ])),
        ("get", "/ready") => {
            let ready = object(&[
                ("status", one_of(&["ready", "not_ready"])),
                ("version", string()),
                (
                    "dependencies",
                    object(&[
                        ("database", string()),
                        ("backend", string()),
                        ("object_store", string()),
                    ]),
                ),
            ]);
            vec![
                (200, json_content(ready.clone())),
                (503, json_content(ready)),
            ]
        }
        ("post", "/auth/dev/login") => {
            body = json_body(optional(
                &[(
                    "username",
                    json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}),
                )],
                &["username"],
            ));
            ok(object(&[
                ("access_token", string()),
                ("token_type", string()),
                ("user_id", string()),
                ("tenant_id", string()),
                ("expires_in", of("integer")),
            ]))
        }
        ("post", "/upload") => {
            body = form_body(optional(
                &[("file", json!({"type": "string", "format": "binary"}))],
                &["file"],
            ));
            created(done(&[
                ("file_path", string()),
                ("file_size", of("integer")),
                ("sha256", string()),
                ("original_filename", string()),
                ("format", string()),
                ("duration", nullable("number")),
            ]))
        }
        ("delete", "/upload/{file_path}")
        | ("delete", "/tasks/{id}")
        | ("delete", "/api-keys/{id}") => no_content(),
        ("post", "/tasks") => {
            body = json_body(schema_ref("CreateTask"));
            created(done(&[("task_id", string()), ("state", string())]))
        }
        ("get", "/tasks") => {
            query_params = paging();
            query_params.push(query("state", one_of(&STATES)));
            query_params.push(query("folder_id", string()));
            query_params.push(query("include_deleted", of("boolean")));
            ok(array(schema_ref("Task")))
        }
        ("get", "/tasks/{id}") => ok(schema_ref("Task")),
        ("get", "/tasks/{id}/status") => {
            query_params.push(query("wait", int_range(0, 60)));
            ok(schema_ref("TaskStatus"))
        }
        ("patch", "/tasks/{id}/rename") => {
            body = json_body(optional(
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
            body = json_body(optional(
                &[
                    ("corrected_text", string()),
                    (
                        "segments",
                        array(optional(
                            &[("id", string()), ("text", string()), ("speaker", string())],
                            &["id"],
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
            body = json_body(optional(
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
            body = json_body(optional(
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
        ("get", "/tasks/{id}/artifacts/{artifact_type}/versions") => ok(object(&[
            ("task_id", string()),
            ("artifact_type", one_of(&ARTIFACT_TYPES)),
            ("total_count", of("integer")),
            ("versions", array(schema_ref("ArtifactInfo"))),
        ])),
        ("post", "/tasks/{id}/artifacts/{artifact_type}/generate")
        | ("post", "/tasks/{id}/artifacts/{artifact_type}/regenerate")
        | ("post", "/tasks/{id}/regenerate") => {
            (query_params, body) = generate_params();
            vec![
                (
                    201,
                    json_content(done(&[
                        ("artifact_id", string()),
                        ("version", of("integer")),
                        ("content", any()),
                    ])),
                ),
                (
                    202,
                    json_content(done(&[
                        ("job_id", string()),
                        ("artifact_id", string()),
                        ("status", string()),
                    ])),
                ),
            ]
        }
        ("post", "/hotword-sets") | ("post", "/hotwords") => {
            body = hotword_form(&["name", "hotwords_file"]);
            let mut answer = done(&[
                ("hotword_set_id", string()),
                ("boosting_table_id", of("null")),
                ("word_count", of("integer")),
                ("duplicates_removed", of("integer")),
            ]);
            // There when provider hotword tables are on.
            answer["properties"]["provider_sync_state"] = nullable("string");
            created(answer)
        }
        ("get", "/hotword-sets") | ("get", "/hotwords") => {
            query_params = paging();
            query_params.push(query("scope", one_of(&["user", "tenant", "global"])));
            ok(object(&[
                ("hotword_sets", array(schema_ref("HotwordSet"))),
                ("total", of("integer")),
            ]))
        }
        ("get", "/hotword-sets/{id}") | ("get", "/hotwords/{id}") => {
            query_params.push(query("include_preview", of("boolean")));
            ok(schema_ref("HotwordSet"))
        }
        ("put", "/hotword-sets/{id}") | ("put", "/hotwords/{id}") => {
            body = hotword_form(&[]);
            ok(done(&[("word_count", of("integer"))]))
        }
        ("delete", "/hotword-sets/{id}") | ("delete", "/hotwords/{id}") => ok(done(&[])),
        ("post", "/api-keys") => {
            let mut new_key = optional(
                &[
                    (
                        "name",
                        json!({"type": "string", "minLength": 1, "maxLength": 100}),
                    ),
                    (
                        "scopes",
                        json!({"type": "array", "minItems": 1, "items": one_of(&["read", "write"])}),
                    ),
                    ("expires_in_days", json!({"type": "integer", "minimum": 1})),
                ],
                &["name"],
            );
            new_key["additionalProperties"] = json!(false);
            body = json_body(new_key);
            let mut key = api_key();
            if let Some(required) = key["required"].as_array_mut() {
                required.push(json!("key"));
            }
            key["properties"]["key"] = string();
            created(key)
        }
        ("get", "/api-keys") => ok(object(&[
            ("items", array(api_key())),
            ("total", of("integer")),
        ])),
        ("get", "/quota") => ok(object(&[
            ("tenant_id", string()),
            ("period_start", time()),
            (
                "quotas",
                array(object(&[
                    ("quota", string()),
                    ("used", of("number")),
                    ("limit", of("integer")),
                    ("share", of("number")),
                    ("warning", of("boolean")),
                    ("exceeded", of("boolean")),
                ])),
            ),
        ])),
        ("get", "/admin/audit") => {
            for name in ["action", "resource_type", "resource_id", "user_id"] {
                query_params.push(query(name, string()));
            }
            query_params.push(query("from", time()));
            query_params.push(query("to", time()));
            query_params.push(query("limit", int_range(1, 10_000)));
            query_params.push(query("offset", json!({"type": "integer", "minimum": 0})));
            query_params.push(query("format", one_of(&["json", "csv", "jsonl"])));
            let entries = object(&[
                ("entries", array(schema_ref("AuditEntry"))),
                ("total", of("integer")),
            ]);
            let text = json!({"schema": {"type": "string"}});
            vec![(
                200,
                Some(
                    json!({"application/json": {"schema": entries}, "text/csv": text, "application/x-ndjson": text}),
                ),
            )]
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
        ("get", "/prompt-templates") => {
            query_params.push(query("scope", one_of(&["global", "private"])));
            query_params.push(query("artifact_type", one_of(&ARTIFACT_TYPES)));
            ok(object(&[
                ("templates", array(schema_ref("Template"))),
                ("total", of("integer")),
            ]))
        }
        ("post", "/prompt-templates") => {
            body = json_body(template_body(&["title", "prompt_body", "artifact_type"]));
            created(done(&[("template_id", string())]))
        }
        ("get", "/prompt-templates/{id}") => ok(object(&[("template", schema_ref("Template"))])),
        ("put", "/prompt-templates/{id}") => {
            body = json_body(template_body(&[]));
            ok(done(&[("template_id", string())]))
        }
        ("delete", "/prompt-templates/{id}") => ok(done(&[])),
        ("get", "/folders") => ok(object(&[
            ("total", of("integer")),
            ("items", array(schema_ref("Folder"))),
        ])),
        ("post", "/folders") => {
            body = json_body(folder_name());
            created(done(&[("folder_id", string())]))
        }
        ("patch", "/folders/{id}") => {
            body = json_body(folder_name());
            ok(done(&[("folder_id", string()), ("name", string())]))
        }
        ("delete", "/folders/{id}") => ok(done(&[("moved_count", of("integer"))])),
        ("patch", "/sessions/{task_id}/move") => {
            body = json_body(optional(&[("folder_id", nullable("string"))], &[]));
            ok(done(&[
                ("task_id", string()),
                ("folder_id", nullable("string")),
            ]))
        }
        ("patch", "/sessions/{task_id}/delete")
        | ("patch", "/sessions/{task_id}/restore")
        | ("delete", "/sessions/{task_id}") => ok(done(&[("task_id", string())])),
        ("get", "/trash/sessions") => ok(object(&[
            ("total", of("integer")),
            ("items", array(schema_ref("TrashedSession"))),
        ])),
        ("post", "/sessions/batch-move") => {
            body = json_body(optional(
                &[("task_ids", task_ids()), ("folder_id", nullable("string"))],
                &["task_ids"],
            ));
            ok(done(&[("moved_count", of("integer"))]))
        }
        ("post", "/sessions/batch-delete") => {
            body = json_body(optional(&[("task_ids", task_ids())], &["task_ids"]));
            ok(done(&[("deleted_count", of("integer"))]))
        }
        ("post", "/sessions/batch-restore") => {
            body = json_body(optional(&[("task_ids", task_ids())], &["task_ids"]));
            ok(done(&[("restored_count", of("integer"))]))
        }
        ("get", "/search") => {
            query_params.push(required_query(
                "q",
                json!({"type": "string", "minLength": 1, "maxLength": 200}),
            ));
            query_params.push(query("limit", int_range(1, 100)));
            ok(object(&[
                ("query", string()),
                ("total", of("integer")),
                ("results", array(schema_ref("SearchResult"))),
            ]))
        }
        ("post", "/speakers") => {
            body = form_body(optional(
                &[
                    (
                        "name",
                        json!({"type": "string", "minLength": 1, "maxLength": 128}),
                    ),
                    ("consent_given", one_of(&["true"])),
                    (
                        "consent_subject",
                        json!({"type": "string", "minLength": 1, "maxLength": 128}),
                    ),
                    ("consent_text", json!({"type": "string", "maxLength": 4000})),
                    (
                        "consent_reference",
                        json!({"type": "string", "maxLength": 128}),
                    ),
                    ("consent_method", one_of(&CONSENT_METHODS)),
                    (
                        "consent_version",
                        json!({"type": "string", "maxLength": 128}),
                    ),
                    ("consented_at", time()),
                    (
                        "file",
                        json!({"type": "string", "contentMediaType": "application/octet-stream"}),
                    ),
                ],
                &["name", "consent_given", "consent_subject", "file"],
            ));
            vec![(202, json_content(speaker()))]
        }
        ("get", "/speakers") => {
            query_params = paging();
            ok(object(&[
                ("speakers", array(speaker())),
                ("total", of("integer")),
                ("limit", of("integer")),
                ("offset", of("integer")),
            ]))
        }
        ("get", "/speakers/{id}") => ok(speaker()),
        ("delete", "/speakers/{id}") => {
            let erased = |states: &[&str]| {
                json_content(object(&[
                    ("success", of("boolean")),
                    ("speaker_id", string()),
                    ("state", one_of(states)),
                ]))
            };
            vec![(200, erased(&["erased"])), (202, erased(&["erasing"]))]
        }
        _ => return None,
    };
    Some(Operation {
        query: query_params,
        body,
        answers,
    })
}

/// For a route `operation` does not know: any JSON on success.
pub(super) fn undescribed() -> Operation {
    Operation {
        query: Vec::new(),
        body: None,
        answers: ok(any()),
    }
}

/// A speakers-registry entry (`http/speaker_registry.rs`).
fn speaker() -> Value {
    object(&[
        ("speaker_id", string()),
        ("name", nullable("string")),
        (
            "state",
            one_of(&["enrolling", "active", "failed", "erasing", "erased"]),
        ),
        ("provider", string()),
        ("error", nullable("string")),
        ("sample_seconds", nullable("number")),
        (
            "consent",
            object(&[
                ("subject", nullable("string")),
                ("text", nullable("string")),
                ("reference", nullable("string")),
                ("method", one_of(&CONSENT_METHODS)),
                ("version", string()),
                ("consented_at", time()),
            ]),
        ),
        // The enrolling member's id, for that member and tenant admins; null for others.
        ("created_by", nullable("string")),
        ("created_at", time()),
        ("updated_at", time()),
    ])
}

fn task_ids() -> Value {
    json!({"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "string"}})
}

fn folder_name() -> Value {
    optional(
        &[(
            "name",
            json!({"type": "string", "minLength": 1, "maxLength": 256}),
        )],
        &["name"],
    )
}

fn template_body(required: &[&str]) -> Value {
    optional(
        &[
            (
                "title",
                json!({"type": "string", "minLength": 1, "maxLength": 256}),
            ),
            ("description", string()),
            (
                "prompt_body",
                json!({"type": "string", "maxLength": 20000, "pattern": r"\{transcript\}"}),
            ),
            ("artifact_type", one_of(&ARTIFACT_TYPES)),
            (
                "supported_languages",
                json!({"type": "array", "minItems": 1, "items": one_of(&OUTPUT_LANGUAGES)}),
            ),
            ("parameter_schema", of("object")),
        ],
        required,
    )
}
