//! Rows of any catalog table as typed values, for the tools that move data between databases
//! and archives (`minutes db copy`, `minutes backup`). A `Snapshot` reads every table in one
//! read-only transaction (repeatable read on PostgreSQL, one WAL snapshot on SQLite), so a copy
//! or a backup taken while the service writes is consistent; a `Loader` writes rows in one
//! transaction with their keys kept (upserts, so a repeated batch changes nothing).
//!
//! The backend-specific reading and binding is in `sqlite.rs` and `postgres.rs`; the canonical
//! form and the per-table digest here are the same for both, which is what lets a copy or a
//! restore into the other kind of database be verified.
mod postgres;
mod sqlite;
mod value;

use value::micros;
pub use value::{canonical_row, parse_timestamp, Row, TableDigest, Value};

use super::catalog::Table;
use super::sql::{Pool, SqlStore};
use super::{StoreError, StoreResult};

/// `SELECT … FROM table [WHERE rows AND (key) > ($1…)] ORDER BY key LIMIT $n`: keyset pages in
/// key order, the same text on both databases; `select_list` casts per dialect.
fn select_sql(table: &Table, select_list: String, after: usize) -> String {
    let keys = table.key.join(", ");
    let mut conditions: Vec<String> = table.rows.iter().map(|r| r.to_string()).collect();
    if after > 0 {
        let marks: Vec<String> = (1..=after).map(|i| format!("${i}")).collect();
        conditions.push(format!("({keys}) > ({})", marks.join(", ")));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT {select_list} FROM {}{filter} ORDER BY {keys} LIMIT ${}",
        table.name,
        after + 1
    )
}

/// A multi-row upsert of `rows` rows: a row whose key exists is replaced, so a repeated batch
/// (a resumed copy) changes nothing and a row the target seeded itself (the built-in templates)
/// takes the source's values. `overriding` is PostgreSQL's clause for identity columns.
fn insert_sql(table: &Table, rows: usize, overriding: &str) -> String {
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|i| format!("${}", r * width + i)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let updates: Vec<String> = table
        .columns
        .iter()
        .filter(|c| !table.key.contains(&c.name))
        .map(|c| format!("{0} = excluded.{0}", c.name))
        .collect();
    let conflict = if updates.is_empty() {
        format!("ON CONFLICT ({}) DO NOTHING", table.key.join(", "))
    } else {
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            table.key.join(", "),
            updates.join(", ")
        )
    };
    format!(
        "INSERT INTO {} ({}){overriding} VALUES {} {conflict}",
        table.name,
        columns.join(", "),
        tuples.join(", ")
    )
}

/// A consistent read of the whole database: one read-only transaction.
pub struct Snapshot {
    tx: Tx,
}

enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Writes rows with their keys kept, in one transaction: `commit` makes them visible.
pub struct Loader {
    tx: Tx,
    /// Identity tables written to, whose sequences move past the largest key on commit.
    identities: Vec<&'static Table>,
}

impl SqlStore {
    /// Opens a consistent read of every table (system scope: all tenants).
    pub async fn snapshot(&self) -> StoreResult<Snapshot> {
        let tx = match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(postgres::begin_snapshot(p).await?),
        };
        Ok(Snapshot { tx })
    }

    /// Opens a write transaction for restoring or copying rows (system scope).
    pub async fn loader(&self) -> StoreResult<Loader> {
        let tx = match &self.pool {
            // IMMEDIATE: take the write lock now rather than fail to upgrade a read lock later.
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(postgres::begin_system(p).await?),
        };
        Ok(Loader {
            tx,
            identities: Vec::new(),
        })
    }

    /// The columns of every table as the live database declares them (for
    /// `catalog::differences`): SQLite's internal, migration and FTS index tables left out.
    pub async fn live_columns(&self) -> StoreResult<Vec<super::catalog::LiveColumn>> {
        let rows: Vec<(String, String, String, bool)> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT m.name, p.name, lower(p.type), p.\"notnull\" = 0 \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite!_%' ESCAPE '!' \
                     AND m.name NOT LIKE '!_sqlx!_%' ESCAPE '!' AND m.name NOT LIKE 'search!_fts%' ESCAPE '!' \
                     ORDER BY m.name, p.cid",
                )
                .fetch_all(p)
                .await?
            }
            Pool::Postgres(p) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'YES' \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND is_generated <> 'ALWAYS' \
                     AND table_name <> '_sqlx_migrations' \
                     ORDER BY table_name, ordinal_position",
                )
                .fetch_all(p)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(
                |(table, column, declared, nullable)| super::catalog::LiveColumn {
                    table,
                    column,
                    declared,
                    nullable,
                },
            )
            .collect())
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }
}

impl Tx {
    /// Up to `limit` rows of `table` whose key comes after `after`, in key order.
    async fn rows(
        &mut self,
        table: &Table,
        after: Option<&[Value]>,
        limit: i64,
    ) -> StoreResult<Vec<Row>> {
        let mut rows = match self {
            Tx::Sqlite(tx) => sqlite::rows(tx, table, after, limit).await?,
            Tx::Postgres(tx) => postgres::rows(tx, table, after, limit).await?,
        };
        for row in &mut rows {
            for (value, column) in row.iter_mut().zip(table.columns) {
                if column.reset_on_move {
                    *value = Value::Null;
                }
            }
        }
        Ok(rows)
    }

    /// Every row of `table` that moves, through `visit`, in batches of `batch`.
    async fn each_row(
        &mut self,
        table: &Table,
        batch: i64,
        mut visit: impl FnMut(&Row) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let keys = table.key_positions();
        let mut after: Option<Vec<Value>> = None;
        loop {
            let rows = self.rows(table, after.as_deref(), batch).await?;
            for row in &rows {
                visit(row)?;
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == batch => {
                    after = Some(keys.iter().map(|&i| last[i].clone()).collect());
                }
                _ => return Ok(()),
            }
        }
    }

    /// The digest of every table that moves, in catalog order.
    async fn digests(&mut self) -> StoreResult<Vec<(&'static str, TableDigest)>> {
        let mut out = Vec::new();
        for table in super::catalog::data_tables() {
            let mut digest = TableDigest::default();
            self.each_row(table, 2_000, |row| {
                digest.add(row);
                Ok(())
            })
            .await?;
            out.push((table.name, digest));
        }
        Ok(out)
    }

    /// The newest applied migration.
    async fn migration_level(&mut self) -> StoreResult<i64> {
        let level: Option<i64> = match self {
            Tx::Sqlite(tx) => {
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&mut **tx)
                    .await?
            }
        };
        Ok(level.unwrap_or(0))
    }

    /// Rows in data tables other than the built-in global templates every start seeds: zero
    /// means the database holds nothing a restore or copy would overwrite.
    async fn user_rows(&mut self) -> StoreResult<u64> {
        let mut total = 0u64;
        for table in super::catalog::data_tables() {
            let filter = if table.name == "prompt_templates" {
                " WHERE NOT is_system"
            } else {
                ""
            };
            let sql = format!("SELECT COUNT(*) FROM {}{filter}", table.name);
            let n: i64 = match self {
                Tx::Sqlite(tx) => sqlx::query_scalar(&sql).fetch_one(&mut **tx).await?,
                Tx::Postgres(tx) => sqlx::query_scalar(&sql).fetch_one(&mut **tx).await?,
            };
            total += n as u64;
        }
        Ok(total)
    }
}

impl Snapshot {
    /// Up to `limit` rows of `table` whose key comes after `after`, in key order.
    pub async fn rows(
        &mut self,
        table: &Table,
        after: Option<&[Value]>,
        limit: i64,
    ) -> StoreResult<Vec<Row>> {
        self.tx.rows(table, after, limit).await
    }

    /// Every row of `table` that moves, through `visit`, in batches of `batch`.
    pub async fn each_row(
        &mut self,
        table: &Table,
        batch: i64,
        visit: impl FnMut(&Row) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.tx.each_row(table, batch, visit).await
    }

    /// The digest of every table that moves, in catalog order.
    pub async fn digests(&mut self) -> StoreResult<Vec<(&'static str, TableDigest)>> {
        self.tx.digests().await
    }

    /// The newest applied migration.
    pub async fn migration_level(&mut self) -> StoreResult<i64> {
        self.tx.migration_level().await
    }

    /// Rows in data tables other than the built-in global templates every start seeds: zero
    /// means the database holds nothing a restore or copy would overwrite.
    pub async fn user_rows(&mut self) -> StoreResult<u64> {
        self.tx.user_rows().await
    }

    /// Ends the read (it wrote nothing).
    pub async fn finish(self) -> StoreResult<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Loader {
    /// The digest of every data table as this transaction sees it (before commit: a restore
    /// checks what it wrote against the archive's manifest and rolls back on a difference).
    pub async fn digests(&mut self) -> StoreResult<Vec<(&'static str, TableDigest)>> {
        self.tx.digests().await
    }

    /// Rows in data tables other than the seeded built-in templates.
    pub async fn user_rows(&mut self) -> StoreResult<u64> {
        self.tx.user_rows().await
    }

    /// Deletes every row of the data and derived tables, children first.
    pub async fn clear(&mut self) -> StoreResult<()> {
        for table in super::catalog::TABLES
            .iter()
            .rev()
            .filter(|t| t.role != super::catalog::Role::Transient)
        {
            let sql = format!("DELETE FROM {}", table.name);
            match &mut self.tx {
                Tx::Sqlite(tx) => {
                    sqlx::query(&sql).execute(&mut **tx).await?;
                }
                Tx::Postgres(tx) => {
                    sqlx::query(&sql).execute(&mut **tx).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes `rows` (in the catalog's column order) into `table`: a row whose key exists
    /// replaces it. Rows of a self-referencing table are written parents first.
    pub async fn insert(&mut self, table: &'static Table, rows: Vec<Row>) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            if row.len() != table.columns.len() {
                return Err(StoreError::Conflict(format!(
                    "a {} row has {} values; the table has {} columns",
                    table.name,
                    row.len(),
                    table.columns.len()
                )));
            }
        }
        let rows = parents_first(table, rows);
        // Both databases take at least 32,766 parameters per statement.
        let per_statement = (30_000 / table.columns.len()).clamp(1, 500);
        for chunk in rows.chunks(per_statement) {
            match &mut self.tx {
                Tx::Sqlite(tx) => sqlite::insert(tx, table, chunk).await?,
                Tx::Postgres(tx) => postgres::insert(tx, table, chunk).await?,
            }
        }
        if table.identity.is_some() && !self.identities.iter().any(|t| t.name == table.name) {
            self.identities.push(table);
        }
        Ok(())
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(mut tx) => {
                for table in &self.identities {
                    postgres::advance_identity(&mut tx, table).await?;
                }
                tx.commit().await?
            }
        }
        Ok(())
    }
}

/// Orders rows so that a row referencing another row of the same table comes after it.
fn parents_first(table: &Table, rows: Vec<Row>) -> Vec<Row> {
    let Some(parent) = table.parent else {
        return rows;
    };
    let parent_at = table
        .columns
        .iter()
        .position(|c| c.name == parent)
        .expect("catalog parent columns are columns");
    let key_at = table.key_positions()[0];
    let mut placed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut pending = rows;
    let mut out = Vec::with_capacity(pending.len());
    let in_batch: std::collections::HashSet<String> =
        pending.iter().map(|r| key_text(&r[key_at])).collect();
    while !pending.is_empty() {
        let before = pending.len();
        let (ready, rest): (Vec<Row>, Vec<Row>) =
            pending.into_iter().partition(|r| match &r[parent_at] {
                Value::Null => true,
                p => {
                    let p = key_text(p);
                    placed.contains(&p) || !in_batch.contains(&p)
                }
            });
        for r in &ready {
            placed.insert(key_text(&r[key_at]));
        }
        out.extend(ready);
        pending = rest;
        if pending.len() == before {
            // A cycle cannot pass the foreign key anyway; let the database say so.
            out.extend(pending);
            break;
        }
    }
    out
}

fn key_text(v: &Value) -> String {
    canonical_row(std::slice::from_ref(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::catalog::ColumnType;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_row_order_and_json_key_order_but_not_values() {
        let a = vec![
            Value::Text("t1".into()),
            Value::Json(json!({"a": 1, "b": [1, 2]})),
        ];
        let b = vec![Value::Text("t2".into()), Value::Int(3)];
        let a_reordered = vec![
            Value::Text("t1".into()),
            Value::Json(json!({"b": [1, 2], "a": 1})),
        ];
        let mut one = TableDigest::default();
        one.add(&a);
        one.add(&b);
        let mut two = TableDigest::default();
        two.add(&b);
        two.add(&a_reordered);
        assert_eq!(one, two);
        let mut three = TableDigest::default();
        three.add(&b);
        three.add(&[
            Value::Text("t1".into()),
            Value::Json(json!({"a": 2, "b": [1, 2]})),
        ]);
        assert_ne!(one.hex(), three.hex());
        assert_eq!(TableDigest::from_parts(2, &one.hex()), Some(one));
    }

    #[test]
    fn json_text_is_not_the_same_value_as_text() {
        assert_ne!(
            canonical_row(&[Value::Text("x".into())]),
            canonical_row(&[Value::Json(json!("x"))])
        );
    }

    #[test]
    fn timestamps_from_either_database_read_as_the_same_microsecond() {
        let sqlite = parse_timestamp("2026-12-08 01:33:01.123456789+00:00").unwrap();
        let rfc = parse_timestamp("2026-12-08T02:33:01.123456+01:00").unwrap();
        let naive = parse_timestamp("2026-12-08 01:33:01.123456").unwrap();
        assert_eq!(sqlite, rfc);
        assert_eq!(sqlite, naive);
        assert_eq!(
            Value::Timestamp(sqlite).to_json(),
            json!("2026-12-08T01:33:01.123456Z")
        );
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn archive_values_read_back_as_their_column_type() {
        for (ty, v) in [
            (ColumnType::Text, Value::Text("é".into())),
            (ColumnType::Int, Value::Int(-7)),
            (ColumnType::Real, Value::Real(0.1 + 0.2)),
            (ColumnType::Real, Value::Real(f64::NAN)),
            (ColumnType::Bool, Value::Bool(true)),
            (ColumnType::Json, Value::Json(json!({"k": [null, 1.5]}))),
            (ColumnType::Int, Value::Null),
        ] {
            let back = Value::from_json(ty, v.to_json()).unwrap();
            match (&v, &back) {
                (Value::Real(a), Value::Real(b)) if a.is_nan() => assert!(b.is_nan()),
                _ => assert_eq!(back, v),
            }
        }
        assert!(Value::from_json(ColumnType::Int, json!("7")).is_err());
    }

    #[test]
    fn self_referencing_rows_are_written_parents_first() {
        let folders = crate::store::catalog::table("folders").unwrap();
        let width = folders.columns.len();
        let key = folders.key_positions()[0];
        let parent = folders
            .columns
            .iter()
            .position(|c| c.name == "parent_id")
            .unwrap();
        let row = |id: &str, parent_id: Option<&str>| {
            let mut r = vec![Value::Null; width];
            r[key] = Value::Text(id.into());
            r[parent] = parent_id.map_or(Value::Null, |p| Value::Text(p.into()));
            r
        };
        let ordered = parents_first(
            folders,
            vec![
                row("c", Some("b")),
                row("b", Some("a")),
                row("a", None),
                row("x", Some("elsewhere")),
            ],
        );
        let ids: Vec<&Value> = ordered.iter().map(|r| &r[key]).collect();
        assert_eq!(
            ids,
            ["a", "x", "b", "c"]
                .map(|s| Value::Text(s.into()))
                .iter()
                .collect::<Vec<_>>()
        );
    }
}
