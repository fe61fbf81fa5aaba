//! change list + schema model -> Plan. Pure: same input, same plan. Here in `change`, above the
//! plan format it produces (so `plan` does not import `change`).

use super::{Change, ChangeError, ChangePhases, PlanCx};
use crate::dialect::{Dialect, SyncSteps};
use crate::model::{SchemaModel, MIN_PG_VERSION};
use crate::plan::{
    AppAccess, AppCompat, ColumnShape, Phase, PhaseKind, Plan, Precondition, Step, TableShape,
    PLAN_FORMAT_VERSION,
};
use crate::sql::ddl::SyncPart;
use crate::sql::QualifiedName;

/// A compile error: which change (index in the file) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub change: usize,
    pub error: ChangeError,
}

/// Compile `changes` against `model` into a plan named `name`. Files are not rendered here:
/// `Plan::files` is filled by [`crate::plan::files::render`]. Plans for PostgreSQL of the
/// model's version.
pub fn compile(model: &SchemaModel, changes: &[Change], name: &str) -> Result<Plan, CompileError> {
    if model.pg_version < MIN_PG_VERSION {
        return Err(CompileError {
            change: 0,
            error: ChangeError::new(
                "table",
                format!(
                    "PostgreSQL {} is not supported; planner needs {MIN_PG_VERSION} or newer",
                    model.pg_version
                ),
            ),
        });
    }
    compile_with(model, changes, name, &PlanCx::postgres(model.pg_version))
}

/// [`compile`] with an explicit planning context (the dialect, functions the user vouched for).
/// A PostgreSQL context plans for the model's version.
pub fn compile_with(
    model: &SchemaModel,
    changes: &[Change],
    name: &str,
    cx: &PlanCx,
) -> Result<Plan, CompileError> {
    let dialect = match cx.dialect {
        Dialect::Postgres(_) => Dialect::postgres(model.pg_version),
        other => other,
    };
    let cx = &PlanCx { dialect, allow_functions: cx.allow_functions.clone() };
    let mut current = model.clone();
    let mut parts: Vec<ChangePhases> = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let phases = change.compile(&current, cx).map_err(|error| CompileError { change: index, error })?;
        renderable(&phases, cx).map_err(|error| CompileError { change: index, error })?;
        change.apply_to_model(&mut current);
        parts.push(phases);
    }

    let tables = distinct_tables(parts.iter().flat_map(|p| p.tables.iter()));
    let table_shapes = table_shapes(model, &tables);

    let sync_parts: Vec<(QualifiedName, SyncPart)> = parts.iter().flat_map(|p| p.sync.clone()).collect();
    let sync = match parts.iter().position(|p| !p.sync.is_empty()) {
        None => SyncSteps::default(),
        Some(first) => cx
            .dialect
            .sync_columns(name, &sync_parts)
            .map_err(|error| CompileError { change: first, error })?,
    };
    let mut phases = Vec::new();
    let expand_steps: Vec<Step> = parts
        .iter()
        .flat_map(|p| p.expand.clone())
        .chain(sync.create.clone())
        .chain(parts.iter().flat_map(|p| p.expand_after_sync.clone()))
        .collect();
    let mut expand_pre = vec![Precondition::ServerVersion { at_least: model.pg_version }];
    expand_pre.extend(tables.iter().map(|t| Precondition::ColumnsMatch { table: t.clone() }));
    expand_pre.extend(parts.iter().flat_map(|p| p.expand_preconditions.clone()));
    phases.push(Phase {
        phase: PhaseKind::Expand,
        up_file: None,
        down_file: None,
        preconditions: dedup(expand_pre),
        irreversible: first_irreversible(&expand_steps),
        steps: expand_steps,
        backfill: Vec::new(),
        compat: merge_compat(&parts, 0),
    });
    let backfill: Vec<_> = parts.iter().flat_map(|p| p.backfill.clone()).collect();
    if !backfill.is_empty() {
        phases.push(Phase {
            phase: PhaseKind::Backfill,
            up_file: None,
            down_file: None,
            preconditions: Vec::new(),
            steps: Vec::new(),
            backfill,
            compat: merge_compat(&parts, 1),
            irreversible: None,
        });
    }
    let contract_steps: Vec<Step> = parts
        .iter()
        .flat_map(|p| p.contract.clone())
        .chain(sync.drop.clone())
        .chain(parts.iter().flat_map(|p| p.contract_after_sync.clone()))
        .collect();
    if !contract_steps.is_empty() {
        let mut pre: Vec<Precondition> =
            parts.iter().flat_map(|p| p.contract_preconditions.clone()).collect();
        pre.extend(sync.present.clone());
        phases.push(Phase {
            phase: PhaseKind::Contract,
            up_file: None,
            down_file: None,
            preconditions: dedup(pre),
            irreversible: first_irreversible(&contract_steps),
            steps: contract_steps,
            backfill: Vec::new(),
            compat: merge_compat(&parts, 2),
        });
    }

    Ok(Plan {
        planner_plan: PLAN_FORMAT_VERSION,
        name: name.to_string(),
        dialect: cx.dialect.flavour(),
        server_version: cx.dialect.version(),
        description: parts.iter().map(|p| p.description.clone()).collect(),
        tables: table_shapes,
        phases,
        files: Default::default(),
    })
}

/// Every statement a change contributes (undo included) must be one the dialect can write.
fn renderable(phases: &ChangePhases, cx: &PlanCx) -> Result<(), ChangeError> {
    fn check(step: &Step, cx: &PlanCx) -> Result<(), ChangeError> {
        cx.dialect.render(&step.op)?;
        step.undo.iter().try_for_each(|u| check(u, cx))
    }
    [&phases.expand, &phases.expand_after_sync, &phases.contract, &phases.contract_after_sync]
        .into_iter()
        .flatten()
        .try_for_each(|step| check(step, cx))
}

fn dedup(items: Vec<Precondition>) -> Vec<Precondition> {
    let mut out: Vec<Precondition> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn first_irreversible(steps: &[Step]) -> Option<String> {
    let reasons: Vec<&str> = steps.iter().filter_map(|s| s.irreversible.as_deref()).collect();
    if reasons.is_empty() {
        None
    } else {
        Some(reasons.join("; "))
    }
}

/// An app may do something after a phase only if every change allows it.
fn merge_compat(parts: &[ChangePhases], phase: usize) -> AppCompat {
    let merge = |pick: fn(&AppCompat) -> &AppAccess| {
        let all: Vec<&AppAccess> =
            parts.iter().filter_map(|p| p.compat.as_ref()).map(|c| pick(&c[phase])).collect();
        AppAccess {
            writes: all.iter().all(|a| a.writes),
            reads: all.iter().all(|a| a.reads),
            note: all.iter().map(|a| a.note.as_str()).collect::<Vec<_>>().join("; "),
        }
    };
    AppCompat { old_app: merge(|c| &c.old_app), new_app: merge(|c| &c.new_app) }
}

/// The touched tables, once each, in first-touched order.
pub(crate) fn distinct_tables<'a>(
    touched: impl IntoIterator<Item = &'a QualifiedName>,
) -> Vec<QualifiedName> {
    let mut tables: Vec<QualifiedName> = Vec::new();
    for t in touched {
        if !tables.contains(t) {
            tables.push(t.clone());
        }
    }
    tables
}

/// What each of `tables` looks like now: plan.yaml records it and contract refuses if the table
/// drifted from it.
pub(crate) fn table_shapes(model: &SchemaModel, tables: &[QualifiedName]) -> Vec<TableShape> {
    tables
        .iter()
        .filter_map(|t| model.tables.get(t))
        .map(|t| TableShape {
            table: t.name.clone(),
            columns: t
                .columns
                .iter()
                .map(|c| ColumnShape {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    not_null: c.not_null,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{AddColumn, DropColumn, RenameColumn, SetNotNull};
    use crate::plan::{Lock, TxMode};

    const SCHEMA: &str = "
        CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'x' UNIQUE, email text,
                            flag boolean NOT NULL, created timestamptz);
        CREATE TABLE posts (id bigint PRIMARY KEY, author text REFERENCES users (email), title text);
        CREATE TABLE nopk (a int, b text);
        CREATE VIEW v AS SELECT id, title FROM posts;";

    fn model(pg: u32) -> SchemaModel {
        crate::model::from_sql::parse_schema(SCHEMA, "schema.sql", pg).expect("test schema parses")
    }

    fn rename(table: &str, from: &str, to: &str) -> Change {
        Change::RenameColumn(RenameColumn { table: table.into(), from: from.into(), to: to.into() })
    }

    fn add(column: &str, not_null: bool, default: Option<&str>, backfill: Option<&str>) -> Change {
        Change::AddColumn(AddColumn {
            table: "users".into(),
            column: column.into(),
            data_type: "boolean".into(),
            not_null,
            default: default.map(Into::into),
            backfill: backfill.map(Into::into),
        })
    }

    fn err(changes: &[Change]) -> String {
        compile(&model(15), changes, "p").expect_err("must be refused").error.message
    }

    #[test]
    fn rename_syncs_copies_and_checks_before_contract() {
        let plan = compile(&model(15), &[rename("users", "name", "full_name")], "p").unwrap();
        let kinds: Vec<_> = plan.phases.iter().map(|p| p.phase).collect();
        assert_eq!(kinds, [PhaseKind::Expand, PhaseKind::Backfill, PhaseKind::Contract]);
        let expand = &plan.phases[0];
        assert!(expand.steps.iter().any(|s| s.sql().starts_with("CREATE TRIGGER")));
        let index =
            expand.steps.iter().find(|s| s.sql().contains("CONCURRENTLY")).expect("unique index copied");
        assert!(index.sql().starts_with("CREATE UNIQUE INDEX CONCURRENTLY"));
        assert_eq!(index.transaction, TxMode::NoTransaction);
        assert!(expand.steps.iter().all(|s| s.lock <= Lock::AccessExclusiveBrief), "no long lock in expand");
        let contract = &plan.phases[2];
        for pre in
            ["backfill_done", "trigger_present", "index_valid", "no_nulls", "no_dependents", "columns_match"]
        {
            let yaml = serde_yaml_ng::to_string(&contract.preconditions).unwrap();
            assert!(yaml.contains(pre), "contract precondition {pre} missing:\n{yaml}");
        }
        // The unique constraint comes back under its own name.
        assert!(contract
            .steps
            .iter()
            .any(|s| s.sql().contains("ADD CONSTRAINT \"users_name_key\" UNIQUE USING INDEX")));
        assert!(contract.irreversible.is_some());
        assert!(!plan.phases[0].compat.new_app.reads && plan.phases[0].compat.new_app.writes);
        assert!(!contract.compat.old_app.writes && !contract.compat.old_app.reads);
    }

    #[test]
    fn renaming_a_serial_column_hands_its_sequence_over() {
        let schema = "CREATE TABLE t (id bigint PRIMARY KEY, ticket serial);";
        let model = crate::model::from_sql::parse_schema(schema, "s.sql", 15).unwrap();
        let plan = compile(&model, &[rename("t", "ticket", "ticket_no")], "p").unwrap();
        let sql: Vec<String> = plan.phases[2].steps.iter().map(|s| s.sql()).collect();
        let owned =
            sql.iter().position(|s| s.starts_with("ALTER SEQUENCE t_ticket_seq OWNED BY")).expect("handover");
        let drop = sql.iter().position(|s| s.contains("DROP COLUMN \"ticket\"")).expect("drop");
        assert!(owned < drop, "{sql:#?}");
        assert!(sql.iter().any(|s| s.contains("SET DEFAULT nextval('t_ticket_seq'::regclass)")));
    }

    #[test]
    fn without_a_primary_key_the_backfill_walks_a_unique_not_null_index() {
        let schema = "CREATE TABLE k (code text NOT NULL, region int NOT NULL, note text, maybe int);
                      CREATE UNIQUE INDEX k_maybe_key ON k (maybe);
                      CREATE UNIQUE INDEX k_code_region_key ON k (code, region);";
        let model = crate::model::from_sql::parse_schema(schema, "s.sql", 15).unwrap();
        let plan = compile(&model, &[rename("k", "note", "remark")], "p").unwrap();
        let key: Vec<&str> = plan.phases[1].backfill[0].key.iter().map(|k| k.column.as_str()).collect();
        assert_eq!(key, ["code", "region"], "the nullable unique column is not a key");
        assert!(err_in(&model, &[rename("k", "code", "c")]).contains("key the backfill walks"));
    }

    fn err_in(model: &SchemaModel, changes: &[Change]) -> String {
        compile(model, changes, "p").expect_err("must be refused").error.message
    }

    #[test]
    fn refusals_name_the_reason() {
        assert!(err(&[rename("users", "id", "uid")]).contains("primary key"));
        assert!(err(&[rename("users", "email", "mail")])
            .contains("foreign key posts_author_fkey on public.posts"));
        assert!(
            err(&[rename("posts", "title", "headline")]).contains("view public.v reads public.posts.title")
        );
        assert!(err(&[rename("users", "name", "email")]).contains("already exists"));
        assert!(err(&[rename("nopk", "b", "c")]).contains("no primary key"));
        assert!(err(&[Change::DropColumn(DropColumn { table: "posts".into(), column: "title".into() })])
            .contains("view"));
        assert!(err(&[Change::SetNotNull(SetNotNull {
            table: "users".into(),
            column: "name".into(),
            backfill: None
        })])
        .contains("already NOT NULL"));
        assert!(err(&[add("flag2", true, None, None)]).contains("no default and no backfill"));
    }

    #[test]
    fn constant_default_is_one_instant_step_and_volatile_default_backfills() {
        let plan = compile(&model(15), &[add("active", true, Some("true"), None)], "p").unwrap();
        assert_eq!(plan.phases.len(), 1);
        assert_eq!(plan.phases[0].steps.len(), 1);
        assert!(plan.phases[0].steps[0]
            .sql()
            .ends_with("ADD COLUMN \"active\" boolean DEFAULT (true) NOT NULL"));

        let plan = compile(&model(15), &[add("lucky", true, Some("random() > 0.5"), None)], "p").unwrap();
        assert_eq!(plan.phases.len(), 3, "a volatile default would rewrite the table: backfill instead");
        assert!(plan.phases[1].backfill[0].set[0].expr.contains("random()"));
    }

    #[test]
    fn not_null_uses_a_validated_check_and_keeps_it_on_pg11() {
        let change = add("verified", true, None, Some("created IS NOT NULL"));
        let pg15 = compile(&model(15), std::slice::from_ref(&change), "p").unwrap();
        let contract = &pg15.phases[2];
        let sql: Vec<String> = contract.steps.iter().map(|s| s.sql()).collect();
        assert!(sql[0].contains("CHECK (\"verified\" IS NOT NULL) NOT VALID"));
        assert!(sql[1].contains("VALIDATE CONSTRAINT"));
        assert_eq!(
            contract.steps[1].transaction,
            TxMode::OwnTransaction,
            "VALIDATE must not run under the ADD's lock"
        );
        assert!(sql[2].ends_with("SET NOT NULL"));
        let pg11 = compile(&model(11), &[change], "p").unwrap();
        assert!(
            !pg11.phases[2].steps.iter().any(|s| s.sql().ends_with("SET NOT NULL")),
            "PG 11 would scan under ACCESS EXCLUSIVE"
        );
        assert!(compile(&model(10), &[add("x", false, None, None)], "p").is_err());
    }

    #[test]
    fn later_changes_see_earlier_ones_and_compat_is_the_strictest() {
        let plan = compile(
            &model(15),
            &[
                rename("users", "name", "full_name"),
                Change::SetNotNull(SetNotNull {
                    table: "users".into(),
                    column: "email".into(),
                    backfill: Some("'none'".into()),
                }),
            ],
            "p",
        )
        .unwrap();
        assert_eq!(plan.description.len(), 2);
        assert_eq!(plan.tables.len(), 1, "one table recorded once");
        assert!(!plan.phases[0].compat.new_app.reads, "strictest of both changes");
        // Renaming the new column again in the same plan refers to the name the first change created.
        let again = compile(
            &model(15),
            &[rename("users", "name", "full_name"), rename("users", "full_name", "display_name")],
            "p",
        );
        assert!(again.is_ok(), "{again:?}");
    }

    #[test]
    fn the_dialect_decides_the_tactics_and_mysql_refuses_them_for_now() {
        use crate::dialect::{Flavour, ServerVersion};
        let maria = PlanCx {
            dialect: Dialect::new(Flavour::Mariadb, ServerVersion::major_minor(10, 11)),
            allow_functions: Vec::new(),
        };
        let refused = |changes: &[Change]| {
            compile_with(&model(15), changes, "p", &maria).expect_err("not on MariaDB yet").error
        };
        // A rename needs the index copy (name is UNIQUE) and the sync triggers.
        let e = refused(&[rename("users", "name", "full_name")]);
        assert!(
            e.message.contains("copying an index onto the new column is not supported on MySQL/MariaDB yet"),
            "{}",
            e.message
        );
        let e = refused(&[Change::SetNotNull(SetNotNull {
            table: "users".into(),
            column: "email".into(),
            backfill: None,
        })]);
        assert!(e.message.contains("adding NOT NULL without a long lock is not supported"), "{}", e.message);
        // No tactic involved: still no PostgreSQL text for a MySQL plan.
        let e = refused(&[add("verified", false, None, None)]);
        assert!(e.message.contains("generating DDL is not supported on MySQL/MariaDB yet"), "{}", e.message);
        // The same changes plan for PostgreSQL, and the plan records the dialect.
        let plan =
            compile_with(&model(14), &[rename("users", "name", "full_name")], "p", &PlanCx::postgres(15))
                .expect("planned");
        assert_eq!((plan.dialect, plan.server_version), (Flavour::Postgresql, ServerVersion::major(14)));
    }
}
