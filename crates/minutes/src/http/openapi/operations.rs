//! Per operation: query parameters, request body and the success answers (errors are the
//! shared `Error` body, added by `document()`).
mod library;
mod queue_admin;
mod service;
mod tasks;

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

/// (status, `content` object or none for an empty body) per documented answer.
type Answers = Vec<(u16, Option<Value>)>;

/// `None` for a route this table does not describe (a unit test keeps that from happening).
pub(super) fn operation(method: &str, path: &str) -> Option<Operation> {
    let mut query = Vec::new();
    let mut body = None;
    let answers = tasks::answers(method, path, &mut query, &mut body)
        .or_else(|| library::answers(method, path, &mut query, &mut body))
        .or_else(|| service::answers(method, path, &mut query, &mut body))
        .or_else(|| queue_admin::answers(method, path, &mut query, &mut body))?;
    Some(Operation {
        query,
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
