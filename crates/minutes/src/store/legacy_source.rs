//! Reading a database file of the original Python system (`minutes import legacy`).
//!
//! The original's tables gained columns over its versions, so nothing here names a column:
//! every row comes back as a map from the column names `PRAGMA table_info` reports to JSON
//! values, and the importer decides what a missing column means.
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::StoreResult;

/// One row of a legacy table: column name → value (`Null` for SQL NULL). `rowid` is the
/// row's SQLite rowid, which orders rows as the original read them (`.first()`).
pub type LegacyRow = BTreeMap<String, Value>;

/// The original's database, opened read-only: an import never changes its source.
pub struct LegacySource {
    pool: SqlitePool,
}

impl LegacySource {
    pub async fn open(path: &Path) -> StoreResult<LegacySource> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .read_only(true)
            .immutable(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(LegacySource { pool })
    }

    /// Names of the tables in the file.
    pub async fn tables(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The table's columns in their physical order; empty when the table does not exist.
    pub async fn columns(&self, table: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Every row of `table` in rowid order; no rows when the table does not exist.
    pub async fn rows(&self, table: &str) -> StoreResult<Vec<LegacyRow>> {
        let columns = self.columns(table).await?;
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        // Names come from the file's own catalog; quoting keeps odd ones intact.
        let quoted: Vec<String> = columns
            .iter()
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        let sql = format!(
            "SELECT rowid AS \"rowid\", {} FROM \"{}\" ORDER BY rowid",
            quoted.join(", "),
            table.replace('"', "\"\"")
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut map = LegacyRow::new();
            for (i, column) in row.columns().iter().enumerate() {
                map.insert(column.name().to_string(), cell(row, i)?);
            }
            out.push(map);
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A cell by its stored (dynamic) type: SQLite columns hold whatever was written to them.
fn cell(row: &sqlx::sqlite::SqliteRow, i: usize) -> StoreResult<Value> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    Ok(match kind.as_str() {
        "INTEGER" => Value::from(row.try_get::<i64, _>(i)?),
        "REAL" => Value::from(row.try_get::<f64, _>(i)?),
        "BLOB" => Value::from(String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(i)?).into_owned()),
        _ => Value::from(row.try_get::<String, _>(i)?),
    })
}
