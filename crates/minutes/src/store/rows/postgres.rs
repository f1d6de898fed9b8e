//! Catalog rows on PostgreSQL: `timestamptz`, `jsonb`, `boolean`, identity columns.
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Arguments, Postgres, Row as _, Transaction};

use super::{micros, Row, Value};
use crate::store::catalog::{ColumnType, Table};
use crate::store::{StoreError, StoreResult};

const SYSTEM_SCOPE: &str =
    "SELECT set_config('app.tenant_id', '', true), set_config('app.scope', 'system', true)";

/// A read-only repeatable-read transaction: every table read sees the same instant.
pub(super) async fn begin_snapshot(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    Ok(pool
        .begin_with(format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {SYSTEM_SCOPE}"
        ))
        .await?)
}

pub(super) async fn begin_system(pool: &PgPool) -> StoreResult<Transaction<'static, Postgres>> {
    Ok(pool.begin_with(format!("BEGIN; {SYSTEM_SCOPE}")).await?)
}

/// The select list: integers widened, so INTEGER and BIGINT columns read alike.
fn select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Int => format!("{0}::int8 AS {0}", c.name),
            ColumnType::Real => format!("{0}::float8 AS {0}", c.name),
            _ => c.name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn rows(
    tx: &mut Transaction<'static, Postgres>,
    table: &Table,
    after: Option<&[Value]>,
    limit: i64,
) -> StoreResult<Vec<Row>> {
    let mut args = PgArguments::default();
    if let Some(after) = after {
        for (v, name) in after.iter().zip(table.key) {
            let column = table.column(name).expect("key columns are columns");
            bind(&mut args, column.ty, v)?;
        }
    }
    args.add(limit).map_err(encode_error)?;
    let sql = super::select_sql(table, select_list(table), after.map_or(0, <[Value]>::len));
    let fetched = sqlx::query_with(&sql, args).fetch_all(&mut **tx).await?;
    fetched.iter().map(|r| decode(table, r)).collect()
}

fn decode(table: &Table, row: &PgRow) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        let value = match c.ty {
            ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
            ColumnType::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            ColumnType::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
            ColumnType::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            ColumnType::Timestamp => row
                .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)?
                .map(|t| Value::Timestamp(micros(t))),
            ColumnType::Json => row
                .try_get::<Option<serde_json::Value>, _>(i)?
                .map(Value::Json),
        };
        out.push(value.unwrap_or(Value::Null));
    }
    Ok(out)
}

fn encode_error(e: sqlx::error::BoxDynError) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(e))
}

/// Binds by the column's type, so a NULL is typed (`timestamptz`, `jsonb`, …) as the column.
fn bind(args: &mut PgArguments, ty: ColumnType, v: &Value) -> StoreResult<()> {
    let r = match (ty, v) {
        (ColumnType::Text, Value::Text(s)) => args.add(s.clone()),
        (ColumnType::Int, Value::Int(i)) => args.add(*i),
        (ColumnType::Real, Value::Real(f)) => args.add(*f),
        (ColumnType::Bool, Value::Bool(b)) => args.add(*b),
        (ColumnType::Timestamp, Value::Timestamp(t)) => args.add(*t),
        (ColumnType::Json, Value::Json(j)) => args.add(Json(j.clone())),
        (ColumnType::Text, Value::Null) => args.add(Option::<String>::None),
        (ColumnType::Int, Value::Null) => args.add(Option::<i64>::None),
        (ColumnType::Real, Value::Null) => args.add(Option::<f64>::None),
        (ColumnType::Bool, Value::Null) => args.add(Option::<bool>::None),
        (ColumnType::Timestamp, Value::Null) => {
            args.add(Option::<chrono::DateTime<chrono::Utc>>::None)
        }
        (ColumnType::Json, Value::Null) => args.add(Option::<Json<serde_json::Value>>::None),
        (ty, other) => {
            return Err(StoreError::Conflict(format!(
                "{other:?} is not a {ty:?} value"
            )))
        }
    };
    r.map_err(encode_error)
}

pub(super) async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    table: &Table,
    rows: &[Row],
) -> StoreResult<()> {
    let mut args = PgArguments::default();
    for row in rows {
        for (v, c) in row.iter().zip(table.columns) {
            bind(&mut args, c.ty, v)?;
        }
    }
    // Identity columns are GENERATED ALWAYS: keeping the source's ids needs the override.
    let overriding = if table.identity.is_some() {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let sql = super::insert_sql(table, rows.len(), overriding);
    sqlx::query_with(&sql, args).execute(&mut **tx).await?;
    Ok(())
}

/// Moves an identity sequence past the largest id, so the next generated id is new.
pub(super) async fn advance_identity(
    tx: &mut Transaction<'static, Postgres>,
    table: &Table,
) -> StoreResult<()> {
    let Some(column) = table.identity else {
        return Ok(());
    };
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), \
         COALESCE((SELECT MAX({1}) FROM {0}), 0) + 1, false)",
        table.name, column
    );
    sqlx::query(&sql).execute(&mut **tx).await?;
    Ok(())
}
