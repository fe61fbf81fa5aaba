//! The MySQL/MariaDB runtime against the real server (MariaDB 10.11 on 127.0.0.1:3306): session
//! setup, the one-planner lock, DDL with bounded metadata-lock waits, error classes, the state
//! store's per-statement phases.

mod mysql_support;

use std::time::{Duration, Instant};

use mysql_support::TestDb;
use planner::mysql::ddl::DdlStatement;
use planner::mysql::state::{self, PhaseOutcome, Resume, StepStatus};
use planner::mysql::{ErrorKind, Flavour, MySession, PlannerLock, SessionLimits};

fn limits(lock_timeout: Duration, retries: u32) -> SessionLimits {
    SessionLimits { lock_timeout, retries, backoff: Duration::from_millis(200), ..SessionLimits::default() }
}

#[tokio::test]
async fn session_runs_with_the_applications_sql_mode_and_bounded_waits() {
    let db = TestDb::new().await;
    let lim = SessionLimits {
        lock_timeout: Duration::from_millis(2900),
        row_lock_timeout: Duration::from_secs(3),
        statement_timeout: Some(Duration::from_millis(1500)),
        ..SessionLimits::default()
    };
    // mariadb:// is the same driver.
    let url = db.url.replacen("mysql://", "mariadb://", 1);
    let mut s = MySession::open(&url, lim).await.unwrap();
    assert_eq!(s.server.flavour, Flavour::MariaDb, "{:?}", s.server);
    assert!(s.server.version.major >= 10, "{:?}", s.server);
    let (mode, global_mode, concat, tz, global_tz): (String, String, i64, String, String) = sqlx::query_as(
        "SELECT @@SESSION.sql_mode, @@GLOBAL.sql_mode, CAST('a' || 'b' AS SIGNED), @@SESSION.time_zone, @@GLOBAL.time_zone",
    )
    .fetch_one(s.conn())
    .await
    .unwrap();
    assert_eq!(mode, global_mode, "the session must run with the server's (the application's) sql_mode");
    assert!(mode.contains("STRICT_TRANS_TABLES") && !mode.contains("PIPES_AS_CONCAT"), "{mode}");
    assert_eq!(concat, 0, "`||` must be OR as in the application's sessions, not CONCAT");
    assert_eq!(tz, global_tz, "the session keeps the server's time zone");
    let (lock_wait, row_lock, statement): (i64, i64, f64) = sqlx::query_as(
        "SELECT CAST(@@SESSION.lock_wait_timeout AS SIGNED), CAST(@@SESSION.innodb_lock_wait_timeout AS SIGNED),
                CAST(@@SESSION.max_statement_time AS DOUBLE)",
    )
    .fetch_one(s.conn())
    .await
    .unwrap();
    assert_eq!((lock_wait, row_lock), (2, 3), "whole seconds, rounded down");
    assert!((statement - 1.5).abs() < 1e-6, "{statement}");
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(s.conn()).await.unwrap();
    assert_eq!(id, s.connection_id);
    s.close().await.unwrap();
    db.drop().await;
}

#[tokio::test]
async fn connection_failures_say_what_to_fix() {
    let db = TestDb::new().await;
    let missing = format!("{}_missing", db.url);
    let e = MySession::open(&missing, SessionLimits::default()).await.err().unwrap().to_string();
    assert!(e.contains("could not connect to 127.0.0.1:3306/") && e.contains("create database"), "{e}");
    let e = MySession::open("mysql://root@127.0.0.1:1/x", SessionLimits::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("could not connect to 127.0.0.1:1/x") && e.contains("running"), "{e}");
    // This server has TLS off (have_ssl=DISABLED): REQUIRED must fail, not fall back to plain text.
    let tls = format!("{}?ssl-mode=REQUIRED", db.url);
    let e = MySession::open(&tls, SessionLimits::default()).await.err().unwrap().to_string();
    assert!(e.to_lowercase().contains("tls"), "{e}");
    db.drop().await;
}

#[tokio::test]
async fn a_second_planner_is_refused_naming_the_first() {
    let db = TestDb::new().await;
    let other = TestDb::new().await;
    let cfg = planner::mysql::MyConnConfig::parse(&db.url).unwrap();
    let first = PlannerLock::acquire(&cfg).await.unwrap();
    assert_eq!(first.name(), format!("planner:{}", db.name));
    let err = PlannerLock::acquire(&cfg).await.err().expect("a second planner must be refused");
    let text = err.to_string();
    assert!(err.downcast_ref::<planner::error::Refusal>().is_some(), "{text}");
    assert!(text.contains(&format!("connection {}", first.connection_id)), "{text}");
    assert!(text.contains("user root") && text.contains(&format!("KILL {}", first.connection_id)), "{text}");
    // Lock names are server-wide: another database has its own planner.
    let elsewhere =
        PlannerLock::acquire(&planner::mysql::MyConnConfig::parse(&other.url).unwrap()).await.unwrap();
    elsewhere.release().await.unwrap();
    let mut first = first;
    assert!(first.still_held().await);
    first.release().await.unwrap();
    let again = PlannerLock::acquire(&cfg).await.expect("free again once released");
    // Dropping the holder's connection frees it too (a killed planner does not block forever).
    drop(again);
    let mut waited = 0;
    let third = loop {
        match PlannerLock::acquire(&cfg).await {
            Ok(l) => break l,
            Err(_) if waited < 100 => {
                waited += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the lock of a dropped connection stayed taken: {e}"),
        }
    };
    third.release().await.unwrap();
    other.drop().await;
    db.drop().await;
}

/// An idle transaction that read the table holds its metadata lock. planner's ALTER must give up
/// within its bound, name the blocker, and must not keep the application's queries queued
/// behind it for longer than one lock wait.
#[tokio::test]
async fn ddl_behind_an_idle_transaction_gives_up_and_the_app_keeps_running() {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB; INSERT INTO t VALUES (1, 10), (2, 20);")
        .await;
    let mut idle = db.conn().await;
    sqlx::raw_sql("START TRANSACTION").execute(&mut idle).await.unwrap();
    let _: i32 = sqlx::query_scalar("SELECT v FROM t WHERE id = 1").fetch_one(&mut idle).await.unwrap();
    let idle_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut idle).await.unwrap();

    let lock_timeout = Duration::from_secs(1);
    let retries = 3;
    let mut s = MySession::open(&db.url, limits(lock_timeout, retries)).await.unwrap();
    let planner_id = s.connection_id;
    let ddl_started = Instant::now();
    let ddl = tokio::spawn(async move {
        let r = s
            .run_ddl(&DdlStatement::new("ALTER TABLE t ADD COLUMN x INT NULL, ALGORITHM=INSTANT").on("t"))
            .await;
        (r, Instant::now())
    });
    // Wait until the ALTER queues for the metadata lock, so the app's queries arrive behind it.
    let waiting = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {planner_id} AND STATE LIKE 'Waiting for table metadata lock%'"
    );
    let t = Instant::now();
    while db.count(&waiting).await == 0 {
        assert!(t.elapsed() < Duration::from_secs(30), "the ALTER never waited for the metadata lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The application: a plain session with the server's default lock_wait_timeout (a day).
    let app_started = Instant::now();
    let app = async {
        let mut c = db.pool.acquire().await.unwrap();
        let v: i32 = sqlx::query_scalar("SELECT v FROM t WHERE id = 2").fetch_one(&mut *c).await.unwrap();
        sqlx::query("UPDATE t SET v = v + 1 WHERE id = 2").execute(&mut *c).await.unwrap();
        v
    };
    let v = tokio::time::timeout(Duration::from_secs(60), app)
        .await
        .expect("the app's SELECT/UPDATE stayed queued behind planner's ALTER");
    let app_elapsed = app_started.elapsed();
    let app_done = Instant::now();
    assert_eq!(v, 20);

    let (result, ddl_done) = tokio::time::timeout(Duration::from_secs(60), ddl)
        .await
        .expect("the ALTER waited without bound")
        .unwrap();
    let err = result.expect_err("the ALTER cannot get its lock while the transaction is open");
    eprintln!(
        "planner gave up after {:?} ({} attempts); the app's SELECT + UPDATE took {app_elapsed:?}\n{}",
        ddl_done - ddl_started,
        err.attempts,
        err.message
    );
    assert_eq!(err.kind, ErrorKind::LockWait, "{}", err.message);
    assert_eq!(err.attempts, retries + 1, "{}", err.message);
    assert_eq!(err.number, Some(1205));
    assert!(
        err.message.contains(&format!("thread {idle_id} ")),
        "the blocker must be named: {}",
        err.message
    );
    assert!(err.blockers.iter().any(|b| b.thread_id == idle_id as i64), "{:?}", err.blockers);
    assert!(err.message.contains(&format!("KILL {idle_id}")), "{}", err.message);
    // The app was not held for the planner's whole retry period: it finished while planner
    // was still retrying, and waited less than all attempts together.
    assert!(app_done < ddl_done, "the app finished only after planner gave up");
    assert!(app_elapsed < lock_timeout * (retries + 1), "the app waited {app_elapsed:?}");

    // Nothing of the ALTER was applied; the app's update was.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'")
            .await,
        2
    );
    assert_eq!(db.count("SELECT CAST(SUM(v) AS SIGNED) FROM t").await, 31);
    sqlx::raw_sql("COMMIT").execute(&mut idle).await.unwrap();
    drop(idle);
    db.drop().await;
}

#[tokio::test]
async fn errors_are_classified_for_callers_to_branch_on() {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, qty INT NULL) ENGINE=InnoDB; INSERT INTO t VALUES (1, 1);",
    )
    .await;
    let lim = SessionLimits {
        statement_timeout: Some(Duration::from_millis(500)),
        ..limits(Duration::from_secs(1), 5)
    };
    let mut s = MySession::open(&db.url, lim).await.unwrap();

    // INT -> BIGINT can only copy the table: refused at once, a planning error, never retried.
    let started = Instant::now();
    let err = s
        .run_ddl(&DdlStatement::new("ALTER TABLE t MODIFY qty BIGINT NULL, ALGORITHM=INSTANT").on("t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlgorithmRefused, "{}", err.message);
    assert_eq!(err.attempts, 1);
    assert!(matches!(err.number, Some(1845 | 1846)), "{:?}", err.number);
    assert!(err.message.contains("does not retry"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(5), "a refusal must not be retried with backoff");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_TYPE = 'int(11)'").await,
        1
    );

    // max_statement_time (MariaDB) bounds a statement; a scanning step runs without it.
    let err = s.run_ddl(&DdlStatement::new("SELECT SLEEP(3)")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.message);
    let ok = s.run_ddl(&DdlStatement::new("SELECT SLEEP(1)").scanning()).await.unwrap();
    assert_eq!(ok.attempts, 1);
    let limit: f64 = sqlx::query_scalar("SELECT CAST(@@SESSION.max_statement_time AS DOUBLE)")
        .fetch_one(s.conn())
        .await
        .unwrap();
    assert!((limit - 0.5).abs() < 1e-6, "the statement timeout is restored after a scanning step: {limit}");

    // Anything else: not retried, the server's message kept.
    let err =
        s.run_ddl(&DdlStatement::new("ALTER TABLE t DROP COLUMN nope, ALGORITHM=INSTANT")).await.unwrap_err();
    assert_eq!((err.kind, err.attempts), (ErrorKind::Other, 1));
    assert!(err.message.contains("nope"), "{}", err.message);

    // The session killed from outside: a lost connection (the step's effect is unknown).
    db.exec(&format!("KILL {}", s.connection_id)).await;
    let err = s
        .run_ddl(&DdlStatement::new("ALTER TABLE t ADD COLUMN z INT NULL, ALGORITHM=INSTANT"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConnectionLost, "{}", err.message);
    db.drop().await;
}

/// A phase of several statements that stopped half way is resumed statement by statement, and
/// undone by the inverses of the done steps, last first.
#[tokio::test]
async fn phase_steps_record_resume_and_undo() {
    let db = TestDb::new().await;
    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    state::ensure_schema(&mut s).await.unwrap();
    state::ensure_schema(&mut s).await.expect("migrating twice is a no-op");
    assert_eq!(
        db.count("SELECT MAX(version) FROM planner_schema_version").await,
        state::MIGRATIONS.len() as i64
    );

    let up = [
        "CREATE TABLE a (id INT PRIMARY KEY) ENGINE=InnoDB",
        "ALTER TABLE a ADD COLUMN b INT NULL, ALGORITHM=INSTANT",
        "ALTER TABLE a ADD INDEX a_b (b), ALGORITHM=NOCOPY, LOCK=NONE",
    ];
    let down = [
        "DROP TABLE a",
        "ALTER TABLE a DROP COLUMN b, ALGORITHM=INSTANT",
        "ALTER TABLE a DROP INDEX a_b, ALGORITHM=NOCOPY, LOCK=NONE",
    ];
    let steps: Vec<DdlStatement> = up.iter().map(|sql| DdlStatement::new(sql).on("a")).collect();

    // Step 1 runs; step 2 is sent, then the process dies before recording it.
    assert_eq!(
        state::run_steps(&mut s, "p", "expand", &steps[..1]).await.unwrap(),
        PhaseOutcome::Complete { ran: 1 }
    );
    state::begin_step(s.conn(), "p", "expand", 2, up[1]).await.unwrap();
    s.run_ddl(&steps[1]).await.unwrap();
    drop(s);

    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    let outcome = state::run_steps(&mut s, "p", "expand", &steps).await.unwrap();
    assert_eq!(outcome, PhaseOutcome::NeedsResolution(Resume::Interrupted { step: 2 }));
    assert_eq!(db.count("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = 'a_b'").await, 0, "nothing runs past an unresolved step");
    // Resolved by looking: is column b there?
    let present = db
        .count("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'a' AND COLUMN_NAME = 'b'")
        .await;
    assert_eq!(present, 1);
    state::finish_step(s.conn(), "p", "expand", 2, StepStatus::Done, None).await.unwrap();
    assert_eq!(
        state::run_steps(&mut s, "p", "expand", &steps).await.unwrap(),
        PhaseOutcome::Complete { ran: 1 }
    );
    assert_eq!(
        state::run_steps(&mut s, "p", "expand", &steps).await.unwrap(),
        PhaseOutcome::Complete { ran: 0 }
    );

    // A different statement under the same plan and step is refused, not mixed in.
    let mut changed = steps.clone();
    changed[1] = DdlStatement::new("ALTER TABLE a ADD COLUMN b BIGINT NULL, ALGORITHM=INSTANT");
    assert!(matches!(
        state::run_steps(&mut s, "p", "expand", &changed).await.unwrap(),
        PhaseOutcome::NeedsResolution(Resume::Changed { step: 2, .. })
    ));

    let records = state::step_records(s.conn(), "p", "expand").await.unwrap();
    assert!(records.iter().all(|r| r.status == StepStatus::Done && r.finished_at.is_some()), "{records:?}");
    assert_eq!(records[2].statement, up[2]);
    assert!(records[0].applied_by.contains(" as root@"), "{}", records[0].applied_by);

    // Undo: inverses of the done steps, last first, each recorded.
    let order = state::undo_order(&records);
    assert_eq!(order, vec![3, 2, 1]);
    for step in order {
        s.run_ddl(&DdlStatement::new(down[step as usize - 1]).on("a")).await.unwrap();
        state::finish_step(s.conn(), "p", "expand", step, StepStatus::RolledBack, None).await.unwrap();
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'a'").await, 0);
    let records = state::step_records(s.conn(), "p", "expand").await.unwrap();
    let planned: Vec<&str> = up.to_vec();
    assert_eq!(state::resume_point(&records, &planned), Resume::From(0));

    // A failing statement is recorded failed with its error; the run after it resumes there.
    let bad = [
        DdlStatement::new(up[0]),
        DdlStatement::new("ALTER TABLE a ADD INDEX a_nope (nope), ALGORITHM=NOCOPY, LOCK=NONE"),
    ];
    let err = state::run_steps(&mut s, "q", "expand", &bad).await.unwrap_err();
    assert!(format!("{err:#}").contains("nope"), "{err:#}");
    let records = state::step_records(s.conn(), "q", "expand").await.unwrap();
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![StepStatus::Done, StepStatus::Failed]
    );
    assert!(records[1].error.as_deref().unwrap_or_default().contains("nope"));
    let planned: Vec<&str> = bad.iter().map(|b| b.sql).collect();
    assert_eq!(state::resume_point(&records, &planned), Resume::From(1));

    // A state schema from a newer planner is not touched.
    db.exec("INSERT INTO planner_schema_version (version) VALUES (99)").await;
    let e = state::ensure_schema(&mut s).await.unwrap_err().to_string();
    assert!(e.contains("version 99, newer than this planner understands"), "{e}");

    // History: every transition, in order.
    let n = db.count("SELECT COUNT(*) FROM planner_history WHERE plan = 'p'").await;
    assert!(n >= 3 * 2 + 3, "{n}");
    s.close().await.unwrap();
    db.drop().await;
}
