//! Changes a user asks for (a YAML change file or a shorthand command), and how each one
//! compiles into phases. One module per change kind; `register_changes!` lists them once.

pub mod common;
pub mod compile;
/// MySQL/MariaDB plans (their own typed DDL and phase compilers, see mysql/mod.rs).
pub mod mysql;
pub mod yaml_spans;

use std::path::Path;

use serde::Deserialize;

use crate::dialect::Dialect;
pub use crate::error::ChangeError;
use crate::error::{InputError, Location};
use crate::model::SchemaModel;
use crate::plan::{AppCompat, BackfillTask, Precondition, Step};
use crate::sql::ddl::SyncPart;
use crate::sql::QualifiedName;
pub use compile::{compile, compile_with, CompileError};

/// What one change contributes to each phase of a plan. The plan puts every change's `expand`
/// first, then one sync function per table running every change's `sync` part in change order
/// (PostgreSQL fires same-event triggers by name, so per-change triggers would run in name order),
/// then every `expand_after_sync`; contract likewise around dropping the sync triggers.
#[derive(Debug, Clone, Default)]
pub struct ChangePhases {
    /// Checked before expand changes anything (every row converts to the new type).
    pub expand_preconditions: Vec<Precondition>,
    /// Before the sync triggers exist: new columns, defaults.
    pub expand: Vec<Step>,
    /// This change's part of each table's sync function.
    pub sync: Vec<(QualifiedName, SyncPart)>,
    /// Once the triggers keep both shapes right: copies of constraints and indexes.
    pub expand_after_sync: Vec<Step>,
    pub backfill: Vec<BackfillTask>,
    pub contract_preconditions: Vec<Precondition>,
    /// While the sync triggers still run (NOT NULL on a column they fill).
    pub contract: Vec<Step>,
    /// After the sync triggers are gone (drop the old column they read).
    pub contract_after_sync: Vec<Step>,
    /// App compatibility once expand / backfill / contract are applied.
    pub compat: Option<[AppCompat; 3]>,
    /// Tables whose shape the plan records (for the columns-match precondition).
    pub tables: Vec<QualifiedName>,
    /// One line for summaries: "rename column public.users.name to full_name".
    pub description: String,
}

/// Planning context: what the compiler may assume about the target.
#[derive(Debug, Clone)]
pub struct PlanCx {
    /// The target family and version, and the tactics that differ per family.
    pub dialect: Dialect,
    /// Functions the user vouches for in expressions (`--allow-function`), beyond planner's list.
    pub allow_functions: Vec<String>,
}

impl PlanCx {
    /// PostgreSQL of `major`, no extra functions.
    pub fn postgres(major: u32) -> PlanCx {
        PlanCx { dialect: Dialect::postgres(major), allow_functions: Vec::new() }
    }

    /// The PostgreSQL major version for decisions that exist only there; on other families the
    /// newest behaviour (their own tactics decide what is possible).
    pub fn pg_version(&self) -> u32 {
        self.dialect.pg_version().unwrap_or(u32::MAX)
    }
}

/// Behaviour every change kind implements (one file each).
pub trait ChangeKind {
    /// Validate against the model and produce the phases. Pure: no I/O.
    fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError>;
    /// The model after this change completes, so later changes in the same file see it.
    fn apply_to_model(&self, model: &mut SchemaModel);
    /// Default plan name, e.g. `rename_users_name`.
    fn default_name(&self) -> String;
}

/// Declares the change kinds once: the modules, the YAML enum (`- rename_column: {...}`) and
/// the dispatch to each kind's `ChangeKind` impl.
macro_rules! register_changes {
    ($($key:ident => $ty:ident),+ $(,)?) => {
        $(pub mod $key;)+
        $(pub use $key::$ty;)+

        /// One change, written in YAML as a single-key map: `- rename_column: { ... }`.
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum Change {
            $($ty($ty),)+
        }

        impl Change {
            /// The YAML key of this change kind.
            pub fn key(&self) -> &'static str {
                match self { $(Change::$ty(_) => stringify!($key),)+ }
            }
            fn kind(&self) -> &dyn ChangeKind {
                match self { $(Change::$ty(c) => c,)+ }
            }
        }

        /// Every change kind's YAML key, for "did you mean" and docs.
        pub const CHANGE_KINDS: &[&str] = &[$(stringify!($key)),+];
    };
}

register_changes! {
    rename_column => RenameColumn,
    add_column => AddColumn,
    drop_column => DropColumn,
    set_not_null => SetNotNull,
    change_type => ChangeType,
}

impl Change {
    pub fn compile(&self, model: &SchemaModel, cx: &PlanCx) -> Result<ChangePhases, ChangeError> {
        self.kind().compile(model, cx)
    }
    pub fn apply_to_model(&self, model: &mut SchemaModel) {
        self.kind().apply_to_model(model)
    }
    pub fn default_name(&self) -> String {
        self.kind().default_name()
    }
}

/// A change file: `name` (optional for a single change) and the list of changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeFile {
    #[serde(default)]
    pub name: Option<String>,
    /// Each item is a single-key map (`- rename_column: {...}`), not a YAML tag.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub changes: Vec<Change>,
}

/// A parsed change file with what is needed to locate later errors in it.
#[derive(Debug, Clone)]
pub struct LocatedChanges {
    pub file: ChangeFile,
    pub source: ChangeSource,
}

/// Where changes came from, so errors can point at the right place.
#[derive(Debug, Clone)]
pub enum ChangeSource {
    Yaml {
        path: String,
        positions: std::collections::BTreeMap<String, (usize, usize)>,
    },
    /// Shorthand command line: `planner plan rename users.name full_name`.
    CommandLine,
}

impl LocatedChanges {
    /// Turn a field error of change `index` into an InputError naming file:line:column.
    pub fn locate(&self, index: usize, err: ChangeError) -> InputError {
        let mut input = InputError::new(err.message);
        input.help = err.help;
        if let ChangeSource::Yaml { path, positions } = &self.source {
            let key = self.file.changes.get(index).map(|c| c.key()).unwrap_or("");
            let candidates = [
                format!("changes.{index}.{key}.{}", err.field),
                format!("changes.{index}.{key}"),
                format!("changes.{index}"),
            ];
            let position = candidates.iter().find_map(|c| positions.get(c));
            if let Some((line, column)) = position {
                input = input.at(Location { file: path.clone(), line: *line, column: *column });
            } else {
                input.message = format!("{path}: {}", input.message);
            }
        }
        input
    }
}

/// Parse a YAML change file. Syntax errors, unknown keys and unknown change kinds are reported
/// with file:line:column.
pub fn parse_change_file(path: &Path) -> Result<LocatedChanges, InputError> {
    let display = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| InputError::new(format!("cannot read {display}: {e}")))?;
    parse_change_text(&text, &display)
}

pub fn parse_change_text(text: &str, display: &str) -> Result<LocatedChanges, InputError> {
    let file: ChangeFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let message = explain_yaml_error(&e.to_string());
        let mut err = InputError::new(message).help(
            "a change file is `name: <plan>` and `changes:` with items like `- rename_column: { table: users, from: name, to: full_name }`",
        );
        if let Some(loc) = e.location() {
            err = err.at(Location { file: display.to_string(), line: loc.line(), column: loc.column() });
        } else {
            err.message = format!("{display}: {}", err.message);
        }
        err
    })?;
    if file.changes.is_empty() {
        return Err(
            InputError::new(format!("{display}: `changes` is empty")).help("list at least one change")
        );
    }
    let positions = yaml_spans::value_positions(text);
    Ok(LocatedChanges { file, source: ChangeSource::Yaml { path: display.to_string(), positions } })
}

/// serde's messages name Rust-ish things; make unknown-variant errors list our change kinds.
fn explain_yaml_error(message: &str) -> String {
    let message = message.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':' || c == ' ');
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(rest) = message.strip_prefix("changes[") {
        if rest.contains("unknown variant") {
            let bad = rest.split('`').nth(1).unwrap_or("");
            let suggestion = crate::model::closest(bad, CHANGE_KINDS.iter().copied());
            return format!(
                "unknown change kind `{bad}`{}; expected one of: {}",
                suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(),
                CHANGE_KINDS.join(", ")
            );
        }
    }
    message.to_string()
}

/// Resolve a user-typed `table` (`users` or `billing.invoices`) in the model.
pub fn resolve_table<'m>(
    model: &'m SchemaModel,
    table: &str,
    field: &'static str,
) -> Result<&'m crate::model::Table, ChangeError> {
    let name = QualifiedName::from_user(table, "public")
        .map_err(|e| ChangeError::new(field, format!("invalid table name `{table}`: {e}")))?;
    model.table(&name).map_err(|e| {
        ChangeError::new(field, e.to_string())
            .help("tables may be schema-qualified (billing.invoices); the default schema is public")
    })
}

/// Resolve a user-typed column name on a table.
pub fn resolve_column<'t>(
    table: &'t crate::model::Table,
    column: &str,
    field: &'static str,
) -> Result<&'t crate::model::Column, ChangeError> {
    let name = crate::sql::Ident::from_user(column)
        .map_err(|e| ChangeError::new(field, format!("invalid column name `{column}`: {e}")))?;
    table.column(&name).map_err(|e| ChangeError::new(field, e.to_string()))
}

/// A user-typed new identifier (a column that must not exist yet).
pub fn new_ident(name: &str, field: &'static str) -> Result<crate::sql::Ident, ChangeError> {
    crate::sql::Ident::from_user(name)
        .map_err(|e| ChangeError::new(field, format!("invalid name `{name}`: {e}")))
}

/// A default plan name from its parts: `rename_users_name`, `add_billing_invoices_paid_at`.
/// Lower case, anything but letters and digits becomes one `_`.
pub fn derived_plan_name(parts: &[&str]) -> String {
    let joined = parts.join("_").to_lowercase();
    let mut out = String::new();
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// Plan and folder names: what a directory and a state row can hold safely.
pub fn validate_plan_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid plan name `{name}`: use letters, digits, `_` and `-` (it becomes a folder name)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_plan_names_are_folder_safe() {
        assert_eq!(derived_plan_name(&["rename", "users", "name"]), "rename_users_name");
        assert_eq!(derived_plan_name(&["rename", "orders", "\"MixedCase\""]), "rename_orders_mixedcase");
        assert_eq!(
            derived_plan_name(&["add", "billing.invoices", "paid_at"]),
            "add_billing_invoices_paid_at"
        );
        assert!(validate_plan_name(&derived_plan_name(&["drop", "\"Order Lines\"", "a\"b"])).is_ok());
    }

    #[test]
    fn change_files_parse_with_single_key_maps_and_refuse_unknown_kinds() {
        let ok =
            parse_change_text("changes:\n  - drop_column: { table: users, column: x }\n", "c.yaml").unwrap();
        assert_eq!(ok.file.changes.len(), 1);
        let err = parse_change_text("changes:\n  - drop_colum: { table: users, column: x }\n", "c.yaml")
            .unwrap_err();
        assert!(err.to_string().contains("did you mean drop_column?"), "{err}");
        let empty = parse_change_text("changes: []\n", "c.yaml").unwrap_err();
        assert!(empty.to_string().contains("`changes` is empty"));
    }
}
