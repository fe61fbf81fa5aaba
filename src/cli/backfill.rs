//! `planner backfill PLAN_DIR`: run the backfill phase with throttling and progress.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::{LockArgs, TargetArgs};
use crate::backfill::{BackfillOptions, PauseThresholds, ProgressMode, StopSignal, ThrottleSettings};
use crate::exec::LoadedPlan;
use crate::plan::PhaseKind;

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 100ms, 2s, 1m)"))
}

/// A threshold where `0` (or `off`) disables the check.
fn threshold(s: &str) -> Result<Duration, String> {
    if matches!(s, "0" | "off") {
        Ok(Duration::ZERO)
    } else {
        duration(s)
    }
}

/// `--max-rate`: a positive, finite number of rows per second (leave the flag out for no limit).
fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        Ok(_) => {
            Err("must be a positive number of rows per second (leave --max-rate out for no limit)"
                .to_string())
        }
        Err(e) => Err(format!("{e}: expected rows per second, e.g. 5000")),
    }
}

/// `1GB`, `512MB`, `64kB`, `1000` (bytes); binary units as PostgreSQL's own settings use them.
fn byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}`: expected a size such as 512MB, 1GB or 0"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        "tb" | "t" => 1 << 40,
        other => return Err(format!("`{s}`: unknown unit `{other}` (B, kB, MB, GB, TB)")),
    };
    Ok((n * mult as f64) as u64)
}

fn enabled(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// How fast the backfill goes and when it holds off (shared by `backfill` and `apply`).
#[derive(Debug, Clone, Args)]
pub struct ThrottleArgs {
    /// Rows per batch (the starting size when --target-batch-time adapts it).
    #[arg(long, default_value_t = crate::backfill::throttle::DEFAULT_BATCH, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Pause after every batch, e.g. 100ms.
    #[arg(long, value_parser = duration, default_value = "0s")]
    pub sleep: Duration,
    /// At most this many rows per second (averaged over the run; no batch exceeds a second's worth).
    #[arg(long, value_name = "ROWS_PER_S", value_parser = rate, allow_negative_numbers = true)]
    pub max_rate: Option<f64>,
    /// Adapt the batch size so each batch takes about this long (e.g. 100ms), within
    /// --min-batch..--max-batch.
    #[arg(long, value_parser = duration)]
    pub target_batch_time: Option<Duration>,
    /// Hold the server's responsiveness: a probe on its own connection times a primary-key read
    /// of the table and a committed one-row write 10 times a second; batch size and pauses adapt
    /// so the probe's p99 stays within FACTOR x the baseline learned before the first batch
    /// (`2x`) or within a DURATION (`5ms`). Overrides --target-batch-time.
    #[arg(long, value_name = "FACTOR|DURATION", value_parser = clap::value_parser!(crate::backfill::HoldLatency))]
    pub hold_latency: Option<crate::backfill::HoldLatency>,
    /// Smallest batch when adapting.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_batch: u32,
    /// Largest batch when adapting (larger batches gain no speed but hold row locks longer).
    #[arg(long, default_value_t = crate::backfill::throttle::DEFAULT_MAX_BATCH, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: u32,
    /// Pause while a standby lags more than this (pg_stat_replication); 0 disables.
    #[arg(long, value_parser = threshold, default_value = "10s")]
    pub max_replication_lag: Duration,
    /// Halve the batch when it keeps another session waiting for a lock longer than this; 0 disables.
    #[arg(long, value_parser = threshold, default_value = "1s")]
    pub max_lock_wait: Duration,
    /// Pause while another transaction in the database is older than this (it blocks vacuum of the
    /// rows the backfill rewrites); 0 disables.
    #[arg(long, value_parser = threshold, default_value = "10m")]
    pub max_transaction_age: Duration,
    /// Pause while a replication slot (logical: CDC consumers; physical: standbys) is more than
    /// this far behind, e.g. 1GB; 0 disables. The server keeps the WAL it still needs on disk.
    #[arg(long, value_name = "BYTES", value_parser = byte_size, default_value = "0")]
    pub max_slot_lag: u64,
    /// Pause while the server writes WAL faster than this per second, e.g. 50MB; 0 disables.
    #[arg(long, value_name = "BYTES_PER_S", value_parser = byte_size, default_value = "0")]
    pub max_wal_rate: u64,
    /// Pause while (auto)vacuum works on the table being filled (on by default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub pause_for_vacuum: bool,
    /// Stop (exit code 4, checkpoint saved, the resume command printed) when a single pause lasts
    /// longer than this; 0 waits as long as the condition holds.
    #[arg(long, value_parser = threshold, default_value = "0")]
    pub max_pause: Duration,
    /// Serve Prometheus metrics (rows, rate, batch size and duration, probe latency, throttle
    /// state, pauses, errors) at http://ADDR/metrics while the backfill runs, e.g. 127.0.0.1:9187.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Re-read throttle settings from this file whenever it changes, without restarting. Lines
    /// `key = value`: batch, min_batch, max_batch, sleep, max_rate, target_batch_time (`off`), pause.
    #[arg(long, value_name = "FILE")]
    pub control: Option<PathBuf>,
    /// Progress display: a bar on a terminal, plain log lines otherwise (auto).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

impl ThrottleArgs {
    /// What clap cannot check alone: flags that must agree with each other.
    pub fn validate(&self) -> Result<(), crate::error::InputError> {
        if self.min_batch > self.max_batch {
            return Err(crate::error::InputError::new(format!(
                "--min-batch {} is above --max-batch {}",
                self.min_batch, self.max_batch
            ))
            .help("--min-batch must be at most --max-batch"));
        }
        Ok(())
    }

    /// The engine's options from these flags.
    pub fn to_options(&self) -> BackfillOptions {
        BackfillOptions {
            throttle: ThrottleSettings {
                batch: self.batch,
                min_batch: self.min_batch,
                max_batch: self.max_batch,
                sleep: self.sleep,
                max_rate: self.max_rate.filter(|r| *r > 0.0),
                target_batch_time: self.target_batch_time.and_then(enabled),
                hold_latency: self.hold_latency,
            },
            pauses: PauseThresholds {
                max_replication_lag: enabled(self.max_replication_lag),
                max_lock_wait: enabled(self.max_lock_wait),
                max_transaction_age: enabled(self.max_transaction_age),
                max_slot_lag: (self.max_slot_lag > 0).then_some(self.max_slot_lag),
                max_wal_rate: (self.max_wal_rate > 0).then_some(self.max_wal_rate),
                pause_for_vacuum: self.pause_for_vacuum,
                max_pause: enabled(self.max_pause),
            },
            progress: self.progress,
            control_file: self.control.clone(),
            stop: StopSignal::default(),
            // set from --lock-timeout (LockArgs) by the caller
            lock_timeout: None,
            // set by the executor from the session that holds the one-planner lock
            owner_pid: None,
            // set by apply_options when --metrics-addr serves them
            telemetry: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The plan folder written by `planner plan`.
    pub plan_dir: PathBuf,
    /// Output format: human, or json (a versioned document on stdout, see README "JSON output").
    #[arg(long, value_enum, default_value_t = super::json::OutputFormat::Human)]
    pub format: super::json::OutputFormat,
    #[command(flatten)]
    pub fleet: super::fleet::FleetArgs,
    #[command(flatten, next_help_heading = "Backfill throttling")]
    pub throttle: ThrottleArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// The backfill phase of a plan, with throttling: the same as `apply --phase backfill`
/// (phase bookkeeping, preconditions, checkpoints), plus a resume hint when interrupted.
/// Interrupted is exit 1 (not done, like "not ready"), not a failure to run (3).
pub async fn run(
    args: BackfillArgs,
    target: &TargetArgs,
    verbosity: super::log::Verbosity,
) -> anyhow::Result<()> {
    let opts = super::apply::apply_options(&args.throttle, &args.lock, true, verbosity, &args.fleet)?;
    let loaded = LoadedPlan::load(&args.plan_dir)?;
    let job = super::apply::PhaseJob {
        loaded,
        which: super::apply::Which::Phase(PhaseKind::Backfill),
        session: args.lock.session_options(),
        opts,
        yes: false,
        command: "backfill",
        resume_hint: true,
    };
    super::apply::run_job(job, target, args.format, &args.fleet).await
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`, for messages.
pub(crate) fn hide_password(arg: &str) -> String {
    hide_password_param(&hide_url_password(arg))
}

fn hide_url_password(arg: &str) -> String {
    let Some((scheme, rest)) = arg.split_once("://") else { return arg.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return arg.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => arg.to_string(),
    }
}

/// `password=...` in a key=value connection string or a URL query (`?password=...`).
fn hide_password_param(arg: &str) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find("password=") {
        let (before, after) = rest.split_at(i + "password=".len());
        out.push_str(before);
        out.push_str("***");
        let end = if let Some(quoted) = after.strip_prefix('\'') {
            // up to the closing quote that is not escaped
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((j, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = j + 1;
                        break;
                    }
                    _ => {}
                }
            }
            1 + end
        } else {
            after.find(|c: char| c.is_whitespace() || c == '&').unwrap_or(after.len())
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn byte_sizes() {
        assert_eq!(super::byte_size("0"), Ok(0));
        assert_eq!(super::byte_size("1000"), Ok(1000));
        assert_eq!(super::byte_size("64kB"), Ok(65536));
        assert_eq!(super::byte_size("1.5GB"), Ok(3 << 29));
        assert!(super::byte_size("lots").is_err());
        assert!(super::byte_size("3 parsecs").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn passwords_are_hidden_in_the_resume_command() {
        assert_eq!(hide_password("postgres://app:s3cr@t@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(
            hide_password("--database-url=postgres://app:pw@db/x"),
            "--database-url=postgres://app:***@db/x"
        );
        assert_eq!(hide_password("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(hide_password("--batch"), "--batch");
        assert_eq!(hide_password("host=db password=pw dbname=x"), "host=db password=*** dbname=x");
        assert_eq!(hide_password(r"host=db password='a \' b' dbname=x"), "host=db password=*** dbname=x");
        assert_eq!(
            hide_password("postgres://db/x?password=pw&sslmode=require"),
            "postgres://db/x?password=***&sslmode=require"
        );
    }
}
