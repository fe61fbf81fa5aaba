//! The SQL of one batch: keyset pagination over the table's key, update and checkpoint together.
//!
//! A batch is two statements. `next_bound` finds the key `batch` rows past the checkpoint (an
//! index-only walk, read-only, safe to lose). `update_batch` then updates every pending row in the
//! key range `(checkpoint, bound]` and moves the checkpoint to `bound` in the same statement, so the
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

    /// The key `$limit` rows past the lower bound, within the upper bound (no row when fewer
    /// remain). Parameters: [lower], upper, limit.
    pub fn next_bound(&self, has_lower: bool) -> String {
        let (range, next) = self.range(has_lower);
        format!(
            "SELECT {} FROM {} AS t WHERE {range} ORDER BY {} OFFSET ${next}::int8 - 1 LIMIT 1",
            self.key_as_text(),
            self.table,
            self.order_by(false)
        )
    }

    /// How many keys lie in the (last, short) range. Parameters: [lower], upper.
    pub fn count_range(&self, has_lower: bool) -> String {
        let (range, _) = self.range(has_lower);
        format!("SELECT count(*) FROM {} WHERE {range}", self.table)
    }

    /// Update the pending rows of the range and advance the checkpoint in one statement.
    /// Parameters: [lower], upper, rows visited (int8), plan name, table name.
    /// The new checkpoint is the upper bound itself (built from the same parameters).
    ///
    /// Race-freedom: `SET` expressions read the row version the UPDATE locks; under READ
    /// COMMITTED a row changed concurrently is re-checked against `pending` and recomputed from
    /// its newest version, so the app's writes are never overwritten with stale values.
    pub fn update_batch(&self, has_lower: bool) -> String {
        let (range, next) = self.range(has_lower);
        let upper_first = if has_lower { 1 + self.n() } else { 1 };
        let last_key: Vec<String> = (0..self.n()).map(|i| format!("${}::text", upper_first + i)).collect();
        format!(
            "WITH done AS (\n  UPDATE {table} SET {set}\n  WHERE {range} AND ({pending})\n  RETURNING 1\n), \
             checkpoint AS (\n  UPDATE planner.backfill_progress\n  SET last_key = jsonb_build_array({last_key}), \
             rows_done = rows_done + ${rows}::int8, batches = batches + 1, updated_at = now()\n  \
             WHERE plan = ${plan}::text AND table_name = ${tname}::text\n  RETURNING 1\n)\n\
             SELECT (SELECT count(*) FROM done) AS updated, (SELECT count(*) FROM checkpoint) AS saved",
            table = self.table,
            set = self.set_list,
            pending = self.pending,
            last_key = last_key.join(", "),
            rows = next,
            plan = next + 1,
            tname = next + 2,
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
        let s = sql(&[("id", "bigint")]);
        assert_eq!(
            s.next_bound(false),
            "SELECT \"id\"::text FROM \"public\".\"Order Lines\" AS t WHERE (\"id\") <= ($1::text::bigint) \
             ORDER BY t.\"id\" OFFSET $2::int8 - 1 LIMIT 1"
        );
        assert_eq!(
            s.count_range(true),
            "SELECT count(*) FROM \"public\".\"Order Lines\" WHERE (\"id\") > ($1::text::bigint) \
             AND (\"id\") <= ($2::text::bigint)"
        );
    }

    #[test]
    fn composite_keys_compare_as_rows_and_number_parameters_in_order() {
        let s = sql(&[("tenant", "text"), ("a\"b", "integer")]);
        let q = s.update_batch(true);
        assert!(q.contains(
            "WHERE (\"tenant\", \"a\"\"b\") > ($1::text::text, $2::text::integer) \
             AND (\"tenant\", \"a\"\"b\") <= ($3::text::text, $4::text::integer) \
             AND (\"full_name\" IS DISTINCT FROM \"name\")"
        ));
        assert!(q.contains("last_key = jsonb_build_array($3::text, $4::text)"));
        assert!(q.contains("rows_done + $5::int8"));
        assert!(q.contains("plan = $6::text AND table_name = $7::text"));
        let first = s.update_batch(false);
        assert!(first.contains("jsonb_build_array($1::text, $2::text)"));
        assert!(first.contains("rows_done + $3::int8"));
    }

    #[test]
    fn max_key_orders_descending_on_every_key_column() {
        let s = sql(&[("a", "int"), ("b", "int")]);
        assert!(s.max_key().ends_with("ORDER BY t.\"a\" DESC, t.\"b\" DESC LIMIT 1"));
    }
}
