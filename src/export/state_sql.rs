//! The SQL an exported migration runs around a phase's own statements, so that planner's state
//! schema says what the team's tool did: create the state schema (the executor's own DDL), register
//! the plan, check the phase's preconditions inside the database (refusing with the reason), and
//! record the phase as running, its steps as they commit, and the phase as done or rolled back.
//!
//! Everything here is text rendered from the typed plan; values are quoted with
//! [`quote_literal`], identifiers by their `Display`.

use std::fmt::Write as _;

use crate::plan::state_schema::{BOOTSTRAP, LOCK_KEY1, LOCK_KEY2, MIGRATIONS, SCHEMA_LOCK};
use crate::plan::{Phase, PhaseKind, Plan, Precondition};
use crate::sql::ident::short;
use crate::sql::{quote_literal, QualifiedName};

/// What every piece of state SQL needs to know about the plan and the export.
#[derive(Debug, Clone)]
pub struct StateCx<'a> {
    pub plan: &'a Plan,
    /// plan.yaml exactly as planner wrote it (registered verbatim, so `planner status` and
    /// `planner rollback` read the same plan the folder holds).
    pub plan_yaml: &'a str,
    pub plan_sha256: &'a str,
    /// How the plan folder is named in commands we print (`planner backfill <dir>`).
    pub plan_dir: &'a str,
    /// Recorded as the actor: `<tool> migration as <role>`.
    pub tool: &'a str,
}

impl StateCx<'_> {
    fn name(&self) -> String {
        quote_literal(&self.plan.name)
    }
    fn actor(&self) -> String {
        format!("{} || ' as ' || current_user", quote_literal(&format!("{} migration", self.tool)))
    }
    pub fn backfill_command(&self) -> String {
        format!("planner backfill {}", self.plan_dir)
    }
}

/// The state schema at the version this planner writes, created or migrated exactly as
/// `exec::state::ensure_schema` does (same DDL, same version table), inside the caller's transaction.
pub fn ensure_schema() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{SCHEMA_LOCK};");
    let _ = writeln!(out, "{BOOTSTRAP}");
    let _ = writeln!(out, "DO $planner_state$\nBEGIN");
    let _ = writeln!(
        out,
        "  IF (SELECT coalesce(max(version), 0) FROM planner.state_version) > {n} THEN\n    RAISE EXCEPTION 'schema planner is newer than the planner that exported this migration understands ({n}); export the plan again with the newer planner';\n  END IF;",
        n = MIGRATIONS.len()
    );
    for (i, ddl) in MIGRATIONS.iter().enumerate() {
        let _ = writeln!(
            out,
            "  IF (SELECT coalesce(max(version), 0) FROM planner.state_version) < {v} THEN\n    EXECUTE {};\n    INSERT INTO planner.state_version (version) VALUES ({v});\n  END IF;",
            quote_literal(ddl.trim()),
            v = i + 1
        );
    }
    out.push_str("END\n$planner_state$;\n");
    out
}

/// Register the plan (or replace a registered version that never ran), as `register_plan` does.
pub fn register(cx: &StateCx) -> String {
    format!(
        "INSERT INTO planner.plans (name, plan_sha256, plan_yaml, registered_by)\nVALUES ({}, {}, {}, {})\nON CONFLICT (name) DO UPDATE SET plan_sha256 = EXCLUDED.plan_sha256, plan_yaml = EXCLUDED.plan_yaml\n  WHERE planner.plans.plan_sha256 <> EXCLUDED.plan_sha256\n    AND NOT EXISTS (SELECT 1 FROM planner.phases p WHERE p.plan = EXCLUDED.name AND p.status <> 'rolled_back');\n",
        cx.name(),
        quote_literal(cx.plan_sha256),
        quote_literal(cx.plan_yaml),
        cx.actor()
    )
}

/// The phase starts: `running`, no step done, in planner.history too.
pub fn start_phase(cx: &StateCx, phase: &Phase) -> String {
    format!(
        "INSERT INTO planner.phases (plan, phase, status, checksums, applied_by, started_at, steps_done)\nVALUES ({name}, '{kind}', 'running', {checksums}::jsonb, {actor}, now(), 0)\nON CONFLICT (plan, phase) DO UPDATE SET status = 'running', checksums = EXCLUDED.checksums,\n    applied_by = EXCLUDED.applied_by, started_at = now(), finished_at = NULL, error = NULL, table_shapes = NULL, steps_done = 0;\n{history}",
        name = cx.name(),
        kind = phase.phase,
        checksums = quote_literal(&checksums(cx, phase)),
        actor = cx.actor(),
        history = history(cx, phase.phase, "apply", "running"),
    )
}

/// The first `done` steps of the phase committed (in the same transaction as the last of them).
pub fn steps_done(cx: &StateCx, phase: PhaseKind, done: usize) -> String {
    format!(
        "UPDATE planner.phases SET steps_done = {done} WHERE plan = {} AND phase = '{phase}';\n",
        cx.name()
    )
}

/// The phase is done: every step, the tables' columns now (what contract compares against).
pub fn finish_phase(cx: &StateCx, phase: &Phase) -> String {
    format!(
        "UPDATE planner.phases SET status = 'done', finished_at = now(), error = NULL, steps_done = {steps},\n    table_shapes = {shapes}\n  WHERE plan = {name} AND phase = '{kind}';\n{history}",
        steps = phase.steps.len(),
        shapes = table_shapes(cx.plan),
        name = cx.name(),
        kind = phase.phase,
        history = history(cx, phase.phase, "apply", "done"),
    )
}

/// The phase (and any later one still recorded) was undone by the tool's down migration.
pub fn rolled_back(cx: &StateCx, phase: PhaseKind) -> String {
    let later: Vec<String> =
        PhaseKind::ALL.iter().filter(|k| **k >= phase).map(|k| format!("'{k}'")).collect();
    let mut out = format!(
        "UPDATE planner.phases SET status = 'rolled_back', finished_at = now(), steps_done = 0\n  WHERE plan = {} AND phase IN ({}) AND status <> 'rolled_back';\n",
        cx.name(),
        later.join(", ")
    );
    if phase <= PhaseKind::Backfill {
        // As `planner rollback` of the backfill: it runs again from the start next time.
        let _ = writeln!(out, "DELETE FROM planner.backfill_progress WHERE plan = {};", cx.name());
    }
    out.push_str(&history(cx, phase, "rollback", "rolled_back"));
    out
}

fn history(cx: &StateCx, phase: PhaseKind, action: &str, status: &str) -> String {
    format!(
        "INSERT INTO planner.history (plan, phase, action, status, actor, detail)\nVALUES ({}, '{phase}', '{action}', '{status}', {}, {});\n",
        cx.name(),
        cx.actor(),
        quote_literal(&format!("exported {} migration", cx.tool))
    )
}

/// What `exec::state::phase_checksums` records: plan.yaml and the phase's own files.
fn checksums(cx: &StateCx, phase: &Phase) -> String {
    let mut map = std::collections::BTreeMap::from([("plan.yaml".to_string(), cx.plan_sha256.to_string())]);
    for file in phase.up_file.iter().chain(phase.down_file.iter()) {
        if let Some(sha) = cx.plan.files.get(file) {
            map.insert(file.clone(), sha.clone());
        }
    }
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// The columns of `table` now, as JSON shaped like [`crate::plan::ColumnShape`] (NULL when the
/// table does not exist).
fn columns_json(table: &QualifiedName) -> String {
    format!(
        "(SELECT jsonb_agg(jsonb_build_object('name', attname::text, 'type', format_type(atttypid, atttypmod), 'not_null', attnotnull) ORDER BY attnum)\n       FROM pg_attribute WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped)",
        quote_literal(&table.to_string())
    )
}

/// What `exec::verify::table_shapes` stores with a finished phase, computed by the server.
fn table_shapes(plan: &Plan) -> String {
    let parts: Vec<String> = plan
        .tables
        .iter()
        .map(|t| {
            format!(
                "jsonb_build_object('table', {}, 'columns', coalesce({}, '[]'::jsonb))",
                quote_literal(&t.table.display_short()),
                columns_json(&t.table)
            )
        })
        .collect();
    format!("jsonb_build_array({})", parts.join(",\n    "))
}

/// A DO block run before the phase's first statement, in the same transaction: refuses (RAISE,
/// so the tool stops and nothing of the phase runs) when another planner runs, when the phase is
/// already applied or interrupted, when phases would run out of order, or when a precondition
/// fails; each reason as `Cannot <phase>: …`, as `planner apply` words it.
pub fn precheck(cx: &StateCx, phase: &Phase) -> String {
    let plan = cx.plan;
    let kind = phase.phase;
    let name = cx.name();
    let mut out = String::new();
    let _ = writeln!(out, "DO $planner_check$");
    let _ = writeln!(out, "DECLARE\n  planner_failures text := '';\n  planner_n bigint;\n  planner_text text;\n  planner_expected jsonb;\n  planner_current jsonb;\n  planner_diffs text;\n  planner_attnum int2;\n  planner_registered text;\n  planner_recorded text;\nBEGIN");
    let _ = writeln!(
        out,
        "  IF NOT pg_try_advisory_xact_lock({LOCK_KEY1}, {LOCK_KEY2}) THEN\n    RAISE EXCEPTION 'planner: another planner is running against this database; run this migration again once it finished';\n  END IF;"
    );
    let _ = writeln!(
        out,
        "  SELECT plan_sha256 INTO planner_registered FROM planner.plans WHERE name = {name};\n  IF planner_registered <> {sha} AND EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND status <> 'rolled_back') THEN\n    RAISE EXCEPTION '%', {msg} || planner_registered || {tail};\n  END IF;",
        sha = quote_literal(cx.plan_sha256),
        msg = quote_literal(&format!(
            "planner: plan {} is applied in this database with other files (registered plan.yaml sha256 ",
            plan.name
        )),
        tail = quote_literal(&format!(
            ", this migration has {}); refusing to mix two versions of a plan: finish or roll back the applied one first",
            cx.plan_sha256
        )),
    );
    let _ = writeln!(
        out,
        "  SELECT status INTO planner_recorded FROM planner.phases WHERE plan = {name} AND phase = '{kind}';\n  IF planner_recorded = 'done' THEN\n    RAISE EXCEPTION '%', {done};\n  ELSIF planner_recorded IN ('running', 'partial') THEN\n    RAISE EXCEPTION '%', {interrupted_a} || planner_recorded || {interrupted_b};\n  END IF;",
        done = quote_literal(&format!(
            "planner: phase {kind} of plan {} is already applied (see planner status); mark this migration as applied in {} instead of running it",
            plan.name, cx.tool
        )),
        interrupted_a = quote_literal(&format!("planner: phase {kind} of plan {} was interrupted (status ", plan.name)),
        interrupted_b = quote_literal(&format!(
            "); run `planner rollback {dir}` (or `planner apply --phase {kind} {dir}` to finish it), then mark this migration in {} accordingly",
            cx.tool,
            dir = cx.plan_dir
        )),
    );
    let later: Vec<String> =
        plan.phases.iter().filter(|p| p.phase > kind).map(|p| format!("'{}'", p.phase)).collect();
    if !later.is_empty() {
        let _ = writeln!(
            out,
            "  IF EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND phase IN ({}) AND status <> 'rolled_back') THEN\n    RAISE EXCEPTION '%', {};\n  END IF;",
            later.join(", "),
            quote_literal(&format!("planner: a later phase of plan {} is already applied; phases run in order", plan.name))
        );
    }
    for earlier in plan.phases.iter().take_while(|p| p.phase < kind) {
        let hint = if earlier.phase == PhaseKind::Backfill {
            format!("; run `{}`", cx.backfill_command())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  IF NOT EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND phase = '{}' AND status = 'done') THEN\n    planner_failures := planner_failures || E'\\n' || {};\n  END IF;",
            earlier.phase,
            quote_literal(&format!("phase {} has not been applied yet{hint}", earlier.phase))
        );
    }
    // The objects the preconditions talk about exist only once the first phase ran.
    let first = plan.phases.first().map(|p| p.phase).unwrap_or(kind);
    let guard = if first == kind {
        "true".to_string()
    } else {
        format!(
            "EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND phase = '{first}' AND status = 'done')"
        )
    };
    let _ = writeln!(out, "  IF {guard} THEN");
    for pre in &phase.preconditions {
        out.push_str(&indent(&check(cx, phase, pre), "    "));
    }
    let _ = writeln!(out, "  END IF;");
    let _ = writeln!(
        out,
        "  IF planner_failures <> '' THEN\n    RAISE EXCEPTION USING MESSAGE = 'Cannot {kind}: ' || replace(substr(planner_failures, 2), E'\\n', E'\\nCannot {kind}: ')\n        || {}, HINT = {};\n  END IF;\nEND\n$planner_check$;",
        quote_literal(&format!(
            "\nNothing of phase {kind} ran: the database is left as it was (see `planner status`, `planner verify {}`).",
            cx.plan_dir
        )),
        quote_literal(&format!("planner verify {} lists the same reasons", cx.plan_dir)),
    );
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// One precondition as PL/pgSQL that appends its failure, worded as `exec::verify::check` does.
fn check(cx: &StateCx, phase: &Phase, pre: &Precondition) -> String {
    let name = cx.name();
    match pre {
        Precondition::ServerVersion { at_least } => format!(
            "IF current_setting('server_version_num')::int / 10000 < {at_least} THEN\n  planner_failures := planner_failures || E'\\n' || ('the server runs PostgreSQL ' || (current_setting('server_version_num')::int / 10000) || {});\nEND IF;\n",
            quote_literal(&format!(", the plan was made for {at_least}+; re-plan with --pg-version or against this database"))
        ),
        Precondition::BackfillDone { table } => {
            let t = quote_literal(&table.display_short());
            let run = quote_literal(&format!("; run `{}`", cx.backfill_command()));
            format!(
                "SELECT rows_done, CASE WHEN finished_at IS NULL THEN NULL ELSE 'done' END INTO planner_n, planner_text\n  FROM planner.backfill_progress WHERE plan = {name} AND table_name = {t};\nIF NOT FOUND THEN\n  planner_failures := planner_failures || E'\\n' || ('backfill of ' || {t} || ' has not run' || {run});\nELSIF planner_text IS NULL THEN\n  planner_failures := planner_failures || E'\\n' || ('backfill of ' || {t} || ' has not finished (' || to_char(planner_n, 'FM999,999,999,999,999,990') || ' rows done so far)' || {run});\nEND IF;\n"
            )
        }
        Precondition::NoNulls { table, column } => {
            let (label, expr, order) = key_parts(&backfill_key(cx, table), "");
            let where_ = format!("{column} IS NULL");
            format!(
                "SELECT count(*) INTO planner_n FROM {table} WHERE {where_};\nIF planner_n > 0 THEN\n  SELECT string_agg(k, ', ') INTO planner_text FROM (SELECT {expr} AS k FROM {table} WHERE {where_} ORDER BY {order} LIMIT 3) s;\n  planner_failures := planner_failures || E'\\n' || (to_char(planner_n, 'FM999,999,999,999,999,990') || CASE WHEN planner_n = 1 THEN ' NULL value still exists' ELSE ' NULL values still exist' END\n      || {} || planner_text || {});\nEND IF;\n",
                quote_literal(&format!(
                    " in {}.{} (e.g. {label}=",
                    short(&table.name),
                    short(column)
                )),
                quote_literal(&format!("); run `{}`", cx.backfill_command())),
            )
        }
        Precondition::ConstraintValid { table, constraint } => format!(
            "SELECT CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END INTO planner_text FROM pg_constraint WHERE conrelid = to_regclass({}) AND conname = {};\nIF NOT FOUND THEN\n  planner_failures := planner_failures || E'\\n' || {};\nELSIF planner_text <> 'valid' THEN\n  planner_failures := planner_failures || E'\\n' || {};\nEND IF;\n",
            quote_literal(&table.to_string()),
            quote_literal(constraint.as_str()),
            quote_literal(&format!("constraint {constraint} on {} does not exist", table.display_short())),
            quote_literal(&format!(
                "constraint {constraint} on {} is NOT VALID; the backfill phase validates it",
                table.display_short()
            )),
        ),
        Precondition::IndexValid { table, index } => format!(
            "SELECT CASE WHEN i.indisvalid AND i.indisready THEN 'valid' ELSE 'invalid' END INTO planner_text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid\n  WHERE i.indrelid = to_regclass({}) AND c.relname = {};\nIF NOT FOUND THEN\n  planner_failures := planner_failures || E'\\n' || {};\nELSIF planner_text <> 'valid' THEN\n  planner_failures := planner_failures || E'\\n' || {};\nEND IF;\n",
            quote_literal(&table.to_string()),
            quote_literal(index.as_str()),
            quote_literal(&format!("index {index} on {} does not exist", table.display_short())),
            quote_literal(&format!(
                "index {index} on {} is invalid (a CREATE INDEX CONCURRENTLY failed); roll back and re-apply expand to rebuild it",
                table.display_short()
            )),
        ),
        Precondition::TriggerPresent { table, trigger } => format!(
            "SELECT tgenabled::text INTO planner_text FROM pg_trigger WHERE tgrelid = to_regclass({}) AND tgname = {} AND NOT tgisinternal;\nIF NOT FOUND THEN\n  planner_failures := planner_failures || E'\\n' || {};\nELSIF planner_text = 'D' THEN\n  planner_failures := planner_failures || E'\\n' || {};\nEND IF;\n",
            quote_literal(&table.to_string()),
            quote_literal(trigger.as_str()),
            quote_literal(&format!("trigger {trigger} on {} is missing", table.display_short())),
            quote_literal(&format!(
                "trigger {trigger} on {} is disabled; writes of one app version are not reaching the other's columns",
                table.display_short()
            )),
        ),
        Precondition::NoDependents { table, column } => {
            let col = format!("{}.{}", table.display_short(), short(column));
            format!(
                "SELECT a.attnum INTO planner_attnum FROM pg_attribute a WHERE a.attrelid = to_regclass({t}) AND a.attname = {c} AND NOT a.attisdropped;\nIF NOT FOUND THEN\n  planner_failures := planner_failures || E'\\n' || {gone};\nELSE\n  EXECUTE {q} INTO planner_n, planner_text USING {t}::text, planner_attnum;\n  IF planner_n > 0 THEN\n    planner_failures := planner_failures || E'\\n' || (planner_n || CASE WHEN planner_n = 1 THEN ' object still depends' ELSE ' objects still depend' END || {on} || planner_text || '; drop or change ' || CASE WHEN planner_n = 1 THEN 'it' ELSE 'them' END || ' first');\n  END IF;\nEND IF;\n",
                t = quote_literal(&table.to_string()),
                c = quote_literal(column.as_str()),
                gone = quote_literal(&format!("column {col} does not exist")),
                q = quote_literal(&format!(
                    "SELECT count(*), string_agg(b, ', ' ORDER BY b) FROM ({}) AS blockers(b)",
                    crate::sql::catalog::COLUMN_BLOCKERS
                )),
                on = quote_literal(&format!(" on {col}: ")),
            )
        }
        Precondition::ConvertsCleanly { table, expr, data_type } => {
            // Per row in a sub-block that catches the cast's error, as `planner apply` does with
            // a temporary function (a DO block cannot create one without the TEMP privilege).
            let key = backfill_key(cx, table);
            let columns: Vec<crate::sql::Ident> = crate::sql::rewrite::referenced_columns(expr.as_str())
                .into_iter()
                .filter_map(|c| crate::sql::Ident::new(c).ok())
                .collect();
            let value = crate::sql::rewrite::qualify_columns(expr, &columns, "planner_row");
            let (label, shown, order) = key_parts(&key, "planner_row.");
            format!(
                "DECLARE\n  planner_row record;\n  planner_converted {data_type};\nBEGIN\n  planner_n := 0;\n  planner_text := NULL;\n  FOR planner_row IN SELECT * FROM {table} ORDER BY {order} LOOP\n    BEGIN\n      planner_converted := {value};\n    EXCEPTION WHEN others THEN\n      planner_n := planner_n + 1;\n      IF planner_n <= 3 THEN\n        planner_text := concat_ws(', ', planner_text, {shown});\n      END IF;\n    END;\n  END LOOP;\n  IF planner_n > 0 THEN\n    planner_failures := planner_failures || E'\\n' || (to_char(planner_n, 'FM999,999,999,999,999,990') || CASE WHEN planner_n = 1 THEN ' row' ELSE ' rows' END || {of} || planner_text || {fix});\n  END IF;\nEND;\n",
                order = order.replace("planner_row.", ""),
                of = quote_literal(&format!(
                    " of {} cannot be converted: {expr} is no {data_type} there (e.g. {label}=",
                    table.display_short()
                )),
                fix = quote_literal(
                    "); fix those rows, or give `using:` an expression that converts them (e.g. with CASE or NULLIF)"
                ),
            )
        }
        // MySQL plans are not exported as PostgreSQL state SQL.
        Precondition::AssignsCleanly { .. } => String::new(),
        Precondition::ColumnEqualsExpr { table, key, column, expr } => {
            let names: Vec<crate::sql::Ident> = key.iter().map(|k| k.column.clone()).collect();
            let (label, shown, order) = key_parts(&names, "t.");
            let mismatch = format!("t.{column} IS DISTINCT FROM {expr}");
            format!(
                "SELECT count(*) INTO planner_n FROM {table} AS t WHERE {mismatch};\nIF planner_n > 0 THEN\n  SELECT string_agg(k, ', ') INTO planner_text FROM (SELECT {shown} AS k FROM {table} AS t WHERE {mismatch} ORDER BY {order} LIMIT 3) s;\n  planner_failures := planner_failures || E'\\n' || (to_char(planner_n, 'FM999,999,999,999,999,990') || CASE WHEN planner_n = 1 THEN ' row' ELSE ' rows' END || {of} || planner_text || {fix});\nEND IF;\n",
                of = quote_literal(&format!(
                    " of {} where {} differs from {expr} (e.g. {label}=",
                    table.display_short(),
                    short(column)
                )),
                fix = quote_literal(&format!("); run `{}` again", cx.backfill_command())),
            )
        }
        Precondition::ColumnsMatch { table } => {
            let shape = cx.plan.tables.iter().find(|t| &t.table == table);
            let Some(shape) = shape else { return String::new() };
            let planned = serde_json::to_string(&shape.columns).unwrap_or_else(|_| "[]".into());
            let short_name = quote_literal(&table.display_short());
            let _ = phase;
            format!(
                "SELECT s -> 'columns' INTO planner_expected FROM planner.phases p, jsonb_array_elements(p.table_shapes) s\n  WHERE p.plan = {name} AND p.status = 'done' AND p.phase <> 'contract' AND s ->> 'table' = {short_name}\n  ORDER BY CASE p.phase WHEN 'backfill' THEN 2 ELSE 1 END DESC LIMIT 1;\nplanner_text := 'the last applied phase left it';\nIF planner_expected IS NULL THEN\n  planner_expected := {planned}::jsonb;\n  planner_text := 'the plan was made from';\nEND IF;\nplanner_current := {current};\nIF planner_current IS NULL THEN\n  planner_failures := planner_failures || E'\\n' || {missing};\nELSE\n  SELECT string_agg(d, '; ') INTO planner_diffs FROM (\n    SELECT CASE WHEN c.name IS NULL THEN 'column ' || e.name || ' is gone'\n                WHEN e.name IS NULL THEN 'column ' || c.name || ' was added'\n                WHEN c.type <> e.type AND to_regtype(c.type) IS DISTINCT FROM to_regtype(e.type) THEN 'column ' || c.name || ' is ' || c.type || ' (expected ' || e.type || ')'\n                WHEN c.not_null <> e.not_null THEN 'column ' || c.name || ' is ' || CASE WHEN c.not_null THEN 'NOT NULL (expected nullable)' ELSE 'nullable (expected NOT NULL)' END\n           END AS d\n      FROM jsonb_to_recordset(planner_expected) AS e(name text, type text, not_null bool)\n      FULL JOIN jsonb_to_recordset(planner_current) AS c(name text, type text, not_null bool) ON c.name = e.name) x\n   WHERE d IS NOT NULL;\n  IF planner_diffs IS NOT NULL THEN\n    planner_failures := planner_failures || E'\\n' || ({short_name} || ' changed since ' || planner_text || ': ' || planner_diffs || '; re-plan against the current schema');\n  END IF;\nEND IF;\n",
                planned = quote_literal(&planned),
                current = columns_json(table),
                missing = quote_literal(&format!(
                    "table {} does not exist in this database (is this the database the plan was made for?)",
                    table.display_short()
                )),
            )
        }
    }
}

/// The key the plan's backfill walks on `table` (empty: none, use ctid).
fn backfill_key(cx: &StateCx, table: &crate::sql::QualifiedName) -> Vec<crate::sql::Ident> {
    cx.plan.backfill_key(table)
}

/// For a key: its label in messages (`id`, `(a, b)`), one text value per row (columns prefixed
/// by `prefix`) and the ORDER BY list.
fn key_parts(key: &[crate::sql::Ident], prefix: &str) -> (String, String, String) {
    match key {
        [] => ("ctid".into(), format!("{prefix}ctid::text"), format!("{prefix}ctid")),
        [one] => (short(one), format!("{prefix}{one}::text"), format!("{prefix}{one}")),
        many => (
            format!("({})", many.iter().map(short).collect::<Vec<_>>().join(", ")),
            format!(
                "'(' || concat_ws(', ', {}) || ')'",
                many.iter().map(|k| format!("{prefix}{k}::text")).collect::<Vec<_>>().join(", ")
            ),
            many.iter().map(|k| format!("{prefix}{k}")).collect::<Vec<_>>().join(", "),
        ),
    }
}

/// The backfill tasks as batches inside the database: a DO block that commits after every
/// batch (so it must run outside a transaction block, alone), with checkpoints in
/// planner.backfill_progress and the phase recorded as `planner backfill` records it.
pub fn inline_backfill(cx: &StateCx, phase: &Phase, batch: u32) -> String {
    let name = cx.name();
    let timeouts = crate::plan::script::Timeouts::default();
    let mut out = String::new();
    let _ = writeln!(out, "DO $planner_fill$\nDECLARE\n  planner_n bigint;\nBEGIN");
    let _ = writeln!(
        out,
        "  IF NOT EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND phase = 'expand' AND status = 'done') THEN\n    RAISE EXCEPTION 'Cannot backfill: phase expand has not been applied yet';\n  END IF;\n  IF EXISTS (SELECT 1 FROM planner.phases WHERE plan = {name} AND phase = 'backfill' AND status = 'done') THEN\n    RETURN;\n  END IF;"
    );
    let _ = writeln!(
        out,
        "  PERFORM set_config('lock_timeout', {}, false);\n  PERFORM set_config('statement_timeout', {}, false);",
        quote_literal(&pg_setting(timeouts.lock)),
        quote_literal(&pg_setting(timeouts.statement))
    );
    out.push_str(&indent(&start_phase(cx, phase), "  "));
    for task in &phase.backfill {
        let _ = writeln!(
            out,
            "  INSERT INTO planner.backfill_progress (plan, table_name) VALUES ({name}, {}) ON CONFLICT DO NOTHING;",
            quote_literal(&task.table.display_short())
        );
    }
    let _ = writeln!(out, "  COMMIT;");
    for task in &phase.backfill {
        let t = quote_literal(&task.table.display_short());
        let _ = writeln!(out, "  -- {}: fill the rows where {}", task.table.display_short(), task.pending);
        let _ = writeln!(out, "  LOOP");
        out.push_str(&indent(&format!("{};", crate::plan::files::reference_batch(task, batch)), "    "));
        let _ = writeln!(
            out,
            "    GET DIAGNOSTICS planner_n = ROW_COUNT;\n    UPDATE planner.backfill_progress SET rows_done = rows_done + planner_n, batches = batches + 1, updated_at = now()\n      WHERE plan = {name} AND table_name = {t};\n    COMMIT;\n    IF planner_n = 0 THEN\n      -- rows locked by running transactions were skipped: wait for them, then look again\n      EXIT WHEN NOT EXISTS (SELECT 1 FROM {} WHERE {});\n      PERFORM pg_sleep(0.1);\n    END IF;\n  END LOOP;\n  UPDATE planner.backfill_progress SET finished_at = now(), updated_at = now() WHERE plan = {name} AND table_name = {t};",
            task.table, task.pending
        );
    }
    out.push_str(&indent(&finish_phase(cx, phase), "  "));
    let _ = writeln!(out, "  COMMIT;\nEND\n$planner_fill$;");
    out
}

/// `2s` / `250ms` / `0`: a setting value for `set_config`.
fn pg_setting(d: std::time::Duration) -> String {
    crate::plan::script::pg_duration(d).trim_matches('\'').to_string()
}
