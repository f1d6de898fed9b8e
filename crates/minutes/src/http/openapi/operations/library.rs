//! Library operations: hotword sets, prompt templates, folders, sessions and search.
use serde_json::{json, Value};

use super::*;

/// The answers of the library operations; `None` when `(method, path)` is not one of them.
pub(super) fn answers(
    method: &str,
    path: &str,
    query_params: &mut Vec<Value>,
    body: &mut Option<Value>,
) -> Option<Answers> {
    Some(match (method, path) {
        ("post", "/hotword-sets") | ("post", "/hotwords") => {
            *body = hotword_form(&["name", "hotwords_file"]);
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
            *query_params = paging();
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
            *body = hotword_form(&[]);
            ok(done(&[("word_count", of("integer"))]))
        }
        ("delete", "/hotword-sets/{id}") | ("delete", "/hotwords/{id}") => ok(done(&[])),
        ("get", "/prompt-templates") => {
            query_params.push(query("scope", one_of(&["global", "private"])));
            query_params.push(query("artifact_type", one_of(&ARTIFACT_TYPES)));
            ok(object(&[
                ("templates", array(schema_ref("Template"))),
                ("total", of("integer")),
            ]))
        }
        ("post", "/prompt-templates") => {
            *body = json_body(template_body(&["title", "prompt_body", "artifact_type"]));
            created(done(&[("template_id", string())]))
        }
        ("get", "/prompt-templates/{id}") => ok(object(&[("template", schema_ref("Template"))])),
        ("put", "/prompt-templates/{id}") => {
            *body = json_body(template_body(&[]));
            ok(done(&[("template_id", string())]))
        }
        ("delete", "/prompt-templates/{id}") => ok(done(&[])),
        ("get", "/folders") => ok(object(&[
            ("total", of("integer")),
            ("items", array(schema_ref("Folder"))),
        ])),
        ("post", "/folders") => {
            *body = json_body(folder_name());
            created(done(&[("folder_id", string())]))
        }
        ("patch", "/folders/{id}") => {
            *body = json_body(folder_name());
            ok(done(&[("folder_id", string()), ("name", string())]))
        }
        ("delete", "/folders/{id}") => ok(done(&[("moved_count", of("integer"))])),
        ("patch", "/sessions/{task_id}/move") => {
            *body = json_body(optional(&[("folder_id", nullable("string"))], &[]));
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
            *body = json_body(optional(
                &[("task_ids", task_ids()), ("folder_id", nullable("string"))],
                &["task_ids"],
            ));
            ok(done(&[("moved_count", of("integer"))]))
        }
        ("post", "/sessions/batch-delete") => {
            *body = json_body(optional(&[("task_ids", task_ids())], &["task_ids"]));
            ok(done(&[("deleted_count", of("integer"))]))
        }
        ("post", "/sessions/batch-restore") => {
            *body = json_body(optional(&[("task_ids", task_ids())], &["task_ids"]));
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
        _ => return None,
    })
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
