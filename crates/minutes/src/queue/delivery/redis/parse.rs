//! Replies of the stream commands, read by hand: RESP2 arrays or RESP3 maps, and `nil` for
//! entries deleted while pending (Redis 6.2's `XAUTOCLAIM`).
use redis::{from_redis_value, RedisResult, Value};

pub struct Entry {
    pub id: String,
    pub job: Option<String>,
}

pub struct Consumer {
    pub name: String,
    pub pending: u64,
    pub idle_ms: u64,
}

fn invalid(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::TypeError, what))
}

/// `XAUTOCLAIM` → (next cursor, claimed entries).
pub fn autoclaim(v: Value) -> RedisResult<(String, Vec<Entry>)> {
    let Value::Array(items) = v else {
        return Err(invalid("XAUTOCLAIM reply is not an array"));
    };
    let mut items = items.into_iter();
    let cursor: String =
        from_redis_value(&items.next().ok_or(invalid("XAUTOCLAIM without cursor"))?)?;
    let entries = match items.next() {
        Some(list) => entries(list)?,
        None => Vec::new(),
    };
    Ok((cursor, entries))
}

/// `XREADGROUP` → entries per stream (`nil` when the block timed out).
pub fn read(v: Value) -> RedisResult<Vec<(String, Vec<Entry>)>> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(pairs) => pairs,
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(kv) if kv.len() == 2 => {
                    let mut kv = kv.into_iter();
                    match (kv.next(), kv.next()) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err(invalid("XREADGROUP stream without entries")),
                    }
                }
                _ => Err(invalid("XREADGROUP stream is not [key, entries]")),
            })
            .collect::<RedisResult<_>>()?,
        _ => return Err(invalid("XREADGROUP reply is neither nil, array nor map")),
    };
    pairs
        .into_iter()
        .map(|(k, v)| Ok((from_redis_value::<String>(&k)?, entries(v)?)))
        .collect()
}

fn entries(list: Value) -> RedisResult<Vec<Entry>> {
    let Value::Array(list) = list else {
        return match list {
            Value::Nil => Ok(Vec::new()),
            _ => Err(invalid("stream entries are not an array")),
        };
    };
    let mut out = Vec::new();
    for e in list {
        let Value::Array(parts) = e else {
            continue; // deleted while pending
        };
        let mut parts = parts.into_iter();
        let Some(id) = parts.next() else { continue };
        let id: String = from_redis_value(&id)?;
        let job = match parts.next() {
            Some(fields) => field(fields, "job")?,
            None => None,
        };
        out.push(Entry { id, job });
    }
    Ok(out)
}

fn field(fields: Value, name: &str) -> RedisResult<Option<String>> {
    let pairs = match fields {
        Value::Nil => return Ok(None),
        other => {
            key_values(other).ok_or_else(|| invalid("stream entry fields are not an array"))?
        }
    };
    for (k, v) in pairs {
        if from_redis_value::<String>(&k)? == name {
            return Ok(from_redis_value::<String>(&v).ok());
        }
    }
    Ok(None)
}

/// A RESP3 map, or a RESP2 flat array of alternating keys and values, as key-value pairs;
/// `None` for any other reply.
fn key_values(v: Value) -> Option<Vec<(Value, Value)>> {
    match v {
        Value::Map(pairs) => Some(pairs),
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some(pairs)
        }
        _ => None,
    }
}

/// `XINFO CONSUMERS` → name, pending, idle of each consumer.
pub fn consumers(v: Value) -> RedisResult<Vec<Consumer>> {
    let Value::Array(list) = v else {
        return Err(invalid("XINFO CONSUMERS reply is not an array"));
    };
    let mut out = Vec::new();
    for c in list {
        let Some(pairs) = key_values(c) else {
            continue;
        };
        let mut consumer = Consumer {
            name: String::new(),
            pending: 0,
            idle_ms: 0,
        };
        for (k, v) in pairs {
            match from_redis_value::<String>(&k)?.as_str() {
                "name" => consumer.name = from_redis_value(&v)?,
                "pending" => consumer.pending = from_redis_value(&v)?,
                "idle" => consumer.idle_ms = from_redis_value(&v)?,
                _ => {}
            }
        }
        if !consumer.name.is_empty() {
            out.push(consumer);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_read_reply_yields_entries_per_stream_and_nil_means_nothing() {
        assert!(read(Value::Nil).unwrap().is_empty());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("{p}:jobs:asr"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("job"), bulk("j1"), bulk("queue"), bulk("asr")]),
                ]),
                Value::Array(vec![
                    bulk("2-0"),
                    Value::Array(vec![bulk("other"), bulk("x")]),
                ]),
            ]),
        ])]);
        let streams = read(reply).unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].0, "{p}:jobs:asr");
        let e = &streams[0].1;
        assert_eq!((e[0].id.as_str(), e[0].job.as_deref()), ("1-0", Some("j1")));
        assert_eq!((e[1].id.as_str(), e[1].job.as_deref()), ("2-0", None));
    }

    #[test]
    fn an_autoclaim_reply_skips_entries_deleted_while_pending() {
        let reply = Value::Array(vec![
            bulk("5-0"),
            Value::Array(vec![
                Value::Nil,
                Value::Array(vec![
                    bulk("3-0"),
                    Value::Array(vec![bulk("job"), bulk("j3")]),
                ]),
            ]),
            Value::Array(vec![bulk("4-0")]),
        ]);
        let (cursor, entries) = autoclaim(reply).unwrap();
        assert_eq!(cursor, "5-0");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].job.as_deref(), Some("j3"));
    }
}
