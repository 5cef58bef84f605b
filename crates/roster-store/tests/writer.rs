//! The write path and the statement layer on both engines: a failing write in a group commit is rolled back
//! alone (its savepoint), the others commit with their audit events.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use roster_core::Name;
use roster_store::directory::organizations::{self, Organization};
use roster_store::directory::teams;
use roster_store::{CheckpointPolicy, Ctx, Store, StoreError, StoreOptions};

fn ctx(trace: &str) -> Ctx {
    Ctx::new("system", None, trace, 1_000)
}

async fn sqlite() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("roster-writer-{}", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(&format!("sqlite://{}/r.db", dir.display()), StoreOptions::default())
        .await
        .unwrap();
    (store, dir)
}

/// Runs `test` on a store over a new PostgreSQL database, then drops the database.
async fn on_postgres<F: std::future::Future<Output = ()>>(test: impl FnOnce(Store) -> F) {
    let (store, db) = common::postgres().await;
    test(store).await;
    db.drop().await;
}

/// Migrates the store and creates the organization `acme`.
async fn migrated_with_acme(store: &Store) -> Organization {
    store.migrate().await.unwrap();
    let c = ctx("setup");
    store
        .write(move |db| {
            Box::pin(async move {
                organizations::create(db, &c, &Name::parse_organization("acme").unwrap(), None, None).await
            })
        })
        .await
        .unwrap()
}

/// The integer `sql` answers, on a reader's connection or on the writer's.
async fn number(store: &Store, sql: &'static str, on_writer: bool) -> i64 {
    use roster_store::db::query_scalar;
    let answer = if on_writer {
        store
            .write(move |db| Box::pin(async move { query_scalar::<i64>(sql).fetch_one(db).await }))
            .await
    } else {
        store
            .read(move |db| Box::pin(async move { query_scalar::<i64>(sql).fetch_one(db).await }))
            .await
    };
    answer.unwrap()
}

/// How the writes of a test are queued.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `Store::write`: each runs once, in a savepoint of its own.
    Once,
    /// `Store::write_repeatable`: batches run without savepoints, again with them
    /// when one write fails.
    Repeatable,
    /// Both kinds in the same batches.
    Mixed,
}

/// The work of one team-creating write, failing after it wrote when `fail`.
fn team_work(
    db: &mut roster_store::db::Conn,
    org: Organization,
    i: usize,
    fail: bool,
) -> futures::future::BoxFuture<'_, Result<usize, StoreError>> {
    Box::pin(async move {
        let c = ctx(&format!("w{i}"));
        teams::create(db, &c, &org, &Name::parse_team(&format!("t{i}")).unwrap()).await?;
        if fail {
            return Err(StoreError::conflict("test", "fails after writing"));
        }
        Ok(i)
    })
}

async fn team_write(
    store: &Store,
    org: Organization,
    i: usize,
    fail: bool,
    repeatable: bool,
) -> Result<usize, StoreError> {
    if repeatable {
        store
            .write_repeatable(move |db| team_work(db, org.clone(), i, fail))
            .await
    } else {
        store.write(move |db| team_work(db, org, i, fail)).await
    }
}

/// 200 concurrent writes that succeed, then 200 more, every fourth of which fails after
/// writing: exactly the others are committed, each with its audit event, none of the
/// failed ones' rows or events. The same with each way of queueing them.
async fn failing_writes_roll_back_alone(store: Store, mode: Mode) {
    let org = migrated_with_acme(&store).await;
    let mut first_half = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (store, org) = (store.clone(), org.clone());
        let repeatable = mode == Mode::Repeatable || (mode == Mode::Mixed && i % 3 != 0);
        tasks.push(tokio::spawn(async move {
            team_write(&store, org, i, i >= 200 && i % 4 == 0, repeatable).await
        }));
        if i == 199 {
            // The second half after the first has been answered.
            for (j, t) in std::mem::take(&mut tasks).into_iter().enumerate() {
                first_half.push((j, t.await.unwrap()));
            }
        }
    }
    let mut ok = 0;
    let mut answers = first_half;
    for (j, t) in tasks.into_iter().enumerate() {
        answers.push((200 + j, t.await.unwrap()));
    }
    for (i, answer) in answers {
        match answer {
            Ok(v) => {
                assert_eq!(v, i);
                ok += 1;
            }
            Err(StoreError::Conflict { code: "test", .. }) => assert!(i >= 200 && i % 4 == 0, "write {i} failed"),
            Err(e) => panic!("write {i}: {e}"),
        }
    }
    assert_eq!(ok, 350);
    let o = org.clone();
    let names: Vec<String> = store
        .read(move |db| Box::pin(async move { teams::list(db, &o).await }))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names.len(), 350);
    assert!(names.iter().all(|n| {
        let i = n[1..].parse::<usize>().unwrap();
        i < 200 || i % 4 != 0
    }));
    let events = number(
        &store,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'team.create'",
        false,
    )
    .await;
    assert_eq!(events, 350, "a rolled-back write leaves no audit event");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failing_writes_roll_back_alone() {
    for mode in [Mode::Once, Mode::Repeatable, Mode::Mixed] {
        let (store, dir) = sqlite().await;
        failing_writes_roll_back_alone(store, mode).await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failing_writes_roll_back_alone() {
    for mode in [Mode::Once, Mode::Repeatable, Mode::Mixed] {
        on_postgres(|store| failing_writes_roll_back_alone(store, mode)).await;
    }
}

/// The same with PostgreSQL's writes group-committed as on SQLite (batches of up to 64
/// writes, one lane and two): savepoints and reruns give each write its own answer there
/// too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batched_failing_writes_roll_back_alone() {
    for (lanes, mode) in [(1, Mode::Once), (1, Mode::Repeatable), (2, Mode::Mixed)] {
        let options = StoreOptions {
            pg_batch: 64,
            pg_write_lanes: Some(lanes),
            ..StoreOptions::default()
        };
        let (store, db) = common::postgres_with(options).await;
        failing_writes_roll_back_alone(store, mode).await;
        db.drop().await;
    }
}

/// A write that panics after writing fails alone, its rows rolled back, and the writer
/// goes on (on PostgreSQL, on the same connection: a panic must not leave it inside a
/// transaction that the next write would commit).
async fn a_panicking_write_fails_alone(store: Store) {
    let org = migrated_with_acme(&store).await;
    for round in 0..3 {
        let o = org.clone();
        let panicked: Result<(), StoreError> = store
            .write(move |db| {
                Box::pin(async move {
                    team_work(db, o, 100 + round, false).await?;
                    panic!("a bug in a write");
                })
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Misuse(_))), "{panicked:?}");
        assert_eq!(
            team_write(&store, org.clone(), round, false, false).await.unwrap(),
            round
        );
    }
    let teams = number(&store, "SELECT COUNT(*) FROM teams", false).await;
    assert_eq!(teams, 3, "only the writes that did not panic");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_panicking_write_fails_alone() {
    let (store, dir) = sqlite().await;
    a_panicking_write_fails_alone(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_panicking_write_fails_alone() {
    let options = StoreOptions {
        pg_write_lanes: Some(1),
        ..StoreOptions::default()
    };
    let (store, db) = common::postgres_with(options).await;
    a_panicking_write_fails_alone(store).await;
    db.drop().await;
}

/// The events of one write are inserted together at its end, in the order they were
/// recorded, every column as given (NULLs, quotes, unicode, JSON before/after); an
/// event recorded on a connection outside a write is inserted at once.
async fn audit_events_of_a_write_keep_order_and_content(store: Store) {
    use roster_store::audit::{self, NewEvent};
    store.migrate().await.unwrap();
    let mut c = ctx("trace-\"q\"-é");
    c.actor_id = Some("admin:1".into());
    let written = store
        .write(move |db| {
            Box::pin(async move {
                for i in 0..40 {
                    let object_id = format!("obj-{i}");
                    audit::record(
                        db,
                        &c.because("S6", format!("reason {i} \u{1F600} 'quoted' \"too\"")),
                        NewEvent {
                            action: "test.event",
                            object_kind: "thing",
                            object_id: &object_id,
                            company_id: (i % 2 == 0).then_some("co"),
                            organization_id: None,
                            connection_id: Some("conn"),
                            user_id: (i % 3 == 0).then_some("u"),
                            before: (i % 5 == 0).then(|| serde_json::json!({ "n": i, "s": "a\nb" })),
                            after: Some(serde_json::json!([i, null, "x"])),
                            rule: None,
                            reason: None,
                        },
                    )
                    .await?;
                }
                // Nothing is in the table before the write's work ends.
                roster_store::db::query_scalar::<i64>("SELECT COUNT(*) FROM audit_events")
                    .fetch_one(&mut *db)
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(written, 0);
    let events = store
        .read(|db| {
            Box::pin(async move {
                audit::list(
                    db,
                    &audit::Query {
                        connection_id: Some("conn".into()),
                        limit: 100,
                        ..Default::default()
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 40);
    for (i, e) in events.iter().rev().enumerate() {
        assert_eq!(e.object_id, format!("obj-{i}"), "oldest first after reversing");
        assert_eq!(e.at, 1_000);
        assert_eq!(
            (e.actor_kind.as_str(), e.actor_id.as_deref()),
            ("system", Some("admin:1"))
        );
        assert_eq!(e.trace_id, "trace-\"q\"-é");
        assert_eq!(e.company_id.as_deref(), (i % 2 == 0).then_some("co"));
        assert_eq!(e.organization_id, None);
        assert_eq!(e.user_id.as_deref(), (i % 3 == 0).then_some("u"));
        assert_eq!(
            e.before,
            (i % 5 == 0).then(|| serde_json::json!({ "n": i, "s": "a\nb" }))
        );
        assert_eq!(e.after, Some(serde_json::json!([i, null, "x"])));
        assert_eq!(e.rule.as_deref(), Some("S6"));
        let reason = format!("reason {i} \u{1F600} 'quoted' \"too\"");
        assert_eq!(e.reason.as_deref(), Some(reason.as_str()));
    }
    assert!(events.windows(2).all(|w| w[0].seq > w[1].seq));
    // Outside a write: at once.
    let n = store
        .read(|conn| {
            Box::pin(async move {
                audit::record(
                    conn,
                    &ctx("bare"),
                    NewEvent {
                        action: "test.bare",
                        object_kind: "thing",
                        object_id: "x",
                        ..Default::default()
                    },
                )
                .await?;
                roster_store::db::query_scalar::<i64>("SELECT COUNT(*) FROM audit_events WHERE action = 'test.bare'")
                    .fetch_one(conn)
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_events_of_a_write_keep_order_and_content() {
    let (store, dir) = sqlite().await;
    audit_events_of_a_write_keep_order_and_content(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_events_of_a_write_keep_order_and_content() {
    on_postgres(audit_events_of_a_write_keep_order_and_content).await;
}

#[tokio::test]
async fn refuses_unknown_and_memory_urls() {
    for url in [
        "mysql://localhost/x",
        "sqlite::memory:",
        "sqlite://",
        "sqlite:///tmp/roster-refused.db?cache=shared",
    ] {
        assert!(
            matches!(
                Store::connect(url, StoreOptions::default()).await,
                Err(StoreError::Config(_))
            ),
            "{url}"
        );
    }
}

/// Durability settings: WAL, `synchronous=FULL` (2) and foreign keys on every SQLite
/// connection, the writer's included.
#[tokio::test]
async fn sqlite_connections_are_durable_and_checked() {
    let (store, dir) = sqlite().await;
    store.migrate().await.unwrap();
    let q = |sql: &'static str| {
        let store = store.clone();
        async move {
            let read: String = store
                .read(move |db| {
                    Box::pin(async move { roster_store::db::query_scalar::<String>(sql).fetch_one(db).await })
                })
                .await
                .unwrap();
            let write: String = store
                .write(move |db| {
                    Box::pin(async move { roster_store::db::query_scalar::<String>(sql).fetch_one(db).await })
                })
                .await
                .unwrap();
            (read, write)
        }
    };
    // Cast to text: the generic driver decodes every PRAGMA answer the same way.
    assert_eq!(
        q("SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous").await,
        ("2".into(), "2".into())
    );
    assert_eq!(
        q("SELECT CAST(foreign_keys AS TEXT) FROM pragma_foreign_keys").await,
        ("1".into(), "1".into())
    );
    assert_eq!(
        q("SELECT journal_mode FROM pragma_journal_mode").await,
        ("wal".into(), "wal".into())
    );
    // Readers keep the upper levels of the indexes; the writer a small cache that its
    // commits do not have to walk.
    assert_eq!(
        q("SELECT CAST(cache_size AS TEXT) FROM pragma_cache_size").await,
        ("-32768".into(), "-2000".into())
    );
    // The writer's savepoint journals stay in memory.
    assert_eq!(
        q("SELECT CAST(temp_store AS TEXT) FROM pragma_temp_store").await,
        ("0".into(), "2".into())
    );
    // The writer checkpoints on its own only as a backstop (the checkpoint thread does).
    assert_eq!(number(&store, "PRAGMA wal_autocheckpoint", true).await, 65_536);
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Under a steady stream of commits the log is copied back by the checkpoint thread and
/// started over by the writer at its restart length, again and again: it never nears
/// the length at which SQLite's own checkpoint, the backstop, would step in (four times
/// as long).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_starts_over_under_steady_writes() {
    let dir = std::env::temp_dir().join(format!("roster-writer-{}", uuid::Uuid::new_v4().simple()));
    let policy = CheckpointPolicy {
        interval: std::time::Duration::from_millis(1),
        restart_frames: 200,
    };
    let options = StoreOptions {
        sqlite_checkpoint: policy,
        ..StoreOptions::default()
    };
    let store = Store::connect(&format!("sqlite://{}/r.db", dir.display()), options)
        .await
        .unwrap();
    let org = migrated_with_acme(&store).await;
    // A 4 KiB page and its 24-byte header per frame, after the log's 32-byte header;
    // the header counts the times the log was started over (big-endian, bytes 12..16).
    let wal = dir.join("r.db-wal");
    let frames = |bytes: u64| bytes.saturating_sub(32) / (4096 + 24);
    let restarts = || {
        use std::io::Read;
        let mut header = [0u8; 16];
        std::fs::File::open(&wal).unwrap().read_exact(&mut header).unwrap();
        u32::from_be_bytes([header[12], header[13], header[14], header[15]])
    };
    let first = restarts();
    let mut longest = 0;
    for i in 0..600 {
        team_write(&store, org.clone(), i, false, true).await.unwrap();
        // Measured from the first restart on: the migrations' pages came before.
        if restarts() > first {
            longest = longest.max(frames(std::fs::metadata(&wal).unwrap().len()));
        }
    }
    let restarted = restarts() - first;
    assert!(restarted >= 3, "the log was started over {restarted} times");
    assert!(longest < 400, "the log reached {longest} frames");
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

// --- the statement layer ------------------------------------------------------------

/// One SQL text, the same answers on both engines: `$n` bound by number (used out of
/// order and twice), a NULL that keeps its type, booleans, a unique violation reported as
/// a conflict, and errors (not panics) for a missing parameter, a value of the wrong
/// type (naming its column) and a missing row.
async fn statements_mean_the_same_on_both_engines(store: Store) {
    use roster_store::db::{query, query_as, query_scalar};
    store
        .read(|db| {
            Box::pin(async move {
                let s: String = query_scalar("SELECT $2 || '-' || $1 || '-' || $2")
                    .bind("a")
                    .bind("b")
                    .fetch_one(db)
                    .await?;
                assert_eq!(s, "b-a-b");
                let n: i64 = query_scalar("SELECT COALESCE($1, 7)")
                    .bind(None::<i64>)
                    .fetch_one(db)
                    .await?;
                assert_eq!(n, 7);
                let (yes, no): (bool, bool) = query_as("SELECT $1, $2").bind(true).bind(false).fetch_one(db).await?;
                assert!(yes && !no);
                let none: Option<String> = query_scalar("SELECT $1").bind(None::<&str>).fetch_one(db).await?;
                assert_eq!(none, None);

                db.execute_batch("CREATE TEMP TABLE db_t (k TEXT PRIMARY KEY)").await?;
                let done = query("INSERT INTO db_t (k) VALUES ($1)").bind("x").execute(db).await?;
                assert_eq!(done.rows_affected(), 1);
                let again = query("INSERT INTO db_t (k) VALUES ($1)").bind("x").execute(db).await;
                assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");

                let missing = query("SELECT $1, $2").bind(1i64).fetch_all(db).await;
                assert!(matches!(missing, Err(StoreError::Database(_))), "{missing:?}");
                let wrong = query("SELECT 'text' AS word")
                    .fetch_one(db)
                    .await?
                    .try_get::<i64, _>("word");
                let message = wrong.expect_err("text is not an integer").to_string();
                assert!(message.contains("word"), "{message}");
                let nothing = query("SELECT 1 FROM db_t WHERE k = $1")
                    .bind("y")
                    .fetch_optional(db)
                    .await?;
                assert!(nothing.is_none());
                let absent = query("SELECT 1 FROM db_t WHERE k = $1").bind("y").fetch_one(db).await;
                assert!(absent.is_err());
                Ok(())
            })
        })
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn sqlite_statements_mean_the_same_on_both_engines() {
    let (store, dir) = sqlite().await;
    statements_mean_the_same_on_both_engines(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_statements_mean_the_same_on_both_engines() {
    on_postgres(statements_mean_the_same_on_both_engines).await;
}

/// Which thread a read ran on, and how many organizations it saw.
fn count_orgs(
    db: &mut roster_store::db::Conn,
) -> futures::future::BoxFuture<'_, Result<(std::thread::ThreadId, i64), StoreError>> {
    Box::pin(async move {
        let n: i64 = roster_store::db::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(db)
            .await?;
        Ok((std::thread::current().id(), n))
    })
}

/// A long read runs off the thread that asks for it, on connections of its own; a short
/// read runs on the asking thread. Both see the committed writes.
#[tokio::test(flavor = "current_thread")]
async fn long_reads_run_off_the_request_thread() {
    let (store, dir) = sqlite().await;
    let here = std::thread::current().id();
    migrated_with_acme(&store).await;
    let (thread, n) = store.read_long(count_orgs).await.unwrap();
    assert_ne!(thread, here, "a long read runs on a blocking thread");
    assert_eq!(n, 1);
    let (thread, n) = store.read(count_orgs).await.unwrap();
    assert_eq!(thread, here, "a short read runs where it is asked for");
    assert_eq!(n, 1);
    let (thread, _) = store.read_long_if(false, count_orgs).await.unwrap();
    assert_eq!(thread, here);
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
