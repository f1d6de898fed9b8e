//! JSON Schema → Gemini `responseSchema` (the OpenAPI 3.0 subset the Gemini API accepts).
//!
//! Gemini's `Schema` object knows `type` (upper-case), `format`, `description`, `nullable`,
//! `enum`, `properties`, `required`, `propertyOrdering`, `items`, `minItems` and `maxItems`.
//! Everything else either disappears here because it only *narrows* valid values and the
//! answer is validated against the artifact schema afterwards anyway (`additionalProperties:
//! false`, `pattern`, lengths, bounds), or is refused because dropping it would change what the
//! model is asked for (unions of several types, recursive `$ref`s, free-form maps).
use serde_json::{json, Map, Value};

/// Deepest `$ref` chain followed before the schema is treated as recursive.
const MAX_DEPTH: usize = 32;

/// Keywords translated into the Gemini schema.
const HANDLED: &[&str] = &[
    "type",
    "description",
    "enum",
    "const",
    "format",
    "nullable",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
];

/// Keywords that narrow values without changing their shape: safe to drop.
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "default",
    "examples",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "readOnly",
    "writeOnly",
    "deprecated",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SchemaError {
    /// JSON-pointer-like location in the source schema (`/properties/items/items`).
    pub path: String,
    pub reason: String,
}

/// Converts a JSON Schema (draft 2020-12 / 7 style, as our artifact schemas are written) into a
/// Gemini `responseSchema`.
pub fn to_response_schema(schema: &Value) -> Result<Value, SchemaError> {
    Converter { root: schema }.convert(schema, "", 0)
}

struct Converter<'a> {
    root: &'a Value,
}

fn err(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        reason: reason.into(),
    }
}

impl Converter<'_> {
    fn convert(&self, schema: &Value, path: &str, depth: usize) -> Result<Value, SchemaError> {
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                "recursive $ref: responseSchema cannot express recursion",
            ));
        }
        let Some(obj) = schema.as_object() else {
            return Err(err(path, "a schema must be an object"));
        };
        if let Some(reference) = obj.get("$ref") {
            let target = self.resolve(reference, path)?;
            // Siblings of `$ref` (a description, say) refine the target.
            let mut merged = target.as_object().cloned().unwrap_or_default();
            merged.extend(
                obj.iter()
                    .filter(|(k, _)| k.as_str() != "$ref")
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            return self.convert(&Value::Object(merged), path, depth + 1);
        }
        for (keyword, value) in obj {
            match keyword.as_str() {
                "not" | "if" | "then" | "else" | "patternProperties" | "propertyNames"
                | "dependentSchemas" | "dependentRequired" | "prefixItems" | "contains"
                | "unevaluatedProperties" | "unevaluatedItems" => {
                    return Err(err(path, format!("`{keyword}` has no responseSchema equivalent")))
                }
                "additionalProperties" if value.is_object() => {
                    return Err(err(
                        path,
                        "a free-form map (additionalProperties with a schema) has no responseSchema equivalent",
                    ))
                }
                k if HANDLED.contains(&k) || DROPPED.contains(&k) => {}
                // An unknown keyword may carry meaning we would silently lose.
                other => return Err(err(path, format!("unsupported keyword `{other}`"))),
            }
        }
        if let Some(single) = self.union(obj, path, depth)? {
            return Ok(single);
        }

        let (ty, mut nullable) = self.type_of(obj, path)?;
        nullable |= obj.get("nullable").and_then(Value::as_bool) == Some(true);
        let mut out = Map::new();
        out.insert("type".into(), json!(ty));
        if let Some(d) = obj.get("description").and_then(Value::as_str) {
            out.insert("description".into(), json!(d));
        }
        if let Some(values) = enum_values(obj) {
            let mut strings = Vec::new();
            for v in values {
                match v {
                    Value::Null => nullable = true,
                    Value::String(s) => strings.push(json!(s)),
                    other => {
                        return Err(err(
                            path,
                            format!(
                            "enum value {other} is not a string (responseSchema enums are strings)"
                        ),
                        ))
                    }
                }
            }
            if ty != "STRING" {
                return Err(err(path, "enum is only supported on strings"));
            }
            out.insert("format".into(), json!("enum"));
            out.insert("enum".into(), Value::Array(strings));
        } else if let Some(format) = obj.get("format").and_then(Value::as_str) {
            let kept = matches!(
                (ty, format),
                ("STRING", "date-time")
                    | ("INTEGER", "int32" | "int64")
                    | ("NUMBER", "float" | "double")
            );
            if kept {
                out.insert("format".into(), json!(format));
            }
        }
        match ty {
            "OBJECT" => self.object(obj, path, depth, &mut out)?,
            "ARRAY" => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| err(path, "an array needs `items`"))?;
                out.insert(
                    "items".into(),
                    self.convert(items, &format!("{path}/items"), depth + 1)?,
                );
                for bound in ["minItems", "maxItems"] {
                    if let Some(n) = obj.get(bound).and_then(Value::as_u64) {
                        // int64 fields travel as strings in Google's JSON mapping.
                        out.insert(bound.into(), json!(n.to_string()));
                    }
                }
            }
            _ => {}
        }
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
        Ok(Value::Object(out))
    }

    fn object(
        &self,
        obj: &Map<String, Value>,
        path: &str,
        depth: usize,
        out: &mut Map<String, Value>,
    ) -> Result<(), SchemaError> {
        let props = obj
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                err(
                    path,
                    "an object needs at least one property in responseSchema",
                )
            })?;
        let mut converted = Map::new();
        for (name, prop) in props {
            converted.insert(
                name.clone(),
                self.convert(prop, &format!("{path}/properties/{name}"), depth + 1)?,
            );
        }
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .filter(|n| props.contains_key(*n))
                    .collect()
            })
            .unwrap_or_default();
        // Gemini writes properties in `propertyOrdering` order (alphabetical without it): the
        // order the schema lists as required, then the rest, keeps titles before details.
        let mut ordering: Vec<&str> = required.clone();
        ordering.extend(
            props
                .keys()
                .map(String::as_str)
                .filter(|k| !required.contains(k)),
        );
        out.insert("properties".into(), Value::Object(converted));
        if !required.is_empty() {
            out.insert("required".into(), json!(required));
        }
        out.insert("propertyOrdering".into(), json!(ordering));
        Ok(())
    }

    /// `anyOf`/`oneOf` of one schema and `null` (the usual "optional X"), or a one-element
    /// `allOf`; anything wider has no responseSchema form.
    fn union(
        &self,
        obj: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<Option<Value>, SchemaError> {
        for keyword in ["anyOf", "oneOf", "allOf"] {
            let Some(options) = obj.get(keyword) else {
                continue;
            };
            let options = options
                .as_array()
                .ok_or_else(|| err(path, format!("`{keyword}` must be an array")))?;
            let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
            let non_null: Vec<&Value> = options.iter().filter(|s| !is_null(s)).collect();
            let nullable = non_null.len() < options.len();
            if non_null.len() != 1 || (keyword == "allOf" && nullable) {
                return Err(err(
                    path,
                    format!("`{keyword}` of several schemas has no responseSchema equivalent"),
                ));
            }
            let mut inner = non_null[0].as_object().cloned().unwrap_or_default();
            if let Some(d) = obj.get("description") {
                inner.entry("description").or_insert_with(|| d.clone());
            }
            let mut converted = self.convert(
                &Value::Object(inner),
                &format!("{path}/{keyword}"),
                depth + 1,
            )?;
            if nullable {
                if let Some(o) = converted.as_object_mut() {
                    o.insert("nullable".into(), json!(true));
                }
            }
            return Ok(Some(converted));
        }
        Ok(None)
    }

    /// The Gemini type name and whether `null` was allowed alongside it.
    fn type_of(
        &self,
        obj: &Map<String, Value>,
        path: &str,
    ) -> Result<(&'static str, bool), SchemaError> {
        let (name, nullable) = match obj.get("type") {
            Some(Value::String(t)) => (t.clone(), false),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
                if non_null.len() != 1 {
                    return Err(err(
                        path,
                        format!("type {names:?}: responseSchema allows one type (plus null)"),
                    ));
                }
                (non_null[0].to_string(), non_null.len() < names.len())
            }
            Some(other) => return Err(err(path, format!("type {other} is not a string"))),
            // Untyped schemas: infer from the keywords present.
            None if obj.contains_key("properties") => ("object".into(), false),
            None if obj.contains_key("items") => ("array".into(), false),
            None if enum_values(obj).is_some() => ("string".into(), false),
            None => return Err(err(path, "a schema needs a `type`")),
        };
        let ty = match name.as_str() {
            "string" => "STRING",
            "number" => "NUMBER",
            "integer" => "INTEGER",
            "boolean" => "BOOLEAN",
            "array" => "ARRAY",
            "object" => "OBJECT",
            other => return Err(err(path, format!("type `{other}` is not supported"))),
        };
        Ok((ty, nullable))
    }

    fn resolve(&self, reference: &Value, path: &str) -> Result<&Value, SchemaError> {
        let r = reference
            .as_str()
            .ok_or_else(|| err(path, "$ref must be a string"))?;
        let pointer = r.strip_prefix('#').ok_or_else(|| {
            err(
                path,
                format!("$ref `{r}`: only local references are supported"),
            )
        })?;
        self.root
            .pointer(pointer)
            .ok_or_else(|| err(path, format!("$ref `{r}` points nowhere")))
    }
}

/// `enum`, or `const` as a one-value enum.
fn enum_values(obj: &Map<String, Value>) -> Option<Vec<Value>> {
    if let Some(Value::Array(values)) = obj.get("enum") {
        return Some(values.clone());
    }
    obj.get("const").map(|c| vec![c.clone()])
}
