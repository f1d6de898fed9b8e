//! Catalog rows on SQLite: timestamps and JSON are text, booleans 0/1.
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row as _, Sqlite, Transaction};

use super::{parse_timestamp, Row, Value};
use crate::store::catalog::{ColumnType, Table};
use crate::store::{StoreError, StoreResult};

/// The select list: numbers cast, so an integer stored in a REAL column still reads as REAL.
fn select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Int => format!("CAST({0} AS INTEGER) AS {0}", c.name),
            ColumnType::Real => format!("CAST({0} AS REAL) AS {0}", c.name),
            _ => c.name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn rows(
    tx: &mut Transaction<'static, Sqlite>,
    table: &Table,
    after: Option<&[Value]>,
    limit: i64,
) -> StoreResult<Vec<Row>> {
    let mut args = SqliteArguments::default();
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

fn decode(table: &Table, row: &SqliteRow) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        let value = match c.ty {
            ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
            ColumnType::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            ColumnType::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
            ColumnType::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            ColumnType::Timestamp => match row.try_get::<Option<String>, _>(i)? {
                None => None,
                Some(s) => Some(Value::Timestamp(parse_timestamp(&s).ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "{}.{} holds {s:?}, which is not a timestamp",
                        table.name, c.name
                    ))
                })?)),
            },
            ColumnType::Json => match row.try_get::<Option<String>, _>(i)? {
                None => None,
                Some(s) => Some(Value::Json(serde_json::from_str(&s).map_err(|e| {
                    StoreError::Conflict(format!("{}.{} is not JSON: {e}", table.name, c.name))
                })?)),
            },
        };
        out.push(value.unwrap_or(Value::Null));
    }
    Ok(out)
}

fn encode_error(e: sqlx::error::BoxDynError) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(e))
}

fn bind(args: &mut SqliteArguments<'static>, ty: ColumnType, v: &Value) -> StoreResult<()> {
    let r = match (ty, v) {
        (ColumnType::Text, Value::Text(s)) => args.add(s.clone()),
        (ColumnType::Int, Value::Int(i)) => args.add(*i),
        (ColumnType::Real, Value::Real(f)) => args.add(*f),
        (ColumnType::Bool, Value::Bool(b)) => args.add(*b),
        // The same text the application's own writes bind (sqlx's RFC 3339 form).
        (ColumnType::Timestamp, Value::Timestamp(t)) => args.add(*t),
        (ColumnType::Json, Value::Json(j)) => args.add(j.to_string()),
        (_, Value::Null) => args.add(Option::<String>::None),
        (ty, other) => {
            return Err(StoreError::Conflict(format!(
                "{other:?} is not a {ty:?} value"
            )))
        }
    };
    r.map_err(encode_error)
}

pub(super) async fn insert(
    tx: &mut Transaction<'static, Sqlite>,
    table: &Table,
    rows: &[Row],
) -> StoreResult<()> {
    let mut args = SqliteArguments::default();
    for row in rows {
        for (v, c) in row.iter().zip(table.columns) {
            bind(&mut args, c.ty, v)?;
        }
    }
    let sql = super::insert_sql(table, rows.len(), "");
    sqlx::query_with(&sql, args).execute(&mut **tx).await?;
    Ok(())
}
