//! Service, account and registry operations: health, login, uploads, API keys, quota, audit,
//! the speakers registry.
use serde_json::{json, Value};

use super::*;

/// The answers of the service and account operations; `None` when `(method, path)` is not one of them.
pub(super) fn answers(
    method: &str,
    path: &str,
    query_params: &mut Vec<Value>,
    body: &mut Option<Value>,
) -> Option<Answers> {
    Some(match (method, path) {
        ("get", "/") => ok(object(&[
            ("message", string()),
            ("version", string()),
            ("docs", string()),
        ])),
        ("get", "/health") => ok(object(&[
            ("status", string()),
            ("version", string()),
            ("timestamp", time()),
            (
                "dependencies",
                object(&[("database", one_of(&["healthy", "unhealthy"]))]),
            ),
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
                        ("queue", one_of(&["healthy", "unhealthy"])),
                        ("queue_backend", one_of(&["database", "redis", "rabbitmq"])),
                        ("rate_limit", one_of(&["healthy", "unhealthy", "off"])),
                        ("rate_limit_backend", one_of(&["memory", "redis", "off"])),
                    ]),
                ),
            ]);
            vec![
                (200, json_content(ready.clone())),
                (503, json_content(ready)),
            ]
        }
        ("get", "/metrics") => vec![(
            200,
            Some(json!({"application/openmetrics-text": {"schema": {"type": "string"}}})),
        )],
        ("get", "/admin/costs") => {
            for name in ["tenant", "from", "to"] {
                query_params.push(query(
                    name,
                    if name == "tenant" { string() } else { time() },
                ));
            }
            query_params.extend(paging());
            let total = object(&[
                ("api_type", string()),
                ("provider", string()),
                ("model", string()),
                ("unit", string()),
                ("currency", string()),
                ("units", of("number")),
                ("calls", of("integer")),
                ("amount", string()),
                ("amount_micros", of("integer")),
            ]);
            ok(object(&[
                ("tenant", string()),
                ("from", time()),
                ("to", time()),
                ("currency", string()),
                ("total", string()),
                ("total_micros", of("integer")),
                ("totals", array(total)),
                ("records", array(cost_record())),
                ("total_count", of("integer")),
                ("limit", of("integer")),
                ("offset", of("integer")),
            ]))
        }
        ("post", "/auth/dev/login") => {
            *body = json_body(optional(
                &[(
                    "username",
                    // Counted after trimming; `idp:` names are refused (422).
                    json!({"type": "string", "minLength": 1, "maxLength": 64,
                           "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}),
                )],
                &["username"],
            ));
            ok(session())
        }
        ("post", "/auth/refresh") => {
            *body = json_body(optional(&[("refresh_token", string())], &["refresh_token"]));
            ok(session())
        }
        ("post", "/upload") => {
            *body = form_body(optional(
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
            *body = json_body(new_key);
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
        ("get", "/billing") => {
            query_params.push(query("limit", int_range(1, 500)));
            query_params.push(query("offset", json!({"type": "integer", "minimum": 0})));
            let part = object(&[
                ("api_type", one_of(&["asr", "voiceprint", "llm"])),
                ("amount", of("number")),
                ("amount_micros", of("integer")),
                ("calls", of("integer")),
            ]);
            let item = object(&[
                ("id", string()),
                ("type", one_of(&["consumption", "recharge"])),
                ("amount", of("number")),
                ("amount_micros", of("integer")),
                ("currency", string()),
                ("created_at", time()),
                ("remark", string()),
                ("task_id", string()),
                ("breakdown", array(part)),
            ]);
            ok(object(&[
                ("items", array(item)),
                ("currency", string()),
                ("limit", of("integer")),
                ("offset", of("integer")),
            ]))
        }
        ("get", "/uploads/{key}") => {
            for name in ["tenant", "expires", "sig"] {
                query_params.push(required_query(name, string()));
            }
            let file = json!({"schema": {"type": "string", "format": "binary"}});
            let audio = json!({
                "audio/wav": file, "audio/mpeg": file, "audio/mp4": file, "audio/ogg": file,
                "audio/webm": file, "audio/flac": file, "application/octet-stream": file,
            });
            vec![(200, Some(audio.clone())), (206, Some(audio))]
        }
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
        ("post", "/speakers") => {
            *body = form_body(optional(
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
            *query_params = paging();
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
    })
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

/// One cost-ledger row (`http/costs.rs`).
pub(super) fn cost_record() -> Value {
    object(&[
        ("id", of("integer")),
        ("task_id", nullable("string")),
        ("stage", string()),
        ("provider", string()),
        ("model", string()),
        ("api_type", one_of(&["asr", "voiceprint", "llm"])),
        ("units", of("number")),
        ("unit", string()),
        ("amount", string()),
        ("amount_micros", of("integer")),
        ("priced", of("boolean")),
        ("currency", string()),
        ("job_id", nullable("string")),
        ("attempt", of("integer")),
        ("created_at", time()),
    ])
}

/// The answer of dev login and refresh: an access token and the next refresh token.
fn session() -> Value {
    object(&[
        ("access_token", string()),
        ("token_type", string()),
        ("user_id", string()),
        ("tenant_id", string()),
        ("expires_in", of("integer")),
        ("refresh_token", string()),
        ("refresh_expires_in", of("integer")),
    ])
}
