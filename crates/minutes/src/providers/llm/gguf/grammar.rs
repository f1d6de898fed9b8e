//! JSON Schema → GBNF (llama.cpp's grammar format) for the artifact schemas. The sampler only
//! picks tokens that keep the answer a prefix of a document this grammar accepts, so the answer
//! parses and has every required key, whatever the model.
//!
//! llama-cpp-2 also exposes llama.cpp's general converter (`json_schema_to_grammar`), but its
//! grammar admits all JSON the schema allows: whitespace between every two tokens (which small
//! models fill, spending `max_output_tokens` on nothing) and empty strings (which
//! `validate_content` refuses for a title or summary). This one covers the subset our schemas
//! use and asks for less: compact JSON, every property in order (`required` first), strings that
//! start with a visible character (`null` is there for values that may be missing). Any other
//! keyword is an error, so a schema that outgrows the converter fails its unit test instead of
//! being enforced by half.
use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

/// Keywords that only annotate a schema: nothing to enforce.
const ANNOTATIONS: [&str; 3] = ["title", "description", "$comment"];

/// The GBNF grammar (start rule `root`) of the JSON documents `schema` describes; its root must
/// be an object, as every artifact is.
pub fn gbnf(schema: &Value) -> Result<String, String> {
    if schema_type(schema)? != Some(vec!["object"]) {
        return Err("the root schema must have `type: object`".into());
    }
    check_keywords(schema, "root")?;
    // `root` is the start rule: taken first, so a property called `root` gets another name.
    let mut g = Grammar {
        rules: vec![("root".into(), String::new())],
        ..Grammar::default()
    };
    g.rules[0].1 = g.object_body(schema, "root")?;
    Ok(g.render())
}

#[derive(Default)]
struct Grammar {
    /// `root` first, then the rules in the order they were made.
    rules: Vec<(String, String)>,
    /// Rule name by body, so an item schema used twice becomes one rule.
    by_body: HashMap<String, String>,
    /// The shared terminal rules (`string`, `number`, …) some value refers to.
    primitives: BTreeSet<&'static str>,
}

impl Grammar {
    /// The expression matching one value of `schema`; objects and arrays become named rules.
    fn value(&mut self, schema: &Value, hint: &str) -> Result<String, String> {
        check_keywords(schema, hint)?;
        let obj = as_schema(schema)?;
        if let Some(values) = obj.get("enum") {
            let values = values
                .as_array()
                .filter(|v| !v.is_empty())
                .ok_or("`enum` must be a non-empty array")?;
            let alts: Vec<String> = values.iter().map(|v| literal(&v.to_string())).collect();
            return Ok(group(alts));
        }
        let types = schema_type(schema)?
            .ok_or_else(|| format!("`{hint}` has neither `type` nor `enum`"))?;
        let mut alts = Vec::with_capacity(types.len());
        for ty in types {
            alts.push(match ty {
                "object" => self.object_rule(schema, hint)?,
                "array" => self.array_rule(schema, hint)?,
                "string" => self.primitive("string"),
                "number" => self.primitive("number"),
                "integer" => self.primitive("integer"),
                "boolean" => self.primitive("boolean"),
                "null" => self.primitive("null"),
                other => return Err(format!("`{hint}`: unsupported type `{other}`")),
            });
        }
        Ok(group(alts))
    }

    fn object_rule(&mut self, schema: &Value, hint: &str) -> Result<String, String> {
        let body = self.object_body(schema, hint)?;
        Ok(self.define(hint, body))
    }

    fn object_body(&mut self, schema: &Value, hint: &str) -> Result<String, String> {
        let obj = as_schema(schema)?;
        let empty = Map::new();
        let props = match obj.get("properties") {
            None => &empty,
            Some(p) => p
                .as_object()
                .ok_or_else(|| format!("`{hint}`: `properties` must be an object"))?,
        };
        let mut order: Vec<&str> = Vec::with_capacity(props.len());
        for key in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key
                .as_str()
                .ok_or_else(|| format!("`{hint}`: `required` holds a non-string"))?;
            if !props.contains_key(key) {
                return Err(format!(
                    "`{hint}`: required `{key}` is not among the properties"
                ));
            }
            if !order.contains(&key) {
                order.push(key);
            }
        }
        // Optional properties are written too: always valid, and `additionalProperties` (any
        // value) needs no rule because no other key is ever written.
        let optional: Vec<&str> = props
            .keys()
            .map(String::as_str)
            .filter(|k| !order.contains(k))
            .collect();
        order.extend(optional);
        let mut parts = vec![Part::Lit("{".into())];
        for (i, key) in order.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let name = serde_json::to_string(key).map_err(|e| e.to_string())?;
            parts.push(Part::Lit(format!("{sep}{name}:")));
            parts.push(Part::Ref(self.value(&props[*key], &rule_name(key))?));
        }
        parts.push(Part::Lit("}".into()));
        Ok(join(parts))
    }

    fn array_rule(&mut self, schema: &Value, hint: &str) -> Result<String, String> {
        let obj = as_schema(schema)?;
        let items = obj
            .get("items")
            .ok_or_else(|| format!("`{hint}`: an array needs `items`"))?;
        let item = self.value(items, &format!("{hint}-item"))?;
        Ok(self.define(hint, format!("\"[\" ({item} (\",\" {item})*)? \"]\"")))
    }

    fn primitive(&mut self, ty: &'static str) -> String {
        self.primitives.insert(ty);
        if ty == "string" {
            self.primitives.insert("char");
        }
        ty.to_string()
    }

    /// Names `body` after `hint` (made unique), or returns the name it already has.
    fn define(&mut self, hint: &str, body: String) -> String {
        if let Some(name) = self.by_body.get(&body) {
            return name.clone();
        }
        let taken = |n: &str, rules: &[(String, String)]| {
            rules.iter().any(|(r, _)| r == n) || PRIMITIVES.iter().any(|(p, _)| *p == n)
        };
        let mut name = hint.to_string();
        let mut n = 2;
        while taken(&name, &self.rules) {
            name = format!("{hint}-{n}");
            n += 1;
        }
        self.by_body.insert(body.clone(), name.clone());
        self.rules.push((name.clone(), body));
        name
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, body) in &self.rules {
            out.push_str(&format!("{name} ::= {body}\n"));
        }
        for (name, body) in PRIMITIVES
            .iter()
            .filter(|(p, _)| self.primitives.contains(p))
        {
            out.push_str(&format!("{name} ::= {body}\n"));
        }
        out
    }
}

/// The terminal rules. A string starts with a visible character; numbers have bounded digits so
/// a looping model cannot spend its whole budget inside one.
const PRIMITIVES: [(&str, &str); 6] = [
    ("string", r#""\"" [^"\\\x7F\x00-\x20] char* "\"""#),
    (
        "char",
        r#"[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})"#,
    ),
    (
        "number",
        r#""-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?"#,
    ),
    ("integer", r#""-"? ("0" | [1-9] [0-9]{0,15})"#),
    ("boolean", r#""true" | "false""#),
    ("null", r#""null""#),
];

enum Part {
    Lit(String),
    Ref(String),
}

/// A sequence, adjacent literals merged into one.
fn join(parts: Vec<Part>) -> String {
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        match (merged.last_mut(), part) {
            (Some(Part::Lit(prev)), Part::Lit(next)) => prev.push_str(&next),
            (_, part) => merged.push(part),
        }
    }
    let words: Vec<String> = merged
        .into_iter()
        .map(|p| match p {
            Part::Lit(s) => literal(&s),
            Part::Ref(r) => r,
        })
        .collect();
    words.join(" ")
}

fn group(alts: Vec<String>) -> String {
    if alts.len() == 1 {
        alts.into_iter().collect()
    } else {
        format!("({})", alts.join(" | "))
    }
}

/// `text` as a GBNF string literal.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule name from a property name: GBNF names are `[a-zA-Z0-9-]+`.
fn rule_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.chars().all(|c| c == '-') {
        "value".into()
    } else {
        name
    }
}

fn as_schema(schema: &Value) -> Result<&Map<String, Value>, String> {
    schema
        .as_object()
        .ok_or_else(|| format!("a schema must be an object, not {schema}"))
}

/// `type` as a list (`"string"` or `["string", "null"]`); `None` when absent.
fn schema_type(schema: &Value) -> Result<Option<Vec<&str>>, String> {
    let Some(ty) = as_schema(schema)?.get("type") else {
        return Ok(None);
    };
    let names = match ty {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|t| {
                t.as_str()
                    .ok_or_else(|| format!("`type` holds a non-string: {t}"))
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "`type` must be a name or a list of names, not {other}"
            ))
        }
    };
    Ok(Some(names))
}

/// Refuses keywords the converter would not enforce (`pattern`, `minItems`, `$ref`, …) and
/// object or array keywords on a schema of another type.
fn check_keywords(schema: &Value, hint: &str) -> Result<(), String> {
    let types = schema_type(schema)?.unwrap_or_default();
    let allowed = |k: &str| match k {
        "type" | "enum" => true,
        "properties" | "required" | "additionalProperties" => types.contains(&"object"),
        "items" => types.contains(&"array"),
        k => ANNOTATIONS.contains(&k),
    };
    match as_schema(schema)?.keys().find(|k| !allowed(k)) {
        Some(k) => Err(format!("`{hint}`: keyword `{k}` is not supported here")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
