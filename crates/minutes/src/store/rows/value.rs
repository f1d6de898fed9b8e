//! Typed column values, their archive (JSON) form, and the canonical form and per-table digest
//! that compare equal across SQLite and PostgreSQL.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value as Json;
use sha2::{Digest as _, Sha256};

use crate::store::catalog::ColumnType;

/// One column value, typed by the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Always whole microseconds (PostgreSQL's precision), so both kinds hold the same value.
    Timestamp(DateTime<Utc>),
    Json(Json),
}

pub type Row = Vec<Value>;

impl Value {
    /// The archive form: timestamps as RFC 3339 with microseconds, JSON as itself.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s) => Json::String(s.clone()),
            Value::Int(i) => Json::from(*i),
            Value::Real(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                // JSON has no NaN or infinity; the text form reads back through `from_json`.
                .unwrap_or_else(|| Json::String(f.to_string())),
            Value::Bool(b) => Json::Bool(*b),
            Value::Timestamp(t) => Json::String(t.to_rfc3339_opts(SecondsFormat::Micros, true)),
            Value::Json(v) => v.clone(),
        }
    }

    /// Reads the archive form back as a value of type `ty`.
    pub fn from_json(ty: ColumnType, v: Json) -> Result<Value, String> {
        if v.is_null() && ty != ColumnType::Json {
            return Ok(Value::Null);
        }
        let bad = |v: &Json| format!("{v} is not a {ty:?} value");
        Ok(match ty {
            ColumnType::Text => match v {
                Json::String(s) => Value::Text(s),
                other => return Err(bad(&other)),
            },
            ColumnType::Int => Value::Int(v.as_i64().ok_or_else(|| bad(&v))?),
            ColumnType::Real => match &v {
                Json::Number(n) => Value::Real(n.as_f64().ok_or_else(|| bad(&v))?),
                Json::String(s) => Value::Real(s.parse().map_err(|_| bad(&v))?),
                _ => return Err(bad(&v)),
            },
            ColumnType::Bool => Value::Bool(v.as_bool().ok_or_else(|| bad(&v))?),
            ColumnType::Timestamp => {
                let s = v.as_str().ok_or_else(|| bad(&v))?;
                Value::Timestamp(parse_timestamp(s).ok_or_else(|| bad(&v))?)
            }
            // A JSON column holds JSON null as a value of its own only when the column is
            // nullable; the catalog has no such column, so null is SQL NULL.
            ColumnType::Json if v.is_null() => Value::Null,
            ColumnType::Json => Value::Json(v),
        })
    }
}

/// Parses a timestamp as either database writes it (RFC 3339, or SQLite's `YYYY-MM-DD HH:MM:SS`
/// with an optional offset), truncated to microseconds.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })?;
    Some(micros(parsed))
}

pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// JSON with object keys sorted at every level: PostgreSQL's JSONB reorders keys and SQLite
/// keeps them as written, so only a sorted form compares across the two.
fn canonical_json(v: &Json, out: &mut String) {
    match v {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A row's bytes for hashing: the same on SQLite and PostgreSQL for the same data.
pub fn canonical_row(row: &[Value]) -> String {
    let mut out = String::from("[");
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            // Tagged, so the JSON column value "x" never equals the text "x".
            Value::Json(j) => {
                out.push_str("{\"json\":");
                canonical_json(j, &mut out);
                out.push('}');
            }
            other => canonical_json(&other.to_json(), &mut out),
        }
    }
    out.push(']');
    out
}

/// A table's content as a row count and an order-independent hash (the sum of the rows'
/// SHA-256 values modulo 2²⁵⁶): the two databases order text keys by different collations,
/// and this digest does not care in which order rows are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableDigest {
    pub rows: u64,
    sum: [u8; 32],
}

impl TableDigest {
    pub fn add(&mut self, row: &[Value]) {
        let h = Sha256::digest(canonical_row(row).as_bytes());
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = self.sum[i] as u16 + h[i] as u16 + carry;
            self.sum[i] = s as u8;
            carry = s >> 8;
        }
        self.rows += 1;
    }

    pub fn hex(&self) -> String {
        hex::encode(self.sum)
    }

    pub fn from_parts(rows: u64, hex_sum: &str) -> Option<TableDigest> {
        let bytes = hex::decode(hex_sum).ok()?;
        Some(TableDigest {
            rows,
            sum: bytes.try_into().ok()?,
        })
    }
}
