//! The backfill engine: keyset batches, a checkpoint in each batch's transaction, throttling.
//!
//! Per table: read the checkpoint, read the largest key (rows inserted later are the sync
//! trigger's job), then walk the key in batches. Each batch is one autocommit statement that
//! updates the pending rows of a key range and advances the checkpoint, so a kill -9 at any
//! moment resumes exactly: no row skipped, none done twice.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{PgConnection, PgPool};

use crate::error::{InputError, Refusal};
use crate::plan::{BackfillTask, PhaseKind, Plan};
use crate::sql::QualifiedName;

pub mod checkpoint;
pub mod control;
pub mod keyset;
pub mod latency;
pub mod pause;
pub mod probe;
pub mod progress;
pub mod stop;
pub mod telemetry;
pub mod throttle;

pub use latency::{Action, Decision, HoldLatency};
pub use pause::{PauseReason, PauseThresholds};
pub use progress::ProgressMode;
pub use stop::StopSignal;
pub use throttle::ThrottleSettings;

use keyset::{BatchSql, KeyPart};
use progress::{thousands, Progress};
use throttle::Throttle;

/// How fast and how big. Built from the command line's throttle flags.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    pub throttle: ThrottleSettings,
    pub pauses: PauseThresholds,
    pub progress: ProgressMode,
    /// Re-read throttle settings from this file whenever it changes.
    pub control_file: Option<PathBuf>,
    /// Requests to stop after the current batch (the CLI wires Ctrl-C and SIGTERM to it).
    pub stop: StopSignal,
    /// lock_timeout of each batch; a batch that times out is retried.
    pub lock_timeout: Option<Duration>,
    /// Server pid of the planner session that holds the one-planner lock: every batch checks it
    /// still does, so losing that session stops the writes before another planner is admitted.
    pub owner_pid: Option<i32>,
    /// Live figures for `--metrics-addr` (None: kept but not served).
    pub telemetry: Option<telemetry::Telemetry>,
}

/// What a finished (or interrupted) backfill did.
#[derive(Debug, Clone, Default)]
pub struct BackfillReport {
    /// Keys visited in this run.
    pub rows: u64,
    /// Rows that were pending and got filled in this run.
    pub rows_updated: u64,
    pub batches: u64,
    pub elapsed: Duration,
    /// False when stopped early (Ctrl-C / SIGTERM); the checkpoint is saved.
    pub completed: bool,
    /// Why the run stopped early.
    pub stopped: Option<String>,
    pub tables: Vec<TableReport>,
    pub pauses: Vec<PauseRecord>,
    /// `--hold-latency`: the baseline probe p99 learned before the first batch, and the bound.
    pub latency_baseline: Option<(Duration, Duration)>,
    /// `--hold-latency`: every decision that changed the batch size or the pause (at most
    /// [`MAX_DECISIONS_KEPT`], the first ones; `decisions_dropped` counts the rest).
    pub decisions: Vec<Decision>,
    pub decisions_dropped: u64,
    /// Stopped because a pause outlasted `--max-pause` (`stopped` says which).
    pub paused_too_long: bool,
}

/// Decisions kept in the report: a 10-hour run must not grow without bound.
pub const MAX_DECISIONS_KEPT: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub rows_updated: u64,
    pub batches: u64,
    pub elapsed: Duration,
    /// Finished by an earlier run: nothing to do.
    pub already_done: bool,
    pub finished: bool,
    /// The checkpoint when the run ended, for the "resume" message.
    pub last_key: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct PauseRecord {
    pub table: String,
    pub reason: PauseReason,
    pub duration: Duration,
}

impl BackfillReport {
    /// Mean keys per second over the run.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for BackfillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            if t.already_done {
                writeln!(f, "{}: already backfilled by an earlier run", t.table)?;
                continue;
            }
            let state = if t.finished { "done" } else { "stopped" };
            writeln!(
                f,
                "{}: {state}, {} rows visited, {} updated, {} batches, {:.1}s",
                t.table,
                thousands(t.rows),
                thousands(t.rows_updated),
                thousands(t.batches),
                t.elapsed.as_secs_f64()
            )?;
        }
        write!(
            f,
            "backfill {}: {} rows in {} batches, {:.1}s, {} rows/s",
            if self.completed { "complete" } else { "interrupted" },
            thousands(self.rows),
            thousands(self.batches),
            self.elapsed.as_secs_f64(),
            thousands(self.rate() as u64),
        )?;
        if self.pauses.is_empty() {
            write!(f, ", no pauses")?;
        } else {
            let total: Duration = self.pauses.iter().map(|p| p.duration).sum();
            let mut kinds: Vec<&str> = self.pauses.iter().map(|p| p.reason.kind()).collect();
            kinds.dedup();
            write!(f, ", {} pauses ({:.1}s: {})", self.pauses.len(), total.as_secs_f64(), kinds.join(", "))?;
        }
        if let Some((base, bound)) = self.latency_baseline {
            let slower = self.decisions.iter().filter(|d| d.action == Action::SlowDown).count();
            write!(
                f,
                "\nlatency probe: baseline p99 {}, bound {}; slowed down {slower} time(s)",
                latency::ms(base),
                latency::ms(bound)
            )?;
        }
        if let Some(why) = &self.stopped {
            write!(f, "\n{why}")?;
        }
        Ok(())
    }
}

/// A pool for the backfill (its own connection, one for pause checks, one for the lock probe;
/// the latency probe detaches one of its own),
/// with the `planner` state schema in place.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let pool = crate::backend::postgres::connect::pool(url, "planner/backfill", 3).await?;
    let mut conn = pool.acquire().await?;
    crate::backend::postgres::state::ensure_schema(&mut conn).await?;
    drop(conn);
    Ok(pool)
}

/// Run every backfill task of `plan`'s backfill phase to completion (or until interrupted),
/// checkpointing in `planner.backfill_progress` (key: plan name, `QualifiedName::display_short`).
pub async fn run(pool: &PgPool, plan: &Plan, opts: &BackfillOptions) -> anyhow::Result<BackfillReport> {
    let started = Instant::now();
    let mut report = BackfillReport { completed: true, ..Default::default() };
    let Some(phase) = plan.phase(PhaseKind::Backfill) else {
        return Ok(report);
    };
    let jobs = merge_tasks(&phase.backfill)?;
    // Detached: the session settings below must not leak into the caller's pool.
    let mut conn = pool.acquire().await.context("connecting for the backfill")?.detach();
    let lock_timeout = opts.lock_timeout.unwrap_or(Duration::from_secs(2));
    // synchronous_commit off: each batch's rows and checkpoint commit in one transaction and WAL
    // replays in order, so a server crash loses whole batches with their checkpoints, never one
    // without the other; not waiting for the flush makes small batches cheap.
    // force_custom_plan: a generic plan cannot see how narrow each key range is. Every statement
    // of this session walks a key range in index order: never let a stale or missing estimate
    // turn one into a full scan or a sort of the rest of the table. jit off: the (never run)
    // last-batch count is costed over the whole table, which on large tables crossed
    // jit_above_cost and spent ~12 ms compiling every 1000-row batch.
    sqlx::raw_sql(crate::backend::dynamic(format!(
        "SET application_name = 'planner backfill'; SET synchronous_commit = off; \
         SET plan_cache_mode = force_custom_plan; SET enable_seqscan = off; SET enable_sort = off; \
         SET enable_bitmapscan = off; SET jit = off; SET lock_timeout = '{}ms'",
        lock_timeout.as_millis()
    )))
    .execute(&mut conn)
    .await
    .context("setting up the backfill session")?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await?;
    if opts.owner_pid.is_some() {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(crate::backend::postgres::LOCK_KEY1)
            .bind(crate::backend::postgres::WRITER_KEY2)
            .fetch_one(&mut conn)
            .await?;
        if !got {
            return Err(crate::error::Refusal::new(
                "another planner's backfill writer is still writing to this database; run again once it stopped",
            )
            .into());
        }
    }
    let mut engine = Engine {
        pool,
        conn,
        pid,
        plan: &plan.name,
        opts,
        throttle: Throttle::new(opts.throttle.clone()),
        control: opts.control_file.as_deref().map(control::ControlFile::new),
        paused_by_control: false,
        started,
        rows_this_run: 0,
        last_pause_check: None,
        latency: opts.throttle.hold_latency.map(latency::LatencyController::new),
        current_table: String::new(),
        wal: None,
        gave_up: None,
        telemetry: opts.telemetry.clone().unwrap_or_default(),
    };
    for job in &jobs {
        let table = engine.run_table(job, &mut report).await?;
        report.rows += table.rows;
        report.rows_updated += table.rows_updated;
        report.batches += table.batches;
        let finished = table.finished;
        report.tables.push(table);
        if !finished {
            report.completed = false;
            report.stopped = engine.gave_up.clone().or_else(|| opts.stop.requested());
            report.paused_too_long = engine.gave_up.is_some();
            break;
        }
    }
    report.elapsed = started.elapsed();
    let _ = sqlx::Connection::close(engine.conn).await;
    Ok(report)
}

/// One table's work: the plan's tasks on that table merged into one pass.
#[derive(Debug, Clone)]
struct TableJob {
    table: QualifiedName,
    key: Vec<crate::plan::KeyColumn>,
    set_list: String,
    pending: String,
}

/// Group tasks by table so each table is walked once and has one checkpoint. Several tasks on
/// one table become conditional assignments: each column is set only where its task is pending.
fn merge_tasks(tasks: &[BackfillTask]) -> anyhow::Result<Vec<TableJob>> {
    let mut jobs: Vec<(QualifiedName, Vec<&BackfillTask>)> = Vec::new();
    for task in tasks {
        match jobs.iter_mut().find(|(t, _)| *t == task.table) {
            Some((_, group)) => group.push(task),
            None => jobs.push((task.table.clone(), vec![task])),
        }
    }
    let pending_of =
        |t: &BackfillTask| if t.pending.trim().is_empty() { "true".to_string() } else { t.pending.clone() };
    jobs.into_iter()
        .map(|(table, group)| {
            let label = table.display_short();
            if group.iter().any(|t| t.key != group[0].key) {
                return Err(InputError::new(format!("backfill tasks on {label} use different keys")).into());
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut sets = Vec::new();
            for task in &group {
                for a in &task.set {
                    if !seen.insert(a.column.clone()) {
                        return Err(InputError::new(format!(
                            "two backfill tasks on {label} both set column {}",
                            a.column
                        ))
                        .into());
                    }
                    sets.push(if group.len() == 1 {
                        format!("{} = ({})", a.column, a.expr)
                    } else {
                        format!(
                            "{c} = CASE WHEN ({}) THEN ({}) ELSE {c} END",
                            pending_of(task),
                            a.expr,
                            c = a.column
                        )
                    });
                }
            }
            if sets.is_empty() {
                return Err(InputError::new(format!("the backfill task on {label} sets no column")).into());
            }
            let pending =
                group.iter().map(|t| format!("({})", pending_of(t))).collect::<Vec<_>>().join(" OR ");
            Ok(TableJob { key: group[0].key.clone(), table, set_list: sets.join(", "), pending })
        })
        .collect()
}

/// What one batch statement did.
struct BatchDone {
    updated: u64,
    visited: u64,
    /// The range reached the run's upper bound: the table is done.
    last: bool,
    last_key: Vec<String>,
}

struct Engine<'a> {
    pool: &'a PgPool,
    conn: PgConnection,
    pid: i32,
    plan: &'a str,
    opts: &'a BackfillOptions,
    throttle: Throttle,
    control: Option<control::ControlFile>,
    paused_by_control: bool,
    started: Instant,
    rows_this_run: u64,
    last_pause_check: Option<Instant>,
    /// `--hold-latency`: learns the baseline once per run, then decides after batches.
    latency: Option<latency::LatencyController>,
    /// The table being filled, as a regclass literal (for the vacuum check).
    current_table: String,
    /// The last WAL position seen by the WAL rate check.
    wal: Option<pause::WalSample>,
    /// Set when a pause outlasted `--max-pause`: the run stops with this message.
    gave_up: Option<String>,
    /// Live figures for `--metrics-addr`.
    telemetry: telemetry::Telemetry,
}

/// Pause checks cost a catalog query: at most this often.
const PAUSE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// While paused, look again this often.
const PAUSE_POLL: Duration = Duration::from_millis(500);
/// How long to wait for another runner of the same table (a killed client's last statement
/// takes at most a batch; a live second `planner backfill` is refused after this).
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// A batch that hit lock_timeout or a deadlock is retried this many times.
const MAX_RETRIES: u32 = 8;

impl Engine<'_> {
    /// Refuse to write another batch once the planner session that holds the one-planner lock is
    /// gone (terminated, network cut): from then on another planner could be admitted.
    async fn check_owner(&mut self) -> anyhow::Result<()> {
        let Some(owner) = self.opts.owner_pid else { return Ok(()) };
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1
                AND classid = $2::int::oid AND objid = $3::int::oid AND objsubid = 2)",
        )
        .bind(owner)
        .bind(crate::backend::postgres::LOCK_KEY1)
        .bind(crate::backend::postgres::LOCK_KEY2)
        .fetch_one(&mut self.conn)
        .await?;
        if !held {
            return Err(crate::error::Refusal::new(format!(
                "planner's main session (server pid {owner}) is gone, and with it the one-planner lock; the backfill stopped writing after its last committed batch (checkpoint saved): run the same command again to resume"
            ))
            .into());
        }
        Ok(())
    }

    async fn run_table(
        &mut self,
        job: &TableJob,
        report: &mut BackfillReport,
    ) -> anyhow::Result<TableReport> {
        let label = job.table.display_short();
        let started = Instant::now();
        let mut out = TableReport { table: label.clone(), ..Default::default() };
        let key = self.resolve_key(job).await?;
        if !self.lock_table(&label).await? {
            out.elapsed = started.elapsed();
            return Ok(out);
        }
        let result = self.fill_table(job, &label, key, &mut out, report).await;
        checkpoint::unlock(&mut self.conn, self.plan, &label).await?;
        result?;
        out.elapsed = started.elapsed();
        Ok(out)
    }

    /// Wait (up to [`LOCK_WAIT`]) for the table's runner lock. False: stopped while waiting.
    async fn lock_table(&mut self, label: &str) -> anyhow::Result<bool> {
        let waiting_since = Instant::now();
        let mut said = false;
        while !checkpoint::try_lock(&mut self.conn, self.plan, label).await? {
            if waiting_since.elapsed() > LOCK_WAIT {
                return Err(Refusal::new(format!(
                    "another backfill of plan {} is running on {label} (see pg_stat_activity, \
                     application_name 'planner backfill'); wait for it or stop it",
                    self.plan
                ))
                .into());
            }
            if !said {
                eprintln!("{label}: another backfill of plan {} holds this table; waiting", self.plan);
                said = true;
            }
            self.opts.stop.sleep(Duration::from_millis(200)).await;
            if self.opts.stop.requested().is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn fill_table(
        &mut self,
        job: &TableJob,
        label: &str,
        key: Vec<KeyPart>,
        out: &mut TableReport,
        report: &mut BackfillReport,
    ) -> anyhow::Result<()> {
        let label = label.to_string();
        self.current_table = job.table.to_string();
        let mut cp = checkpoint::open(&mut self.conn, self.plan, &label).await?;
        if cp.finished {
            out.already_done = true;
            out.finished = true;
            return Ok(());
        }
        let sql = BatchSql {
            table: job.table.clone(),
            key,
            set_list: job.set_list.clone(),
            pending: job.pending.clone(),
        };
        let max_key: Option<Vec<String>> = self.fetch_key(&sql.max_key()).await?;
        let Some(upper) = max_key else {
            checkpoint::finish(&mut self.conn, self.plan, &label).await?;
            out.finished = true;
            return Ok(());
        };
        let estimate: f64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), 0)::float8",
        )
        .bind(job.table.to_string())
        .fetch_one(&mut self.conn)
        .await?;
        let mut progress =
            Progress::start(self.opts.progress, &label, estimate.max(0.0) as u64, cp.rows_done as u64);
        if let Some(k) = &cp.last_key {
            progress.log(&format!(
                "{label}: resuming after key {} ({} rows done)",
                show_key(&sql.key, k),
                thousands(cp.rows_done as u64)
            ));
        }
        self.telemetry.table_started(&label, estimate.max(0.0) as u64, cp.rows_done as u64);
        let mut probe = self.start_probe(&sql, &label, &progress, report).await?;
        if let (Some(p), Some(k)) = (&probe, &cp.last_key) {
            p.set_position(k);
        }
        let first_batch = sql.batch(false);
        let next_batch = sql.batch(true);
        loop {
            if self.opts.stop.requested().is_some() {
                break;
            }
            self.poll_control(&progress);
            let paused = self.maybe_pause(&label, &mut progress, report).await?;
            if paused.is_some() {
                // Probes taken while paused say nothing about the batches.
                if let Some(p) = &mut probe {
                    p.drain();
                }
            }
            if self.opts.stop.requested().is_some() || self.gave_up.is_some() {
                break;
            }
            if let (Some(paused), Some(p)) = (paused, &mut probe) {
                if self.latency.as_mut().is_some_and(|c| c.forget_if_paused(paused)) {
                    progress.log(&format!(
                        "{label}: paused {:.0}s (longer than {}s): learning the latency baseline again",
                        paused.as_secs_f64(),
                        latency::RELEARN_AFTER_PAUSE.as_secs()
                    ));
                    if !self.learn_baseline(p, &label, &progress, report).await? {
                        break;
                    }
                }
            }
            self.check_owner().await?;
            let size = self.throttle.batch_size();
            let batch_started = Instant::now();
            let lower = cp.last_key.as_deref();
            let batch_sql = if lower.is_some() { &next_batch } else { &first_batch };
            let done = self.run_batch(batch_sql, lower, &upper, size, &label, &progress, report).await?;
            if done.visited > 0 {
                out.rows += done.visited;
                out.rows_updated += done.updated;
                out.batches += 1;
                self.rows_this_run += done.visited;
                cp.rows_done += done.visited as i64;
                self.throttle.record_batch(done.visited, batch_started.elapsed());
                if let Some(p) = &mut probe {
                    p.set_position(&done.last_key);
                    self.hold_latency(p, &label, &mut progress, report);
                }
                progress.update(cp.rows_done as u64, self.throttle.batch_size());
                self.telemetry.batch_done(
                    &label,
                    cp.rows_done as u64,
                    self.rows_this_run as f64 / self.started.elapsed().as_secs_f64().max(1e-9),
                    self.throttle.batch_size(),
                    batch_started.elapsed(),
                );
            }
            cp.last_key = Some(done.last_key);
            if done.last {
                checkpoint::finish(&mut self.conn, self.plan, &label).await?;
                out.finished = true;
                break;
            }
            let mut delay = self.throttle.delay(self.rows_this_run, self.started.elapsed());
            if let Some(c) = &self.latency {
                delay = delay.max(c.pause());
            }
            self.opts.stop.sleep(delay).await;
        }
        if !out.finished {
            if let Some(k) = &cp.last_key {
                progress.log(&format!(
                    "{label}: stopped after key {}; the checkpoint is saved",
                    show_key(&sql.key, k)
                ));
            }
        }
        out.last_key = cp.last_key;
        progress.finish();
        Ok(())
    }

    /// With `--hold-latency`: start the probe on a connection of its own and, on the run's first
    /// table, learn the baseline before the first batch.
    async fn start_probe(
        &mut self,
        sql: &BatchSql,
        label: &str,
        progress: &Progress,
        report: &mut BackfillReport,
    ) -> anyhow::Result<Option<probe::Probe>> {
        let Some(controller) = &mut self.latency else { return Ok(None) };
        let conn = self.pool.acquire().await.context("connecting for the latency probe")?.detach();
        let mut p = probe::Probe::start(conn, sql).await.context("starting the latency probe")?;
        if controller.baseline().is_some() {
            if let (Some(base), Some(bound)) = (controller.baseline(), controller.bound()) {
                report.latency_baseline = Some((base, bound));
            }
            return Ok(Some(p));
        }
        self.learn_baseline(&mut p, label, progress, report).await?;
        Ok(Some(p))
    }

    /// Learn the latency baseline from the probe before the next batch (the run's first, or
    /// after a long pause). False when stopped while learning.
    async fn learn_baseline(
        &mut self,
        p: &mut probe::Probe,
        label: &str,
        progress: &Progress,
        report: &mut BackfillReport,
    ) -> anyhow::Result<bool> {
        let Some(controller) = &mut self.latency else { return Ok(true) };
        progress.log(&format!(
            "{label}: measuring the latency probe's baseline for {:.0}s before the next batch",
            (probe::PROBE_EVERY * latency::BASELINE_SAMPLES as u32).as_secs_f64()
        ));
        p.drain();
        loop {
            let sample = tokio::select! {
                s = p.next() => s,
                _ = self.opts.stop.wait() => return Ok(false),
            };
            let Some(sample) = sample else {
                let why = p.error().unwrap_or_else(|| "latency probe stopped".to_string());
                anyhow::bail!("{label}: {why}");
            };
            if controller.learn(sample) {
                break;
            }
        }
        if let (Some(base), Some(bound)) = (controller.baseline(), controller.bound()) {
            report.latency_baseline = Some((base, bound));
            progress.log(&format!(
                "{label}: latency probe baseline p99 {}; holding p99 within {} (--hold-latency {})",
                latency::ms(base),
                latency::ms(bound),
                controller.hold
            ));
        }
        Ok(true)
    }

    /// Feed the probe's new samples to the controller; apply and record its decision.
    fn hold_latency(
        &mut self,
        p: &mut probe::Probe,
        label: &str,
        progress: &mut Progress,
        report: &mut BackfillReport,
    ) {
        let Some(controller) = &mut self.latency else { return };
        if let Some(why) = p.error() {
            progress.log(&format!("{label}: {why}; holding the current batch size"));
            self.telemetry.error("probe_failed");
        }
        for s in p.drain() {
            controller.observe(s);
        }
        let (min, max) = self.throttle.batch_bounds();
        let Some(d) = controller.decide(self.throttle.batch_size(), min, max, self.rows_this_run) else {
            return;
        };
        self.telemetry.probe(d.p99, d.bound, d.action == Action::SlowDown);
        if d.action == Action::SpeedUp && d.pause_after.is_zero() {
            self.telemetry.running();
        }
        self.throttle.set_batch(d.batch_after);
        progress.set_status(d.to_string());
        if d.action == Action::Hold {
            return;
        }
        if d.action == Action::SlowDown {
            progress.log(&format!("{label}: {d}"));
        }
        if report.decisions.len() < MAX_DECISIONS_KEPT {
            report.decisions.push(d);
        } else {
            report.decisions_dropped += 1;
        }
    }

    /// The key columns with their types from the catalog (the plan's may be stale); refuses
    /// tables without a key or with a nullable key column (NULL keys cannot be paged).
    async fn resolve_key(&mut self, job: &TableJob) -> anyhow::Result<Vec<KeyPart>> {
        let label = job.table.display_short();
        if job.key.is_empty() {
            return Err(Refusal::new(format!(
                "cannot backfill {label}: it has no primary key. planner walks a table in key order so it \
                 can resume exactly; add a primary key (or a unique index on NOT NULL columns) and re-plan"
            ))
            .into());
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT to_regclass($1)::oid::int8")
            .bind(job.table.to_string())
            .fetch_one(&mut self.conn)
            .await?;
        if exists.is_none() {
            return Err(Refusal::new(format!(
                "cannot backfill {label}: the table does not exist (was the expand phase applied to this database?)"
            ))
            .into());
        }
        let mut parts = Vec::new();
        for k in &job.key {
            let row: Option<(String, bool)> = sqlx::query_as(
                "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
                 WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped",
            )
            .bind(job.table.to_string())
            .bind(k.column.as_str())
            .fetch_optional(&mut self.conn)
            .await?;
            match row {
                None => {
                    return Err(Refusal::new(format!(
                        "cannot backfill {label}: key column {} no longer exists; re-plan",
                        k.column
                    ))
                    .into())
                }
                Some((_, false)) => {
                    return Err(Refusal::new(format!(
                        "cannot backfill {label}: key column {} allows NULL, and rows with a NULL key \
                         cannot be reached in key order; use a primary key",
                        k.column
                    ))
                    .into())
                }
                Some((sql_type, true)) => parts.push(KeyPart { column: k.column.clone(), sql_type }),
            }
        }
        Ok(parts)
    }

    /// Run a statement returning one key as text columns.
    async fn fetch_key(&mut self, sql: &str) -> anyhow::Result<Option<Vec<String>>> {
        let row = sqlx::query(crate::backend::dynamic(sql.to_string()))
            .fetch_optional(&mut self.conn)
            .await
            .context("reading the largest key")?;
        Ok(match row {
            None => None,
            Some(row) => {
                use sqlx::Row;
                let mut key = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    key.push(row.try_get::<String, _>(i)?);
                }
                Some(key)
            }
        })
    }

    /// One batch statement (see [`BatchSql::batch`]), retried on lock timeouts and deadlocks (it
    /// changed nothing then), with a probe for sessions it keeps waiting.
    #[allow(clippy::too_many_arguments)]
    async fn run_batch(
        &mut self,
        sql: &str,
        lower: Option<&[String]>,
        upper: &[String],
        size: u32,
        label: &str,
        progress: &Progress,
        report: &mut BackfillReport,
    ) -> anyhow::Result<BatchDone> {
        let mut attempt = 0;
        loop {
            let mut q = sqlx::query_as::<_, (i64, i64, bool, serde_json::Value)>(crate::backend::dynamic(
                sql.to_string(),
            ));
            for v in lower.into_iter().flatten().chain(upper.iter()) {
                q = q.bind(v.clone());
            }
            q = q.bind(size as i64).bind(self.plan.to_string()).bind(label.to_string());
            let fut = q.fetch_optional(&mut self.conn);
            let (result, blocked) =
                probe_while(fut, self.pool, self.pid, self.opts.pauses.max_lock_wait).await;
            if let Some((sessions, longest, max)) = blocked {
                let reason = PauseReason::LockWaits { sessions, longest, max };
                progress.log(&format!("{label}: {reason}"));
                self.throttle.back_off();
                report.pauses.push(PauseRecord {
                    table: label.to_string(),
                    reason,
                    duration: Duration::ZERO,
                });
            }
            match result {
                Ok(Some((updated, visited, last, last_key))) => {
                    let last_key = checkpoint::parse_key(&last_key)
                        .with_context(|| format!("the batch on {label} returned a bad key: {last_key}"))?;
                    return Ok(BatchDone { updated: updated as u64, visited: visited as u64, last, last_key });
                }
                Ok(None) => anyhow::bail!(
                    "the checkpoint row of {label} in planner.backfill_progress disappeared during the backfill"
                ),
                Err(e) if attempt < MAX_RETRIES && is_retryable(&e) => {
                    attempt += 1;
                    let wait = Duration::from_millis(50 << attempt.min(6));
                    progress.log(&format!("{label}: batch retried in {}ms ({e})", wait.as_millis()));
                    self.telemetry.error("batch_retried");
                    self.throttle.back_off();
                    self.opts.stop.sleep(wait).await;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("backfill batch on {label} failed")));
                }
            }
        }
    }

    fn poll_control(&mut self, progress: &Progress) {
        let Some(control) = &mut self.control else { return };
        match control.poll(&self.opts.throttle) {
            Ok(None) => {}
            Ok(Some(c)) => {
                if c.throttle != self.throttle.settings {
                    progress.log(&format!(
                        "control file {}: new settings {:?}",
                        control.path().display(),
                        c.throttle
                    ));
                }
                self.throttle.update(c.throttle);
                self.paused_by_control = c.paused;
            }
            Err(e) => progress.log(&format!("control file {} ignored: {e}", control.path().display())),
        }
    }

    /// Wait while a pause condition holds (checked at most once a second), logging why and
    /// recording it in `planner.backfill_progress` (for `planner status`). How long, when it paused.
    /// A pause longer than `--max-pause` ends the run: `self.gave_up` says why.
    async fn maybe_pause(
        &mut self,
        label: &str,
        progress: &mut Progress,
        report: &mut BackfillReport,
    ) -> anyhow::Result<Option<Duration>> {
        if !self.paused_by_control && self.last_pause_check.is_some_and(|t| t.elapsed() < PAUSE_CHECK_EVERY) {
            return Ok(None);
        }
        let entered = Instant::now();
        let mut since: Option<(Instant, PauseReason)> = None;
        let end = |report: &mut BackfillReport, since: Option<(Instant, PauseReason)>| {
            if let Some((t, reason)) = since {
                report.pauses.push(PauseRecord { table: label.to_string(), reason, duration: t.elapsed() });
            }
        };
        loop {
            self.last_pause_check = Some(Instant::now());
            let mut monitor = self.pool.acquire().await.context("connecting for pause checks")?;
            let reason = if self.paused_by_control {
                Some(PauseReason::Requested)
            } else {
                pause::check(&mut monitor, &self.opts.pauses, self.pid, &self.current_table, &mut self.wal)
                    .await?
            };
            match (reason, &mut since) {
                (None, None) => return Ok(None),
                (None, Some((t, _))) => {
                    let duration = t.elapsed();
                    progress.log(&format!("{label}: resuming after {:.1}s paused", duration.as_secs_f64()));
                    progress.show_status(String::new());
                    self.telemetry.running();
                    record_pause(&mut monitor, self.plan, label, None).await?;
                    end(report, since);
                    return Ok(Some(entered.elapsed()));
                }
                (Some(reason), None) => {
                    progress.log(&format!("{label}: pausing: {reason}"));
                    progress.show_status(format!("paused: {reason}"));
                    record_pause(&mut monitor, self.plan, label, Some(&reason)).await?;
                    self.telemetry.pause_started(&reason);
                    since = Some((Instant::now(), reason));
                }
                (Some(reason), Some((t, current))) => {
                    if reason.kind() != current.kind() {
                        // Another condition holds now: close the first pause, report the new one.
                        progress.log(&format!("{label}: still pausing: {reason}"));
                        report.pauses.push(PauseRecord {
                            table: label.to_string(),
                            reason: current.clone(),
                            duration: t.elapsed(),
                        });
                        record_pause(&mut monitor, self.plan, label, Some(&reason)).await?;
                        self.telemetry.pause_started(&reason);
                        since = Some((Instant::now(), reason));
                    } else {
                        *current = reason;
                    }
                    progress.show_status(format!("paused: {}", since.as_ref().map(|s| &s.1).expect("set")));
                }
            }
            if let (Some(max), Some((t, reason))) = (self.opts.pauses.max_pause, &since) {
                if t.elapsed() > max {
                    self.gave_up = Some(format!(
                        "paused longer than --max-pause {} ({reason}); stopped with the checkpoint saved",
                        humantime::format_duration(max)
                    ));
                    progress.log(&format!("{label}: {}", self.gave_up.as_deref().unwrap_or_default()));
                    record_pause(&mut monitor, self.plan, label, None).await?;
                    end(report, since);
                    return Ok(Some(entered.elapsed()));
                }
            }
            drop(monitor);
            self.opts.stop.sleep(PAUSE_POLL).await;
            if self.opts.stop.requested().is_some() {
                if let Ok(mut monitor) = self.pool.acquire().await {
                    let _ = record_pause(&mut monitor, self.plan, label, None).await;
                }
                end(report, since);
                return Ok(Some(entered.elapsed()));
            }
            self.poll_control(progress);
        }
    }
}

/// Write (or clear) the pause of `table` where `planner status` reads it.
async fn record_pause(
    conn: &mut PgConnection,
    plan: &str,
    table: &str,
    reason: Option<&PauseReason>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE planner.backfill_progress SET paused_reason = $3,
                paused_since = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END
         WHERE plan = $1 AND table_name = $2",
    )
    .bind(plan)
    .bind(table)
    .bind(reason.map(|r| r.to_string()))
    .execute(&mut *conn)
    .await
    .with_context(|| format!("recording the backfill pause of {table}"))?;
    Ok(())
}

/// Drive `fut` (a batch on the backfill connection) while, once it has run for a while, checking
/// on another connection whether it keeps other sessions waiting longer than `max_wait`.
async fn probe_while<F, T>(
    fut: F,
    pool: &PgPool,
    pid: i32,
    max_wait: Option<Duration>,
) -> (T, Option<(i64, Duration, Duration)>)
where
    F: std::future::Future<Output = T>,
{
    let Some(max) = max_wait.filter(|d| !d.is_zero()) else {
        return (fut.await, None);
    };
    let every = (max / 2).clamp(Duration::from_millis(50), Duration::from_millis(500));
    tokio::pin!(fut);
    let mut worst: Option<(i64, Duration, Duration)> = None;
    loop {
        tokio::select! {
            out = &mut fut => return (out, worst),
            _ = tokio::time::sleep(every) => {
                if let Ok(mut c) = pool.acquire().await {
                    if let Ok((n, longest)) = pause::sessions_blocked_by(&mut c, pid).await {
                        if n > 0 && longest > max && worst.is_none_or(|w| longest > w.1) {
                            worst = Some((n, longest, max));
                        }
                    }
                }
            }
        }
    }
}

fn is_retryable(e: &sqlx::Error) -> bool {
    // 55P03 lock_not_available (lock_timeout), 40P01 deadlock, 40001 serialization failure,
    // 57014 statement_timeout (a role-level timeout shorter than a batch: the retry halves it).
    matches!(
        e.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("55P03" | "40P01" | "40001" | "57014")
    )
}

/// `(id)=(42)` / `(tenant, id)=(acme, 42)`, for messages.
fn show_key(key: &[KeyPart], values: &[String]) -> String {
    let cols: Vec<String> = key.iter().map(|k| crate::sql::ident::short(&k.column)).collect();
    format!("({})=({})", cols.join(", "), values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Assignment, KeyColumn};
    use crate::sql::Ident;

    fn task(table: &str, col: &str, expr: &str, pending: &str) -> BackfillTask {
        BackfillTask {
            table: QualifiedName::from_user(table, "public").unwrap(),
            key: vec![KeyColumn { column: Ident::new("id").unwrap(), data_type: "bigint".into() }],
            set: vec![Assignment { column: Ident::new(col).unwrap(), expr: expr.into() }],
            pending: pending.into(),
        }
    }

    #[test]
    fn one_task_per_table_is_used_as_is() {
        let jobs = merge_tasks(&[task("users", "b", "\"a\"", "\"b\" IS NULL")]).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].set_list, "\"b\" = (\"a\")");
        assert_eq!(jobs[0].pending, "(\"b\" IS NULL)");
    }

    #[test]
    fn tasks_on_one_table_merge_into_conditional_assignments() {
        let jobs = merge_tasks(&[
            task("users", "b", "\"a\"", "\"b\" IS NULL"),
            task("orders", "x", "1", ""),
            task("users", "c", "2", "\"c\" IS NULL"),
        ])
        .unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            jobs[0].set_list,
            "\"b\" = CASE WHEN (\"b\" IS NULL) THEN (\"a\") ELSE \"b\" END, \
             \"c\" = CASE WHEN (\"c\" IS NULL) THEN (2) ELSE \"c\" END"
        );
        assert_eq!(jobs[0].pending, "(\"b\" IS NULL) OR (\"c\" IS NULL)");
        assert_eq!(jobs[1].pending, "(true)");
        let err = merge_tasks(&[task("users", "b", "1", ""), task("users", "b", "2", "")]).unwrap_err();
        assert!(err.to_string().contains("both set column \"b\""), "{err}");
    }
}
