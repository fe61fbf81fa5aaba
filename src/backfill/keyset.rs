//! The SQL of one batch: keyset pagination over the table's key, update and checkpoint together.
//!
//! A batch is one statement (one round trip, one autocommit transaction): find the key `batch`
//! rows past the checkpoint, update every pending row up to it, move the checkpoint there. The
//! data and the checkpoint commit (or vanish) together: a crash at any moment resumes exactly.
//!
//! Keys travel as text (`k::text`) and come back through `$n::text::<type>`, which works for
//! every type with a text input function and keeps the statements' parameter types fixed.

use crate::sql::{Ident, QualifiedName};

/// One key column with its type as `format_type()` prints it (read from the catalog, quoted
/// where needed by the server itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPart {
    pub column: Ident,
    pub sql_type: String,
}

/// Everything needed to render the batch statements of one table.
#[derive(Debug, Clone)]
pub struct BatchSql {
    pub table: QualifiedName,
    pub key: Vec<KeyPart>,
    /// `SET` list, already rendered: `"c" = (expr), ...`.
    pub set_list: String,
    /// Predicate over the row, true while it still needs filling.
    pub pending: String,
}

impl BatchSql {
    /// `("a", "b")`: the key as a row, for row comparisons that a btree index answers.
    fn key_row(&self) -> String {
        let cols: Vec<String> = self.key.iter().map(|k| k.column.to_string()).collect();
        format!("({})", cols.join(", "))
    }

    /// `($first::text::t1, $first+1::text::t2)`: key values bound as text, cast back.
    fn param_row(&self, first: usize) -> String {
        let vals: Vec<String> = self
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("${}::text::{}", first + i, k.sql_type))
            .collect();
        format!("({})", vals.join(", "))
    }

    fn key_as_text(&self) -> String {
        let cols: Vec<String> = self.key.iter().map(|k| format!("{}::text", k.column)).collect();
        cols.join(", ")
    }

    /// Qualified with the table alias `t`: a bare name in ORDER BY would pick the output column
    /// of the same name, which is the key's text form (and sorts as text).
    fn order_by(&self, desc: bool) -> String {
        let dir = if desc { " DESC" } else { "" };
        let cols: Vec<String> = self.key.iter().map(|k| format!("t.{}{dir}", k.column)).collect();
        cols.join(", ")
    }

    fn n(&self) -> usize {
        self.key.len()
    }

    /// The range condition `key > lower AND key <= upper`. Parameters: lower bound (when
    /// `has_lower`) then upper bound, `n` each, starting at `$1`.
    fn range(&self, has_lower: bool) -> (String, usize) {
        let mut next = 1;
        let mut parts = Vec::new();
        if has_lower {
            parts.push(format!("{} > {}", self.key_row(), self.param_row(next)));
            next += self.n();
        }
        parts.push(format!("{} <= {}", self.key_row(), self.param_row(next)));
        next += self.n();
        (parts.join(" AND "), next)
    }

    /// The largest key at the start of the run: later rows are the sync trigger's job.
    pub fn max_key(&self) -> String {
        format!(
            "SELECT {} FROM {} AS t ORDER BY {} LIMIT 1",
            self.key_as_text(),
            self.table,
            self.order_by(true)
        )
    }

    /// The latency probe (see `probe`): the first row at or after the given key (parameters:
    /// the key, when `has_key`) read through the primary key, and a one-row upsert in
    /// `planner.probe` so that the statement's commit flushes WAL like an app's write.
    pub fn probe(&self, has_key: bool) -> String {
        let filter = if has_key {
            format!(" WHERE {} >= {}", self.key_row(), self.param_row(1))
        } else {
            String::new()
        };
        format!(
            "WITH r AS (SELECT 1 FROM {table} AS t{filter} ORDER BY {order} LIMIT 1)\n\
             INSERT INTO planner.probe (pid, at) SELECT pg_backend_pid(), now() FROM (SELECT count(*) FROM r) AS c\n\
             ON CONFLICT (pid) DO UPDATE SET at = excluded.at",
            table = self.table,
            order = self.order_by(false),
        )
    }

    /// One batch, one statement, one round trip. Parameters: [lower] (when `has_lower`), upper
    /// (the largest key when the run started), batch size (int8), plan name, table name.
    ///
    /// - `bound`: the key `batch` rows past the checkpoint (an index-only walk);
    /// - `batch_end`: that key, or the upper bound when fewer rows remain (`last`);
    /// - `done`: update the pending rows of `(lower, batch_end]`;
    /// - `checkpoint`: move the checkpoint to `batch_end` and count the keys visited.
    ///
    /// The rows and the checkpoint commit together, so a crash at any moment resumes exactly.
    /// Race-freedom: `SET` expressions read the row version the UPDATE locks; under READ
    /// COMMITTED a row changed concurrently is re-checked against `pending` and recomputed from
    /// its newest version, so the app's writes are never overwritten with stale values.
    ///
    /// Returns one row: updated (int8), visited (int8), last (bool), last_key (jsonb).
    pub fn batch(&self, has_lower: bool) -> String {
        let (range, next) = self.range(has_lower);
        let upper_first = if has_lower { 1 + self.n() } else { 1 };
        let limit = next;
        let cols: Vec<String> = self.key.iter().map(|k| k.column.to_string()).collect();
        let cols = cols.join(", ");
        let t_cols: Vec<String> = self.key.iter().map(|k| format!("t.{}", k.column)).collect();
        let upper_vals: Vec<String> = self
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("${}::text::{}", upper_first + i, k.sql_type))
            .collect();
        let v_text: Vec<String> = self.key.iter().map(|k| format!("v.{}::text", k.column)).collect();
        let lower_cond = if has_lower {
            format!("{} > {} AND ", self.key_row(), self.param_row(1))
        } else {
            String::new()
        };
        format!(
            "WITH bound AS (\n  SELECT {t_cols} FROM {table} AS t WHERE {range}\n  ORDER BY {order} OFFSET ${limit}::int8 - 1 LIMIT 1\n\
             ), batch_end AS (\n  SELECT {cols}, false AS last FROM bound\n  UNION ALL\n  \
             SELECT {upper_vals}, true WHERE NOT EXISTS (SELECT FROM bound)\n\
             ), done AS (\n  UPDATE {table} SET {set}\n  \
             WHERE {lower_cond}{key_row} <= (SELECT {cols} FROM batch_end) AND ({pending})\n  RETURNING 1\n\
             ), visited AS (\n  SELECT e.*, CASE WHEN e.last THEN (SELECT count(*) FROM {table} AS t WHERE {range}) \
             ELSE ${limit}::int8 END AS visited\n  FROM batch_end AS e\n\
             ), checkpoint AS (\n  UPDATE planner.backfill_progress AS p\n  \
             SET last_key = jsonb_build_array({v_text}), rows_done = p.rows_done + v.visited, \
             batches = p.batches + (v.visited > 0)::int, updated_at = now()\n  FROM visited AS v\n  \
             WHERE p.plan = ${plan}::text AND p.table_name = ${tname}::text\n  \
             RETURNING v.visited, v.last, p.last_key\n)\n\
             SELECT (SELECT count(*) FROM done) AS updated, c.visited, c.last, c.last_key FROM checkpoint AS c",
            t_cols = t_cols.join(", "),
            table = self.table,
            order = self.order_by(false),
            upper_vals = upper_vals.join(", "),
            set = self.set_list,
            key_row = self.key_row(),
            pending = self.pending,
            v_text = v_text.join(", "),
            plan = limit + 1,
            tname = limit + 2,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(key: &[(&str, &str)]) -> BatchSql {
        BatchSql {
            table: QualifiedName::new(Ident::new("public").unwrap(), Ident::new("Order Lines").unwrap()),
            key: key
                .iter()
                .map(|(c, t)| KeyPart { column: Ident::new(*c).unwrap(), sql_type: t.to_string() })
                .collect(),
            set_list: "\"full_name\" = (\"name\")".into(),
            pending: "\"full_name\" IS DISTINCT FROM \"name\"".into(),
        }
    }

    #[test]
    fn single_key_first_batch_has_no_lower_bound() {
        let q = sql(&[("id", "bigint")]).batch(false);
        assert!(q.contains(
            "SELECT t.\"id\" FROM \"public\".\"Order Lines\" AS t WHERE (\"id\") <= ($1::text::bigint)\n  \
             ORDER BY t.\"id\" OFFSET $2::int8 - 1 LIMIT 1"
        ));
        assert!(q.contains(
            "WHERE (\"id\") <= (SELECT \"id\" FROM batch_end) AND (\"full_name\" IS DISTINCT FROM"
        ));
        assert!(q.contains("p.plan = $3::text AND p.table_name = $4::text"));
    }

    #[test]
    fn composite_keys_compare_as_rows_and_number_parameters_in_order() {
        let q = sql(&[("tenant", "text"), ("a\"b", "integer")]).batch(true);
        let range = "(\"tenant\", \"a\"\"b\") > ($1::text::text, $2::text::integer) \
                     AND (\"tenant\", \"a\"\"b\") <= ($3::text::text, $4::text::integer)";
        assert_eq!(q.matches(range).count(), 2, "in bound and in the last batch's count:\n{q}");
        assert!(q.contains("SELECT $3::text::text, $4::text::integer, true WHERE NOT EXISTS"));
        assert!(q.contains(
            "WHERE (\"tenant\", \"a\"\"b\") > ($1::text::text, $2::text::integer) AND \
             (\"tenant\", \"a\"\"b\") <= (SELECT \"tenant\", \"a\"\"b\" FROM batch_end)"
        ));
        assert!(q.contains("OFFSET $5::int8 - 1"));
        assert!(q.contains("jsonb_build_array(v.\"tenant\"::text, v.\"a\"\"b\"::text)"));
        assert!(q.contains("p.plan = $6::text AND p.table_name = $7::text"));
    }

    #[test]
    fn max_key_orders_descending_on_every_key_column() {
        let s = sql(&[("a", "int"), ("b", "int")]);
        assert!(s.max_key().ends_with("ORDER BY t.\"a\" DESC, t.\"b\" DESC LIMIT 1"));
    }
}
