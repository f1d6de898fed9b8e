//! What an import did (or, in a dry run, would do): counts per kind of row, every skipped row
//! with its reason, every value changed on the way in, and the audio left where it was.
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Counts for one kind of imported thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Written by this run (in a dry run: would be written).
    pub imported: u64,
    /// Already in the database from an earlier import of the same file.
    pub already_present: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub table: String,
    /// The row's id (`mapping_id` for speaker mappings).
    pub key: Value,
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fixup {
    pub table: String,
    pub key: String,
    pub field: String,
    pub reason: String,
    pub source: Value,
    pub result: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// `v1`, `v2` or `v3`, from the columns present.
    pub variant: String,
    /// Keyed by what was imported: `users`, `tasks`, `segments`, `artifacts_failed`, …
    pub counts: BTreeMap<String, Count>,
    pub skipped: Vec<Skipped>,
    pub fixups: Vec<Fixup>,
    /// Audio references kept as they were stored (local paths and URLs); none is fetched.
    pub audio_not_fetched: Vec<String>,
}

impl Report {
    pub fn count(&mut self, kind: &str, new: bool, n: u64) {
        let c = self.counts.entry(kind.to_string()).or_default();
        if new {
            c.imported += n;
        } else {
            c.already_present += n;
        }
    }

    pub fn imported(&self, kind: &str) -> u64 {
        self.counts.get(kind).map_or(0, |c| c.imported)
    }

    pub fn skip(&mut self, table: &str, key: Value, reason: &str, detail: String) {
        self.skipped.push(Skipped {
            table: table.into(),
            key,
            reason: reason.into(),
            detail,
        });
    }

    pub fn fixup(
        &mut self,
        table: &str,
        key: &str,
        field: &str,
        reason: &str,
        source: Value,
        result: Value,
    ) {
        self.fixups.push(Fixup {
            table: table.into(),
            key: key.into(),
            field: field.into(),
            reason: reason.into(),
            source,
            result,
        });
    }

    /// Rows written by this run, over every kind.
    pub fn total_imported(&self) -> u64 {
        self.counts.values().map(|c| c.imported).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        writeln!(f, "original system database: {}", self.variant)?;
        writeln!(f, "{:<32} {:>10} {:>16}", "", verb, "already present")?;
        for (kind, c) in &self.counts {
            writeln!(f, "{kind:<32} {:>10} {:>16}", c.imported, c.already_present)?;
        }
        writeln!(f, "skipped rows: {}", self.skipped.len())?;
        for s in &self.skipped {
            writeln!(f, "  {} {} — {}: {}", s.table, s.key, s.reason, s.detail)?;
        }
        writeln!(f, "values changed on import: {}", self.fixups.len())?;
        for x in &self.fixups {
            writeln!(
                f,
                "  {} {} {} — {}: {} → {}",
                x.table, x.key, x.field, x.reason, x.source, x.result
            )?;
        }
        writeln!(
            f,
            "audio not fetched (copy the files into the object store under the same keys to play them): {}",
            self.audio_not_fetched.len()
        )?;
        for a in &self.audio_not_fetched {
            writeln!(f, "  {a}")?;
        }
        Ok(())
    }
}
