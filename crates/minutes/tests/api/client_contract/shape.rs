//! Typed reads of JSON answers by path (`"artifact.content"`, `"segments[3].speaker"`): each
//! helper returns the value with the type the frontend's code needs or panics naming the call,
//! the field, what it is and what the frontend needs.
use serde_json::Value;

/// The value at `path` below `v`: keys separated by `.`, array indexes as `[n]`.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.trim_end_matches(']').parse().ok()?;
            cur = cur.get(n)?;
        }
    }
    Some(cur)
}

/// How a value reads in a message: its JSON type and a short rendering.
pub fn describe(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "missing".into();
    };
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut text = v.to_string();
    if text.len() > 160 {
        let cut = (0..=160)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    format!("{kind} {text}")
}

fn wrong(call: &str, path: &str, v: Option<&Value>, needs: &str) -> ! {
    panic!(
        "{call}: `{path}` is {}, the frontend needs {needs}",
        describe(v)
    )
}

pub fn string<'a>(call: &str, v: &'a Value, path: &str) -> &'a str {
    match at(v, path) {
        Some(Value::String(s)) => s,
        other => wrong(call, path, other, "a string"),
    }
}

/// Absent or `null` is fine; anything else must be a string.
pub fn opt_string<'a>(call: &str, v: &'a Value, path: &str) -> Option<&'a str> {
    match at(v, path) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        other => wrong(call, path, other, "a string, null or no key"),
    }
}

pub fn number(call: &str, v: &Value, path: &str) -> f64 {
    match at(v, path) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        other => wrong(call, path, other, "a number"),
    }
}

pub fn opt_number(call: &str, v: &Value, path: &str) -> Option<f64> {
    match at(v, path) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        other => wrong(call, path, other, "a number, null or no key"),
    }
}

pub fn boolean(call: &str, v: &Value, path: &str) -> bool {
    match at(v, path) {
        Some(Value::Bool(b)) => *b,
        other => wrong(call, path, other, "a boolean"),
    }
}

pub fn opt_boolean(call: &str, v: &Value, path: &str) -> Option<bool> {
    match at(v, path) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        other => wrong(call, path, other, "a boolean, null or no key"),
    }
}

pub fn array<'a>(call: &str, v: &'a Value, path: &str) -> &'a Vec<Value> {
    match at(v, path) {
        Some(Value::Array(a)) => a,
        other => wrong(call, path, other, "an array"),
    }
}

pub fn object<'a>(call: &str, v: &'a Value, path: &str) -> &'a serde_json::Map<String, Value> {
    match at(v, path) {
        Some(Value::Object(o)) => o,
        other => wrong(call, path, other, "an object"),
    }
}

pub fn string_array<'a>(call: &str, v: &'a Value, path: &str) -> Vec<&'a str> {
    array(call, v, path)
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => s.as_str(),
            other => wrong(
                call,
                &format!("{path}[{i}]"),
                Some(other),
                "a string (anything else renders as [object Object] or worse)",
            ),
        })
        .collect()
}

/// A date `new Date(x)` parses: RFC 3339, or an ISO date-time without an offset.
fn parses_as_date(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

pub fn timestamp(call: &str, v: &Value, path: &str) {
    let s = string(call, v, path);
    assert!(
        parses_as_date(s),
        "{call}: `{path}` is {s:?}, the frontend formats it with new Date(): it needs ISO 8601"
    );
}

pub fn opt_timestamp(call: &str, v: &Value, path: &str) {
    if let Some(s) = opt_string(call, v, path) {
        assert!(
            parses_as_date(s),
            "{call}: `{path}` is {s:?}, the frontend formats it with new Date(): it needs ISO 8601"
        );
    }
}

/// JavaScript truthiness, for the frontend's `a || b` fallbacks.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}
