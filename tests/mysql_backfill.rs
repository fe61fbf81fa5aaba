//! The MySQL/MariaDB keyset backfill step against the real server: killed mid-way, resumed from
//! its checkpoint, every row right, a rerun a no-op.

mod mysql_support;

use std::time::{Duration, Instant};

use mysql_support::TestDb;
use planner::backfill::ThrottleSettings;
use planner::mysql::backfill::{self, KeysetBackfill};
use planner::mysql::{state, MySession, SessionLimits};

const ROWS: i64 = 50_000;
const WRONG: &str = "SELECT COUNT(*) FROM bf WHERE NOT (c <=> v * 2)";

fn job<'a>(plan: &'a str, pause: Duration) -> KeysetBackfill<'a> {
    KeysetBackfill {
        throttle: ThrottleSettings { batch: 500, sleep: pause, ..ThrottleSettings::default() },
        ..KeysetBackfill::one(plan, "bf", "id", "c", "`v` * 2")
    }
}

#[tokio::test]
async fn backfill_killed_mid_way_resumes_from_its_checkpoint() {
    let db = TestDb::new().await;
    // 50k rows with gaps in the ids; some rows already right, some wrong, some whose value is
    // NULL (v NULL: `c <=> v * 2` must treat NULL = NULL as done, or they are rewritten forever).
    db.exec(&format!(
        "CREATE TABLE bf (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NULL, c BIGINT NULL) ENGINE=InnoDB;
         INSERT INTO bf (id, v) SELECT seq * 3, IF(seq % 97 = 0, NULL, seq) FROM seq_1_to_{ROWS};
         UPDATE bf SET c = v * 2 WHERE id % 10 = 0;
         UPDATE bf SET c = -1 WHERE id % 7 = 0;"
    ))
    .await;
    assert_eq!(db.count("SELECT COUNT(*) FROM bf").await, ROWS);
    let wrong_at_start = db.count(WRONG).await;
    assert!(wrong_at_start > 40_000, "{wrong_at_start}");

    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    state::ensure_schema(&mut s).await.unwrap();
    // A pause between batches keeps the run long enough to be killed in the middle.
    let runner = tokio::spawn(async move {
        let mut s = s;
        backfill::run(&mut s, &job("p", Duration::from_millis(20))).await
    });
    let started = Instant::now();
    while db.count("SELECT COALESCE(MAX(batches), 0) FROM planner_backfill_progress").await < 5 {
        assert!(started.elapsed() < Duration::from_secs(60), "the backfill never got going");
        assert!(!runner.is_finished(), "the backfill ended early: {:?}", runner.await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Kill it: the task (and its connection, mid-batch or between batches) is dropped.
    runner.abort();
    assert!(runner.await.unwrap_err().is_cancelled());
    // Wait until the server has ended the killed connection (its runner lock goes with it).
    let lock = backfill::runner_lock_name(&db.name, "p", "bf");
    let started = Instant::now();
    while db.count(&format!("SELECT CAST(IS_FREE_LOCK('{lock}') AS SIGNED)")).await != 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "the killed runner's connection stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    let at_kill = backfill::progress(s.conn(), "p", "bf").await.unwrap().expect("a checkpoint");
    assert!(!at_kill.finished, "killed before the end: {at_kill:?}");
    let last: i64 = at_kill.last_key.as_deref().expect("batches ran").parse().unwrap();
    // The checkpoint and the batches commit together: everything up to it is right, nothing after
    // it was touched, and its counters are exactly the rows it covers.
    assert_eq!(db.count(&format!("{WRONG} AND id <= {last}")).await, 0);
    assert_eq!(db.count(&format!("SELECT COUNT(*) FROM bf WHERE id <= {last}")).await, at_kill.rows_visited);
    assert_eq!(wrong_at_start - db.count(WRONG).await, at_kill.rows_changed);
    assert!(db.count(&format!("{WRONG} AND id > {last}")).await > 0, "killed in the middle");

    let resumed = backfill::run(&mut s, &job("p", Duration::ZERO)).await.unwrap();
    assert_eq!(resumed.resumed_from.as_deref(), Some(last.to_string().as_str()));
    assert!(!resumed.already_finished && resumed.batches > 0);
    assert_eq!(db.count(WRONG).await, 0, "every row right");
    let done = backfill::progress(s.conn(), "p", "bf").await.unwrap().unwrap();
    assert!(done.finished);
    assert_eq!(done.rows_changed, wrong_at_start, "each wrong row changed exactly once over both runs");
    assert_eq!(done.rows_visited, ROWS);
    assert_eq!(done.batches, ROWS / 500);

    // Rerun: a no-op on the checkpoint...
    let again = backfill::run(&mut s, &job("p", Duration::ZERO)).await.unwrap();
    assert!(again.already_finished && again.batches == 0 && again.rows_changed == 0, "{again:?}");
    // ... and on the data, even from a fresh checkpoint.
    let fresh = backfill::run(&mut s, &job("p2", Duration::ZERO)).await.unwrap();
    assert_eq!((fresh.rows_changed, fresh.batches), (0, ROWS as u64 / 500), "{fresh:?}");
    s.close().await.unwrap();
    db.drop().await;
}

#[tokio::test]
async fn backfill_refuses_a_key_it_cannot_walk() {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TABLE nk (a INT NOT NULL, b INT NOT NULL, c INT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB;",
    )
    .await;
    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    state::ensure_schema(&mut s).await.unwrap();
    let j = KeysetBackfill {
        throttle: ThrottleSettings { batch: 10, ..ThrottleSettings::default() },
        ..KeysetBackfill::one("p", "nk", "a", "c", "1")
    };
    let e = backfill::run(&mut s, &j).await.unwrap_err().to_string();
    assert!(e.contains("nk.a is not a one-column unique key"), "{e}");
    s.close().await.unwrap();
    db.drop().await;
}
