//! Full-text search over transcripts and artifacts.
//!
//! `search_documents` holds one row per segment of a task's latest transcript revision and one
//! per artifact type's latest version, with the original text (for snippets) and its tokens
//! (`domain::search_text`, computed here in Rust before the SQL). The writers of that content
//! rewrite the task's rows in their own transaction (`index_transcript!`, `index_artifact!`), so
//! the index is never behind a committed revision. SQLite indexes `tokens` with FTS5 (kept in
//! step by triggers), PostgreSQL with a generated `tsvector` column and a GIN index.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::sql::{is_postgres, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;
use crate::domain::search_text::index_tokens;

/// One matching document, best first.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SearchHit {
    pub task_id: String,
    pub task_name: Option<String>,
    /// `transcript` or `artifact`.
    pub kind: String,
    /// The segment id (transcript; `None` for a free-text revision body) or the artifact id.
    pub ref_id: Option<String>,
    pub artifact_type: Option<String>,
    /// Seconds into the meeting (transcript segments).
    pub start_time: Option<f64>,
    /// The original text, for the snippet.
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A document to index, tokenized.
pub(super) struct Document {
    pub ref_id: Option<String>,
    pub start_time: Option<f64>,
    pub text: String,
    pub tokens: String,
}

fn document(ref_id: Option<String>, start_time: Option<f64>, text: String) -> Document {
    Document {
        tokens: index_tokens(&text),
        ref_id,
        start_time,
        text,
    }
}

/// One document per segment with text; plus the revision's full text when a free-text
/// correction replaced it without mapping onto the segments (it is what generation reads).
pub(super) fn transcript_documents(segments: &Value, full_text: &str) -> Vec<Document> {
    let mut docs: Vec<Document> = segments
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            let text = s["text"].as_str()?.trim();
            (!text.is_empty()).then(|| {
                document(
                    s["id"].as_str().map(str::to_string),
                    s["start_time"].as_f64(),
                    text.to_string(),
                )
            })
        })
        .collect();
    let joined = docs
        .iter()
        .map(|d| d.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if !full_text.trim().is_empty() && full_text.trim() != joined {
        docs.push(document(None, None, full_text.trim().to_string()));
    }
    docs
}

/// The string values of an artifact's content, in document order (citation ids and the
/// encrypted personal fields left out).
pub(super) fn artifact_document(content: &Value) -> Document {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            // Sealed values never reach the index (they are skipped by key below anyway).
            Value::String(s) if !s.trim().is_empty() && !s.starts_with(crate::crypto::PREFIX) => {
                out.push(s.trim().to_string())
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            // Citation ids are references; owners and participants are encrypted personal
            // fields, which the index must not hold in clear (docs/ARCHITECTURE.md).
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| {
                    !k.ends_with("_ids")
                        && !crate::crypto::CONTENT_PERSONAL_KEYS.contains(&k.as_str())
                })
                .for_each(|(_, v)| collect(v, out)),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    collect(content, &mut parts);
    document(None, None, parts.join("\n"))
}

/// Rows per multi-row INSERT (4 parameters each, plus 5 shared ones).
pub(super) const ROWS_PER_INSERT: usize = 100;

/// `($1, $2, $3, 'transcript', $6, NULL, $4, $7, $8, $9, $5), …` for `rows` rows.
pub(super) fn transcript_values(rows: usize) -> String {
    (0..rows)
        .map(|i| {
            let p = 6 + i * 4;
            format!(
                "($1, $2, $3, 'transcript', ${}, NULL, $4, ${}, ${}, ${}, $5)",
                p,
                p + 1,
                p + 2,
                p + 3
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Replaces the task's transcript documents with those of `$t` (a `NewTranscriptRevision`, just
/// inserted as the latest revision) inside the caller's transaction.
macro_rules! index_transcript {
    ($tx:expr, $task_id:expr, $t:expr, $now:expr) => {{
        let task_id: &str = $task_id;
        let t: &$crate::store::NewTranscriptRevision = $t;
        let docs = $crate::store::search::transcript_documents(&t.segments, &t.full_text);
        // The task row lock orders concurrent revisions of one task (PostgreSQL).
        sqlx::query("UPDATE tasks SET updated_at = updated_at WHERE id = $1")
            .bind(task_id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("DELETE FROM search_documents WHERE task_id = $1 AND kind = 'transcript'")
            .bind(task_id)
            .execute(&mut *$tx)
            .await?;
        let (tenant_id, user_id, revision): (String, String, i64) = sqlx::query_as(
            "SELECT t.tenant_id, t.user_id, CAST(COALESCE((SELECT MAX(r.revision) FROM transcript_revisions r \
             WHERE r.task_id = t.id), 1) AS BIGINT) FROM tasks t WHERE t.id = $1",
        )
        .bind(task_id)
        .fetch_one(&mut *$tx)
        .await?;
        for chunk in docs.chunks($crate::store::search::ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO search_documents (tenant_id, user_id, task_id, kind, ref_id, artifact_type, \
                 version, start_time, text, tokens, created_at) VALUES {}",
                $crate::store::search::transcript_values(chunk.len())
            );
            let mut q = sqlx::query(&sql)
                .bind(&tenant_id)
                .bind(&user_id)
                .bind(task_id)
                .bind(revision)
                .bind($now);
            for d in chunk {
                q = q.bind(&d.ref_id).bind(d.start_time).bind(&d.text).bind(&d.tokens);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use index_transcript;

/// Replaces the document of `$a`'s artifact type with `$a` (a `NewArtifact`, just inserted as
/// the latest version) inside the caller's transaction, which already holds the task row lock.
macro_rules! index_artifact {
    ($tx:expr, $a:expr, $now:expr) => {{
        let a: &$crate::store::NewArtifact = $a;
        let doc = $crate::store::search::artifact_document(&a.content);
        sqlx::query(
            "DELETE FROM search_documents WHERE task_id = $1 AND kind = 'artifact' AND artifact_type = $2",
        )
        .bind(&a.task_id)
        .bind(&a.artifact_type)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "INSERT INTO search_documents (tenant_id, user_id, task_id, kind, ref_id, artifact_type, \
             version, start_time, text, tokens, created_at) \
             SELECT a.tenant_id, t.user_id, a.task_id, 'artifact', a.id, a.artifact_type, a.version, NULL, \
             $2, $3, $4 FROM artifacts a JOIN tasks t ON t.id = a.task_id WHERE a.id = $1",
        )
        .bind(&a.id)
        .bind(&doc.text)
        .bind(&doc.tokens)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use index_artifact;

/// An FTS5 query requiring every token (each quoted, so no token is read as an operator).
fn fts5_query(tokens: &[&str]) -> String {
    tokens
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl SearchStore for SqlStore {
    async fn backfill_search(&self, limit: i64) -> StoreResult<usize> {
        // Cross-tenant: the maintenance job finds unindexed tasks of every tenant; each one is
        // then indexed in its own tenant's scope.
        let missing: Vec<(String, String)> = on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as(
            "SELECT t.tenant_id, t.id FROM tasks t \
             WHERE EXISTS (SELECT 1 FROM transcript_revisions r WHERE r.task_id = t.id) \
             AND NOT EXISTS (SELECT 1 FROM search_documents d WHERE d.task_id = t.id) LIMIT $1")
            .bind(limit).fetch_all(&mut *tx).await?));
        for (tenant_id, task_id) in &missing {
            let Some(latest) = self.latest_transcript(tenant_id, task_id).await? else {
                continue;
            };
            let revision = NewTranscriptRevision {
                segments: latest.segments.0,
                full_text: latest.full_text,
                duration: latest.duration,
                language: latest.language,
                provider: latest.provider,
                author: latest.author,
                reason: latest.reason,
            };
            let mut newest: Vec<ArtifactRecord> = Vec::new();
            for a in self.list_artifacts(tenant_id, task_id).await? {
                if !newest.iter().any(|n| n.artifact_type == a.artifact_type) {
                    newest.push(a);
                }
            }
            let now = Utc::now();
            on_pool!(self, pool => {
                let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
                index_transcript!(tx, task_id, &revision, now);
                for a in &newest {
                    let a = NewArtifact::from_record(a, tenant_id);
                    index_artifact!(tx, &a, now);
                }
                tx.commit().await?;
            });
        }
        Ok(missing.len())
    }

    async fn search(
        &self,
        owner: &Owner,
        query_tokens: &str,
        limit: i64,
    ) -> StoreResult<Vec<SearchHit>> {
        let tokens: Vec<&str> = query_tokens.split_whitespace().collect();
        if tokens.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, pool => {
            // Every token must occur; the best-ranked documents first (bm25 is lower-is-better).
            let (from, matches, rank, query) = if is_postgres(pool) {
                ("search_documents d",
                 "d.tsv @@ plainto_tsquery('simple', $1)",
                 "ts_rank(d.tsv, plainto_tsquery('simple', $1)) DESC",
                 tokens.join(" "))
            } else {
                ("search_fts f JOIN search_documents d ON d.id = f.rowid",
                 "search_fts MATCH $1",
                 "bm25(search_fts)",
                 fts5_query(&tokens))
            };
            let sql = format!(
                "SELECT d.task_id, t.name AS task_name, d.kind, d.ref_id, d.artifact_type, d.start_time, \
                 d.text, d.created_at FROM {from} JOIN tasks t ON t.id = d.task_id \
                 WHERE {matches} AND d.tenant_id = $2 AND d.user_id = $3 \
                 AND t.tenant_id = $2 AND t.user_id = $3 AND t.is_deleted = FALSE \
                 ORDER BY {rank}, d.created_at DESC, d.id LIMIT $4");
            Ok(scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, SearchHit>(&sql)
                .bind(query).bind(&owner.tenant_id).bind(&owner.user_id).bind(limit)
                .fetch_all(&mut *tx).await?))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn transcripts_index_one_document_per_segment() {
        let segments = json!([
            {"id": "seg_0001", "start_time": 0.5, "end_time": 6.0, "speaker": "S1", "text": "订单服务故障"},
            {"id": "seg_0002", "start_time": 13.0, "end_time": 20.0, "speaker": "S2", "text": " Redis 连接池 "},
            {"id": "seg_0003", "start_time": 21.0, "end_time": 22.0, "speaker": "S2", "text": "  "}
        ]);
        let docs = transcript_documents(&segments, "订单服务故障 Redis 连接池");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].ref_id.as_deref(), Some("seg_0002"));
        assert_eq!(docs[1].start_time, Some(13.0));
        assert_eq!(docs[1].text, "Redis 连接池");
        assert_eq!(docs[1].tokens, "redis 连接 连接池");
        // A free-text body that differs from the segments is indexed as well.
        let docs = transcript_documents(&segments, "整段更正的文字");
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[2].ref_id, None);
        assert_eq!(docs[2].text, "整段更正的文字");
    }

    #[test]
    fn artifacts_index_their_strings_without_citations() {
        let doc = artifact_document(&json!({
            "title": "Incident review", "date": null, "participants": ["Speaker 1"],
            "decisions": [{"text": "扩大连接池", "segment_ids": ["seg_0002"]}], "schema_version": 1
        }));
        assert!(doc.text.contains("Incident review") && doc.text.contains("扩大连接池"));
        assert!(!doc.text.contains("seg_0002"), "{}", doc.text);
        assert!(
            !doc.text.contains("Speaker 1"),
            "participants are not indexed"
        );
        assert!(doc.tokens.contains("incident review"), "{}", doc.tokens);
        let doc = artifact_document(&json!({"items": [{"owner": "Marcus", "task": "Upgrade PG"}]}));
        assert_eq!(doc.text, "Upgrade PG");
    }

    #[test]
    fn value_lists_number_their_parameters() {
        assert_eq!(
            transcript_values(2),
            "($1, $2, $3, 'transcript', $6, NULL, $4, $7, $8, $9, $5), \
             ($1, $2, $3, 'transcript', $10, NULL, $4, $11, $12, $13, $5)"
        );
        assert_eq!(fts5_query(&["redis", "a\"b"]), "\"redis\" \"a\"\"b\"");
    }
}
