//! Table sizes and write traffic (`planner stats`, `--stats FILE`): the cost of a rewrite, a
//! validating scan, an index build or an unbatched UPDATE grows with the table, so with stats the
//! same finding is info on a few hundred rows and an error on millions or on a hot table.
//! Pure: the numbers come from a file or from `exec::table_stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rule::Severity;

/// The format version `planner stats` writes; a file of another version is refused.
pub const FORMAT: u32 = 1;

/// Up to this many rows a table is small: the lock lasts milliseconds.
pub const SMALL_ROWS: u64 = 10_000;
/// From this many rows a table is large: the lock lasts seconds to hours.
pub const LARGE_ROWS: u64 = 1_000_000;
/// From this many row writes per second (inserts, updates, deletes, averaged since the server's
/// statistics were reset) a table is hot: every second under lock queues this many writes.
pub const HOT_WRITES_PER_SECOND: f64 = 50.0;

/// What `planner stats` writes and `--stats` reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableStats {
    pub format: u32,
    /// The database the numbers were read from (for people reading the file).
    #[serde(default)]
    pub database: String,
    /// `schema.table` (catalog names, exact case) -> its numbers.
    pub tables: BTreeMap<String, TableStat>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableStat {
    /// Estimated rows (`pg_class.reltuples`, or `n_live_tup` when never analyzed).
    pub rows: u64,
    /// Table, indexes and TOAST (`pg_total_relation_size`).
    pub bytes: u64,
    /// Row writes per second since the statistics were reset.
    pub writes_per_second: f64,
}

/// How the size of the table changes a size-dependent finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Small,
    Medium,
    LargeOrHot,
}

impl TableStat {
    pub fn scale(&self) -> Scale {
        let hot = self.writes_per_second >= HOT_WRITES_PER_SECOND;
        if self.rows >= LARGE_ROWS || (hot && self.rows > SMALL_ROWS) {
            Scale::LargeOrHot
        } else if self.rows <= SMALL_ROWS {
            Scale::Small
        } else {
            Scale::Medium
        }
    }

    /// The severity a size-dependent finding takes on this table (`default` for medium tables).
    pub fn severity(&self, default: Severity) -> Severity {
        match self.scale() {
            Scale::Small => Severity::Info,
            Scale::Medium => default,
            Scale::LargeOrHot => Severity::Error,
        }
    }

    /// `~2.4M rows, 310 MB, 52 writes/s`.
    pub fn describe(&self) -> String {
        let rows = match self.rows {
            r if r >= 1_000_000 => format!("~{:.1}M rows", r as f64 / 1e6),
            r if r >= 10_000 => format!("~{}k rows", r / 1000),
            r => format!("~{r} rows"),
        };
        let mb = self.bytes as f64 / (1024.0 * 1024.0);
        let size = match mb {
            mb if mb >= 1024.0 => format!("{:.1} GB", mb / 1024.0),
            mb if mb >= 1.0 => format!("{mb:.0} MB"),
            _ => format!("{} kB", self.bytes / 1024),
        };
        format!("{rows}, {size}, {:.0} writes/s", self.writes_per_second)
    }
}

impl TableStats {
    /// Parse a stats file's text; errors say what to do.
    pub fn from_json(text: &str) -> Result<TableStats, String> {
        let stats: TableStats = serde_json::from_str(text).map_err(|e| {
            format!("not a planner stats file ({e}); write one with `planner stats --database-url URL > stats.json`")
        })?;
        if stats.format != FORMAT {
            return Err(format!(
                "stats format {} is not {FORMAT}; write it again with this planner's `planner stats`",
                stats.format
            ));
        }
        Ok(stats)
    }

    /// The numbers of the table a statement names (`key` as `lint::context::table_key` builds it).
    pub fn get(&self, key: &str) -> Option<&TableStat> {
        self.tables.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(rows: u64, writes_per_second: f64) -> TableStat {
        TableStat { rows, bytes: rows * 100, writes_per_second }
    }

    #[test]
    fn severity_follows_size_and_traffic() {
        assert_eq!(stat(300, 0.0).severity(Severity::Warning), Severity::Info);
        // A hot table of a few hundred rows: the lock still lasts milliseconds.
        assert_eq!(stat(300, 500.0).severity(Severity::Error), Severity::Info);
        assert_eq!(stat(50_000, 1.0).severity(Severity::Warning), Severity::Warning);
        assert_eq!(stat(50_000, 80.0).severity(Severity::Warning), Severity::Error);
        assert_eq!(stat(2_400_000, 0.0).severity(Severity::Warning), Severity::Error);
    }

    #[test]
    fn describe_and_file_format() {
        assert_eq!(stat(2_400_000, 52.0).describe(), "~2.4M rows, 229 MB, 52 writes/s");
        assert_eq!(stat(300, 0.0).describe(), "~300 rows, 29 kB, 0 writes/s");
        let text = r#"{"format":1,"database":"app","tables":{"public.users":{"rows":5,"bytes":8192,"writes_per_second":0.5}}}"#;
        let stats = TableStats::from_json(text).unwrap();
        assert_eq!(stats.get("public.users").map(|s| s.rows), Some(5));
        assert!(TableStats::from_json(&text.replace("\"format\":1", "\"format\":2"))
            .unwrap_err()
            .contains("format 2"));
        assert!(TableStats::from_json("{}").unwrap_err().contains("planner stats --database-url"));
    }
}
