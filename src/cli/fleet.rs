//! One command against several databases: `--all-targets` or `--targets a,b` (planner.yaml),
//! `--parallel N` at once, stopping at the first failure unless `--keep-going`, then a summary
//! table (or one `planner.fleet` JSON document). State stays per target: each target is its own
//! database with its own `planner` schema and lock. A target that cannot be reached is a failed
//! target, shown and counted in the exit code; targets never started after a failure are listed
//! as not run.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;
use tracing::Instrument;

use super::args::TargetArgs;
use super::json::{OutputFormat, VERSION};

#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Several databases")]
pub struct FleetArgs {
    /// Run against every target of planner.yaml (in name order).
    #[arg(long, conflicts_with_all = ["targets", "target"])]
    pub all_targets: bool,
    /// Run against these targets of planner.yaml, in this order (comma-separated: users,billing).
    #[arg(long, value_delimiter = ',', value_name = "NAMES", conflicts_with = "target")]
    pub targets: Vec<String>,
    /// How many targets run at the same time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// After a target failed, still run the others (default: start no new target).
    #[arg(long)]
    pub keep_going: bool,
    /// Multi-tenant schemas: apply the plan (made for one schema) to every schema of the database
    /// matching these globs, one after the other, each with its own state (`tenant_*`, `a,b`).
    #[arg(long, value_name = "GLOBS", conflicts_with_all = ["all_targets", "targets"])]
    pub schemas: Option<String>,
}

impl FleetArgs {
    /// Several targets (not several schemas).
    pub fn is_fleet(&self) -> bool {
        self.all_targets || !self.targets.is_empty()
    }

    /// With --schemas: the one database's URL and the schemas to visit, in name order.
    pub async fn schemas(&self, target: &TargetArgs) -> anyhow::Result<Option<(String, Vec<String>)>> {
        let Some(globs) = &self.schemas else { return Ok(None) };
        let url = target.resolve_url()?;
        let mut session = crate::exec::Session::observe_as(&url, "planner/schemas").await?;
        let found = crate::exec::tenants::matching_schemas(session.conn(), globs).await;
        session.close().await?;
        Ok(Some((url, found?)))
    }

    /// The targets to visit, each with its URL or the reason it has none.
    pub fn select(&self, target: &TargetArgs) -> anyhow::Result<Vec<(String, anyhow::Result<String>)>> {
        let names = (!self.targets.is_empty()).then_some(self.targets.as_slice());
        crate::config::select_targets(target, names)
    }
}

/// What one target's run produced.
pub struct Report {
    /// The human output for this target (stdout).
    pub text: String,
    /// The command's JSON document for this target.
    pub json: serde_json::Value,
    /// One line for the summary table.
    pub summary: String,
    /// Ok, or the verdict that decides the exit code (not ready, interrupted, refused...). The
    /// report above was still produced.
    pub verdict: anyhow::Result<()>,
}

impl Report {
    /// A target where the command failed before it had anything else to say.
    pub fn failed(format: &'static str, err: anyhow::Error) -> Report {
        let doc = super::json::ErrorDoc::new(format, &err);
        Report {
            text: String::new(),
            json: serde_json::to_value(&doc).unwrap_or_default(),
            summary: crate::exec::failure::render(&err),
            verdict: Err(err),
        }
    }
}

/// Print one target's report (single-target runs): text or JSON, then its verdict.
pub fn print_single(format: OutputFormat, report: Report) -> anyhow::Result<()> {
    match format {
        OutputFormat::Human => print!("{}", report.text),
        OutputFormat::Json => super::json::print(&report.json)?,
    }
    report.verdict
}

/// How one target ended in a fleet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetResult {
    Ok,
    Failed,
    /// Never started: an earlier target failed (no --keep-going).
    NotRun,
}

#[derive(Debug, Serialize)]
struct FleetDoc {
    format: &'static str,
    version: u32,
    /// The subcommand (status, verify, apply, next, backfill).
    command: &'static str,
    ok: bool,
    targets: Vec<FleetTarget>,
    summary: FleetSummary,
}

#[derive(Debug, Serialize)]
struct FleetTarget {
    target: String,
    result: TargetResult,
    exit_code: Option<i32>,
    summary: String,
    error: Option<String>,
    /// The command's own document for this target (null when not run).
    report: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
struct FleetSummary {
    targets: usize,
    ok: usize,
    failed: usize,
    not_run: usize,
}

/// How the fleet run goes.
pub struct Run<'a> {
    pub command: &'static str,
    /// The command's JSON `format` name, for a target that fails without a report.
    pub doc_format: &'static str,
    pub format: OutputFormat,
    pub fleet: &'a FleetArgs,
}

/// `--schemas` visits schemas of one database: one at a time (one planner per database), each
/// named in the table and the JSON by its schema.
pub fn schema_fleet(fleet: &FleetArgs) -> FleetArgs {
    FleetArgs { parallel: 1, ..fleet.clone() }
}

/// Run `each(name, url)` for every selected target, at most `--parallel` at once, and report.
/// Each target's output is printed whole when it finishes, so parallel targets never mix their
/// stdout; their progress lines on stderr carry `[name]`.
pub async fn run<F, Fut>(
    run: Run<'_>,
    targets: Vec<(String, anyhow::Result<String>)>,
    each: F,
) -> anyhow::Result<()>
where
    F: Fn(String, String) -> Fut + 'static,
    Fut: Future<Output = Report> + 'static,
{
    let each = Arc::new(each);
    let count = targets.len();
    let parallel = run.fleet.parallel.max(1) as usize;
    let keep_going = run.fleet.keep_going;
    let human = run.format == OutputFormat::Human;
    let doc_format = run.doc_format;
    // With --schemas the units are the schemas of one database.
    let noun = if run.fleet.schemas.is_some() { "schema" } else { "target" };
    let mut results: Vec<Option<(TargetResult, Report)>> = (0..count).map(|_| None).collect();
    let names: Vec<String> = targets.iter().map(|(n, _)| n.clone()).collect();
    // Local tasks: a target's run need not be Send, and the work is waiting on servers anyway.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut queue = targets.into_iter().enumerate();
            let mut running = tokio::task::JoinSet::new();
            let mut failed = false;
            loop {
                while running.len() < parallel && (keep_going || !failed) {
                    let Some((i, (name, url))) = queue.next() else { break };
                    let each = each.clone();
                    let span = tracing::info_span!("target", target = %name);
                    running.spawn_local(
                        async move {
                            let report = match url {
                                Ok(url) => each(name, url).await,
                                Err(e) => Report::failed(doc_format, e),
                            };
                            (i, report)
                        }
                        .instrument(span),
                    );
                }
                let Some(joined) = running.join_next().await else { break };
                let (i, report) = match joined {
                    Ok(done) => done,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => return Err(anyhow::anyhow!("a target's run was cancelled: {e}")),
                };
                let result = if report.verdict.is_ok() { TargetResult::Ok } else { TargetResult::Failed };
                failed |= result == TargetResult::Failed;
                if human {
                    print!("{}", target_block(noun, &names[i], result, &report));
                }
                results[i] = Some((result, report));
            }
            Ok(())
        })
        .await?;

    let mut summary = FleetSummary { targets: count, ..Default::default() };
    let mut worst = 0;
    let mut failed_names = Vec::new();
    let mut rows: Vec<FleetTarget> = Vec::new();
    for (name, result) in names.iter().zip(results) {
        let row = match result {
            None => {
                summary.not_run += 1;
                FleetTarget {
                    target: name.clone(),
                    result: TargetResult::NotRun,
                    exit_code: None,
                    summary: "not run: an earlier target failed (--keep-going runs every target)".into(),
                    error: None,
                    report: None,
                }
            }
            Some((result, report)) => {
                let (code, error) = match &report.verdict {
                    Ok(()) => (0, None),
                    Err(e) => (crate::error::exit_code(e), Some(crate::exec::failure::render(e))),
                };
                if result == TargetResult::Ok {
                    summary.ok += 1;
                } else {
                    summary.failed += 1;
                    failed_names.push(name.clone());
                    worst = worse_exit_code(worst, code);
                }
                FleetTarget {
                    target: name.clone(),
                    result,
                    exit_code: Some(code),
                    summary: report.summary.clone(),
                    error,
                    report: Some(report.json),
                }
            }
        };
        rows.push(row);
    }
    let ok = summary.failed == 0 && summary.not_run == 0;
    if human {
        print!("{}", summary_table(noun, &rows, &summary));
    } else {
        super::json::print(&FleetDoc {
            format: "planner.fleet",
            version: VERSION,
            command: run.command,
            ok,
            targets: rows,
            summary,
        })?;
    }
    if failed_names.is_empty() {
        return Ok(());
    }
    Err(crate::error::FleetFailed {
        code: worse_exit_code(worst, 1),
        message: format!(
            "{} failed on {} of {count} {noun}(s): {}",
            run.command,
            failed_names.len(),
            failed_names.join(", ")
        ),
    }
    .into())
}

/// `== target users: ok` and the target's own output.
fn target_block(noun: &str, name: &str, result: TargetResult, report: &Report) -> String {
    let mut out = String::new();
    let verdict = match result {
        TargetResult::Ok => "ok".to_string(),
        _ => "FAILED".to_string(),
    };
    let _ = writeln!(out, "== {noun} {name}: {verdict}");
    out.push_str(&report.text);
    if !report.text.is_empty() && !report.text.ends_with('\n') {
        out.push('\n');
    }
    if let Err(e) = &report.verdict {
        let text = crate::exec::failure::render(e);
        // Not repeated when the target's own output already said it.
        if !report.text.contains(text.lines().next().unwrap_or_default()) {
            let _ = writeln!(out, "  error: {}", text.replace('\n', "\n  "));
        }
    }
    out
}

/// The table after every target: one line each, then the counts.
fn summary_table(noun: &str, rows: &[FleetTarget], summary: &FleetSummary) -> String {
    let width = rows.iter().map(|r| r.target.len()).max().unwrap_or(6).max(noun.len());
    let mut out = String::new();
    let _ = writeln!(out, "\n{noun:<width$}  {:<7}  detail", "result");
    for r in rows {
        let result = match r.result {
            TargetResult::Ok => "ok",
            TargetResult::Failed => "FAILED",
            TargetResult::NotRun => "not run",
        };
        let detail = r.summary.lines().next().unwrap_or_default();
        let _ = writeln!(out, "{:<width$}  {result:<7}  {detail}", r.target);
    }
    let _ = writeln!(
        out,
        "{} {noun}(s): {} ok, {} failed, {} not run",
        summary.targets, summary.ok, summary.failed, summary.not_run
    );
    out
}

/// The worse of two exit codes for a fleet's verdict: could not run (3), then bad input (2), then
/// paused too long (4, resume later), then refused (1); 0 only when nothing failed.
fn worse_exit_code(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        3 => 4,
        2 => 3,
        4 => 2,
        1 => 1,
        0 => 0,
        _ => 5,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table_lists_every_target_with_its_result() {
        let row = |t: &str, result, summary: &str| FleetTarget {
            target: t.into(),
            result,
            exit_code: None,
            summary: summary.into(),
            error: None,
            report: None,
        };
        let rows = vec![
            row("users", TargetResult::Ok, "applied expand"),
            row("billing", TargetResult::Failed, "could not connect\nhelp: ..."),
            row("orders", TargetResult::NotRun, "not run"),
        ];
        let table =
            summary_table("target", &rows, &FleetSummary { targets: 3, ok: 1, failed: 1, not_run: 1 });
        assert_eq!(
            table,
            "\ntarget   result   detail\nusers    ok       applied expand\nbilling  FAILED   could not connect\n\
             orders   not run  not run\n3 target(s): 1 ok, 1 failed, 1 not run\n"
        );
    }

    #[test]
    fn fleet_exit_code_ranks_could_not_run_over_bad_input_over_paused_over_refused() {
        assert_eq!(super::worse_exit_code(1, 4), 4);
        assert_eq!(super::worse_exit_code(4, 2), 2);
        assert_eq!(super::worse_exit_code(2, 3), 3);
        assert_eq!(super::worse_exit_code(3, 1), 3);
        assert_eq!(super::worse_exit_code(0, 1), 1);
    }
}
