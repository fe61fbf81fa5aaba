//! Database code that reads tables and columns: views and the functions triggers run, followed
//! through the history (created, replaced, dropped), so a DROP can tell "the app may still use
//! it" (that depends on the deploy, which the files do not show) from "the database itself still
//! reads it" (a view the drop fails on or takes with it, a trigger that fails on every write).
//!
//! The reading is word-level: a view "names" a table or column when the word occurs in its text;
//! a trigger function reads a column of its table when its body says `NEW.column` or
//! `OLD.column`, and reads another table when the table's name occurs in it. A view can so be
//! seen reading a column it does not (a word shared by two tables), never the reverse for code
//! the history declares.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlparser::tokenizer::{Token, TokenWithSpan};

/// What a view's query or a function's body mentions, lower-cased: every word (`w`), every
/// dotted name by its last two parts (`q.c`), the words outside dotted names (`!c`: unqualified
/// columns) and the aliases given to a name (`t@a` for `FROM t a` / `t AS a`).
pub type Names = Arc<HashSet<String>>;

/// Words that end a FROM item instead of naming its alias.
const NOT_ALIAS: &[&str] = &[
    "on",
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "lateral",
    "group",
    "order",
    "limit",
    "union",
    "except",
    "intersect",
    "using",
    "window",
    "having",
    "offset",
    "fetch",
    "for",
    "select",
    "from",
    "and",
    "or",
    "with",
    "returning",
    "set",
    "values",
    "then",
    "when",
    "end",
];

/// The [`Names`] of a statement's tokens, string and dollar-quoted bodies included.
pub fn mentioned_names(toks: &[TokenWithSpan]) -> Names {
    let mut out = HashSet::new();
    let sig: Vec<&Token> =
        toks.iter().map(|t| &t.token).filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    let word = |i: usize| match sig.get(i) {
        Some(Token::Word(w)) => Some(w.value.to_lowercase()),
        _ => None,
    };
    for (i, t) in sig.iter().enumerate() {
        match t {
            Token::Word(_) => {
                let Some(w) = word(i) else { continue };
                let after_dot = i >= 2 && matches!(sig[i - 1], Token::Period);
                let before_dot = matches!(sig.get(i + 1), Some(Token::Period));
                if after_dot {
                    if let Some(q) = word(i - 2) {
                        out.insert(format!("{q}.{w}"));
                    }
                } else if !before_dot {
                    out.insert(format!("!{w}"));
                }
                if !before_dot {
                    let alias = match word(i + 1).as_deref() {
                        Some("as") => word(i + 2),
                        other => other.map(str::to_string),
                    };
                    if let Some(a) = alias.filter(|a| !NOT_ALIAS.contains(&a.as_str())) {
                        out.insert(format!("{w}@{a}"));
                    }
                }
                out.insert(w);
            }
            Token::SingleQuotedString(s) => words_into(s, &mut out),
            Token::DollarQuotedString(d) => words_into(&d.value, &mut out),
            _ => {}
        }
    }
    Arc::new(out)
}

fn trigger_reader(on: &str, name: &str, f: &str) -> Reader {
    Reader {
        what: format!("trigger {name} on {on} runs {f}(), which names it"),
        ids: vec![format!("trigger:{on}:{name}"), format!("function:{f}")],
    }
}

/// True when a view's [`Names`] read column `column` of table `bare`: `bare.column`, an alias
/// of it dotted with the column, or the column unqualified in a query naming the table.
fn view_reads_column(names: &HashSet<String>, bare: &str, column: &str) -> bool {
    if names.contains(&format!("{bare}.{column}")) {
        return true;
    }
    if names.contains(&format!("!{column}")) && names.contains(bare) {
        return true;
    }
    let prefix = format!("{bare}@");
    names.iter().filter_map(|n| n.strip_prefix(&prefix)).any(|a| names.contains(&format!("{a}.{column}")))
}

/// The words of a body's text, and its dotted names whole (`NEW."seenAt"` -> `new.seenat`,
/// `new`, `seenat`).
fn words_into(text: &str, out: &mut HashSet<String>) {
    let joined = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '"';
    for chunk in text.split(|c: char| !joined(c)).filter(|w| !w.is_empty()) {
        let chunk = chunk.replace('"', "").to_lowercase();
        if chunk.contains('.') {
            out.extend(chunk.split('.').filter(|w| !w.is_empty()).map(str::to_string));
        }
        out.insert(chunk);
    }
}

/// Views, functions and triggers by key. In the history so far every entry is `Some`; in one
/// file's changes `None` records a drop, so [`Readers::absorb`] removes what earlier files made.
#[derive(Debug, Default, Clone)]
pub struct Readers {
    /// view key (as `table_key`) -> the names its query mentions.
    views: HashMap<String, Option<Names>>,
    /// function name (last part, folded) -> the names its body mentions.
    functions: HashMap<String, Option<Names>>,
    /// table key -> trigger name -> the function it runs.
    triggers: HashMap<String, HashMap<String, Option<String>>>,
}

impl Readers {
    /// Add one file's changes (later files win; a drop removes).
    pub fn absorb(&mut self, delta: Readers) {
        fn merge<V>(into: &mut HashMap<String, Option<V>>, from: HashMap<String, Option<V>>) {
            for (k, v) in from {
                match v {
                    Some(v) => into.insert(k, Some(v)),
                    None => into.remove(&k),
                };
            }
        }
        merge(&mut self.views, delta.views);
        merge(&mut self.functions, delta.functions);
        for (table, triggers) in delta.triggers {
            let entry = self.triggers.entry(table.clone()).or_default();
            merge(entry, triggers);
            if entry.is_empty() {
                self.triggers.remove(&table);
            }
        }
    }
}

/// Database code found reading what a statement drops.
#[derive(Debug, Clone)]
pub struct Reader {
    /// "view public.v reads it", "trigger t on public.x runs f(), which names it".
    pub what: String,
    /// The objects whose replacement or drop, later in the same transaction, fixes it
    /// (`view:<key>`, `function:<name>`, `trigger:<table>:<name>`).
    pub ids: Vec<String>,
}

/// The readers in force while one file runs: what earlier files left, overlaid by this file's
/// statements observed so far.
#[derive(Debug)]
pub struct LiveReaders<'k> {
    known: &'k Readers,
    here: Readers,
    /// The statement being observed (set by the file context).
    pub at: usize,
    /// (statement, reader id) of every change this file made.
    touched: Vec<(usize, String)>,
}

impl<'k> LiveReaders<'k> {
    pub fn new(known: &'k Readers) -> Self {
        LiveReaders { known, here: Readers::default(), at: 0, touched: Vec::new() }
    }

    /// Statements after `index` that replace or drop one of `ids`.
    pub fn touched_after(&self, index: usize, ids: &[String]) -> impl Iterator<Item = usize> + '_ {
        let ids = ids.to_vec();
        self.touched.iter().filter(move |(at, id)| *at > index && ids.contains(id)).map(|(at, _)| *at)
    }

    /// This file's changes, for the files after it.
    pub fn finish(self) -> Readers {
        self.here
    }

    pub fn set_view(&mut self, key: String, names: Option<Names>) {
        self.touched.push((self.at, format!("view:{key}")));
        self.here.views.insert(key, names);
    }

    pub fn set_function(&mut self, name: String, names: Option<Names>) {
        self.touched.push((self.at, format!("function:{name}")));
        self.here.functions.insert(name, names);
    }

    pub fn set_trigger(&mut self, table: String, name: String, function: Option<String>) {
        self.touched.push((self.at, format!("trigger:{table}:{name}")));
        self.here.triggers.entry(table).or_default().insert(name, function);
    }

    /// `DROP FUNCTION f CASCADE` or `ALTER FUNCTION f RENAME`: the triggers running it are no
    /// longer known to read anything (a renamed function keeps them; its body is not followed).
    pub fn function_gone(&mut self, name: &str) {
        self.set_function(name.to_string(), None);
    }

    fn views(&self) -> impl Iterator<Item = (&str, &Names)> {
        let here = self.here.views.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_ref()?)));
        let known = self
            .known
            .views
            .iter()
            .filter(|(k, _)| !self.here.views.contains_key(*k))
            .filter_map(|(k, v)| Some((k.as_str(), v.as_ref()?)));
        here.chain(known)
    }

    fn function(&self, name: &str) -> Option<&Names> {
        match self.here.functions.get(name) {
            Some(v) => v.as_ref(),
            None => self.known.functions.get(name)?.as_ref(),
        }
    }

    /// Live triggers: (table, trigger, function).
    fn triggers(&self) -> Vec<(&str, &str, &str)> {
        let mut out = Vec::new();
        let tables: HashSet<&String> = self.here.triggers.keys().chain(self.known.triggers.keys()).collect();
        for table in tables {
            let here = self.here.triggers.get(table);
            let known = self.known.triggers.get(table);
            let names: HashSet<&String> = here
                .into_iter()
                .flat_map(|m| m.keys())
                .chain(known.into_iter().flat_map(|m| m.keys()))
                .collect();
            for name in names {
                let f = match here.and_then(|m| m.get(name)) {
                    Some(f) => f.as_deref(),
                    None => known.and_then(|m| m.get(name)).and_then(|f| f.as_deref()),
                };
                if let Some(f) = f {
                    out.push((table.as_str(), name.as_str(), f));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Database code that still reads column `column` of `table` (key; `bare` its last part,
    /// lower-cased): a view naming both, or a trigger on the table whose function reads
    /// `NEW.column` or `OLD.column`.
    pub fn column_reader(&self, table: &str, bare: &str, column: &str) -> Option<Reader> {
        let column = column.to_lowercase();
        let mut views: Vec<&str> =
            self.views().filter(|(_, n)| view_reads_column(n, bare, &column)).map(|(k, _)| k).collect();
        views.sort_unstable();
        if let Some(v) = views.first() {
            return Some(Reader { what: format!("view {v} reads it"), ids: vec![format!("view:{v}")] });
        }
        self.triggers().into_iter().find_map(|(on, name, f)| {
            let names = self.function(f)?;
            let reads = on == table
                && (names.contains(&format!("new.{column}")) || names.contains(&format!("old.{column}")));
            reads.then(|| trigger_reader(on, name, f))
        })
    }

    /// Database code that still reads `table`: a view naming it, or a trigger on another table
    /// whose function names it.
    pub fn table_reader(&self, table: &str, bare: &str) -> Option<Reader> {
        let mut views: Vec<&str> =
            self.views().filter(|(k, n)| *k != table && n.contains(bare)).map(|(k, _)| k).collect();
        views.sort_unstable();
        if let Some(v) = views.first() {
            return Some(Reader { what: format!("view {v} reads it"), ids: vec![format!("view:{v}")] });
        }
        self.triggers().into_iter().find_map(|(on, name, f)| {
            let reads = on != table && self.function(f)?.contains(bare);
            reads.then(|| trigger_reader(on, name, f))
        })
    }

    /// `DROP TABLE`: its triggers go with it, and so do the views reading it (CASCADE; without
    /// it the drop fails, which the history shows did not happen).
    pub fn table_gone(&mut self, table: &str, bare: &str) {
        let gone: Vec<String> = self
            .views()
            .filter(|(k, n)| *k == table || n.contains(bare))
            .map(|(k, _)| k.to_string())
            .collect();
        for v in gone {
            self.set_view(v, None);
        }
        let triggers: Vec<String> = self
            .triggers()
            .into_iter()
            .filter(|(on, _, _)| *on == table)
            .map(|(_, n, _)| n.to_string())
            .collect();
        for name in triggers {
            self.set_trigger(table.to_string(), name, None);
        }
    }

    /// `ALTER TABLE ... DROP COLUMN`: views reading the column go with it (or the drop failed).
    pub fn column_gone(&mut self, bare: &str, column: &str) {
        let column = column.to_lowercase();
        let gone: Vec<String> = self
            .views()
            .filter(|(_, n)| view_reads_column(n, bare, &column))
            .map(|(k, _)| k.to_string())
            .collect();
        for v in gone {
            self.set_view(v, None);
        }
    }

    /// `ALTER TABLE a RENAME TO b`: the triggers move with the table.
    pub fn table_renamed(&mut self, from: &str, to: &str) {
        let moved: Vec<(String, String)> = self
            .triggers()
            .into_iter()
            .filter(|(on, _, _)| *on == from)
            .map(|(_, n, f)| (n.to_string(), f.to_string()))
            .collect();
        for (name, f) in moved {
            self.set_trigger(from.to_string(), name.clone(), None);
            self.set_trigger(to.to_string(), name, Some(f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(words: &[&str]) -> Option<Names> {
        Some(Arc::new(words.iter().map(|w| w.to_string()).collect()))
    }

    #[test]
    fn a_drop_in_a_later_file_removes_what_an_earlier_one_made() {
        let mut known = Readers::default();
        let mut first = LiveReaders::new(&known);
        first.set_view("public.v".into(), names(&["users", "email", "!email"]));
        let delta = first.finish();
        known.absorb(delta);
        let second = LiveReaders::new(&known);
        let reader = second.column_reader("public.users", "users", "email").map(|r| r.what);
        assert_eq!(reader.as_deref(), Some("view public.v reads it"));
        let mut second = LiveReaders::new(&known);
        second.set_view("public.v".into(), None);
        assert!(second.column_reader("public.users", "users", "email").is_none());
        let delta = second.finish();
        known.absorb(delta);
        assert!(known.views.is_empty());
    }

    #[test]
    fn views_read_columns_qualified_by_table_or_alias() {
        let toks = |sql: &str| {
            let d = sqlparser::dialect::PostgreSqlDialect {};
            sqlparser::tokenizer::Tokenizer::new(&d, sql).tokenize_with_location().unwrap()
        };
        let v = mentioned_names(&toks(
            "CREATE VIEW r AS SELECT crate_id, SUM(vd.downloads) FROM version_downloads AS vd JOIN versions ON vd.version_id = versions.id",
        ));
        assert!(view_reads_column(&v, "version_downloads", "downloads"));
        assert!(view_reads_column(&v, "version_downloads", "crate_id"));
        assert!(view_reads_column(&v, "versions", "id"));
        assert!(!view_reads_column(&v, "version_downloads", "id"));
    }

    #[test]
    fn body_words_keep_dotted_names() {
        let mut out = HashSet::new();
        words_into("NEW.\"seenAt\" := now(); UPDATE t SET n = 1", &mut out);
        for w in ["new.seenat", "new", "seenat", "now", "t", "n"] {
            assert!(out.contains(w), "{w} in {out:?}");
        }
    }

    #[test]
    fn trigger_functions_read_columns_of_their_table_and_tables_they_name() {
        let known = Readers::default();
        let mut live = LiveReaders::new(&known);
        live.set_function("touch".into(), names(&["new", "updated_at", "new.updated_at"]));
        live.set_trigger("public.users".into(), "users_touch".into(), Some("touch".into()));
        assert!(live.column_reader("public.users", "users", "updated_at").is_some());
        assert!(live.column_reader("public.orders", "orders", "updated_at").is_none());
        live.set_function("audit".into(), names(&["insert", "audit_log", "new"]));
        live.set_trigger("public.orders".into(), "orders_audit".into(), Some("audit".into()));
        assert!(live.table_reader("public.audit_log", "audit_log").is_some());
        live.table_gone("public.orders", "orders");
        assert!(live.table_reader("public.audit_log", "audit_log").is_none());
    }
}
