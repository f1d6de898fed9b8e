//! The table catalog: every table of the schema at the head migration, in foreign-key order,
//! with each column's logical type. One description serves `minutes db copy`, `minutes backup`
//! (create, verify, restore) and the key-rotation walk, so a new table or column is handled by
//! all of them or fails the catalog test (`catalog_matches_both_live_schemas`), which compares
//! it with what the migrations build on SQLite and on PostgreSQL.
use super::SealedTable;

/// How a value is stored: SQLite keeps timestamps and JSON as text and booleans as 0/1;
/// PostgreSQL has `timestamptz`, `jsonb` and `boolean`. Moving data converts through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Int,
    Real,
    Bool,
    Timestamp,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    /// Read as NULL when data moves: a value that only means something to the database it
    /// was written in (the broker announcement of a job, which the new home must redo).
    pub reset_on_move: bool,
}

/// What a table's rows are to a copy or a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Copied, backed up, restored and verified.
    Data,
    /// Computed from data tables (the search index): rebuilt after a move, never copied.
    Derived,
    /// Describes running processes (the worker registry): neither copied nor restored.
    Transient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub role: Role,
    /// The primary key, in order.
    pub key: &'static [&'static str],
    /// A PostgreSQL identity column (SQLite AUTOINCREMENT): inserted with its value kept, and
    /// its sequence moved past the largest value afterwards.
    pub identity: Option<&'static str>,
    /// A column referencing this same table: rows are written parents first.
    pub parent: Option<&'static str>,
    /// The sealed-field walk of `minutes admin rotate-key` for this table.
    pub sealed: Option<SealedTable>,
    /// Which rows move (a SQL condition): finished jobs are history the pruner deletes.
    pub rows: Option<&'static str>,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Positions of the key columns in `columns`.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|c| c.name == *k)
                    .expect("catalog key columns are columns")
            })
            .collect()
    }
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        name,
        ty,
        nullable,
        reset_on_move: false,
    }
}

const fn col_reset_on_move(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        reset_on_move: true,
        ..col(name, ty, nullable)
    }
}

/// Tables that hold data (copied, backed up and restored), in foreign-key order.
pub fn data_tables() -> impl DoubleEndedIterator<Item = &'static Table> {
    TABLES.iter().filter(|t| t.role == Role::Data)
}

/// The tables with sealed personal fields, in catalog order: what `minutes admin rotate-key`
/// and `minutes backup verify` walk.
pub fn sealed_tables() -> impl Iterator<Item = SealedTable> {
    TABLES.iter().filter_map(|t| t.sealed)
}

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

mod tables;

pub use tables::TABLES;

/// A column as the live database declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    pub table: String,
    pub column: String,
    /// SQLite's declared type or PostgreSQL's `data_type`, lower case.
    pub declared: String,
    pub nullable: bool,
}

use ColumnType::{Bool, Int, Json, Real, Text, Timestamp};

/// Whether a declared type stores a catalog type: SQLite declares timestamps and JSON as TEXT.
fn declares(kind: &str, declared: &str, ty: ColumnType) -> bool {
    match (kind, ty) {
        ("sqlite", Text | Timestamp | Json) => declared == "text",
        ("sqlite", Int) => declared == "integer" || declared == "bigint",
        ("sqlite", Real) => declared == "real" || declared == "double precision",
        ("sqlite", Bool) => declared == "boolean",
        (_, Text) => declared == "text",
        (_, Int) => declared == "integer" || declared == "bigint",
        (_, Real) => declared == "double precision" || declared == "real",
        (_, Bool) => declared == "boolean",
        (_, Timestamp) => declared == "timestamp with time zone",
        (_, Json) => declared == "jsonb",
    }
}

/// Every difference between the catalog and a live schema at the head migration (`kind` is
/// `sqlite` or `postgres`); empty when they agree on tables, column order, types and NULLs.
pub fn differences(kind: &str, live: &[LiveColumn]) -> Vec<String> {
    let mut out = Vec::new();
    let mut live_tables: Vec<&str> = live.iter().map(|c| c.table.as_str()).collect();
    live_tables.dedup();
    for name in &live_tables {
        if table(name).is_none() {
            out.push(format!("{kind}: table {name} is not in the catalog"));
        }
    }
    for t in TABLES {
        let columns: Vec<&LiveColumn> = live.iter().filter(|c| c.table == t.name).collect();
        if columns.is_empty() {
            out.push(format!("{kind}: catalog table {} does not exist", t.name));
            continue;
        }
        let live_names: Vec<&str> = columns.iter().map(|c| c.column.as_str()).collect();
        let catalog_names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        if live_names != catalog_names {
            out.push(format!(
                "{kind}: {} has columns {live_names:?}; the catalog says {catalog_names:?}",
                t.name
            ));
            continue;
        }
        for (l, c) in columns.iter().zip(t.columns) {
            if !declares(kind, &l.declared, c.ty) {
                out.push(format!(
                    "{kind}: {}.{} is {}; the catalog says {:?}",
                    t.name, c.name, l.declared, c.ty
                ));
            }
            // A primary-key column is NOT NULL in effect even where SQLite does not say so.
            if l.nullable != c.nullable && !(l.nullable && t.key.contains(&c.name)) {
                out.push(format!(
                    "{kind}: {}.{} nullable is {}; the catalog says {}",
                    t.name, c.name, l.nullable, c.nullable
                ));
            }
        }
    }
    out
}
