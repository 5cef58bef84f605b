//! How reads borrow PostgreSQL connections: a connection whose work ended goes back and
//! serves the next read, with no round trip to test it; one whose work was dropped
//! half-way or whose session broke is closed, and the next read gets a new one.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use roster_store::db::query_scalar;
use roster_store::{Store, StoreError, StoreOptions};
use std::time::Duration;

/// The backend process id of the connection a read runs on.
async fn backend(store: &Store) -> i64 {
    store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT pg_backend_pid()").fetch_one(db).await }))
        .await
        .unwrap()
}

async fn one_reader() -> (Store, common::Database) {
    common::postgres_with(StoreOptions {
        max_connections: Some(1),
        ..StoreOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_ended_leaves_its_connection_to_the_next() {
    let (store, db) = one_reader().await;
    let first = backend(&store).await;
    for _ in 0..20 {
        assert_eq!(backend(&store).await, first, "the same session serves every read");
    }
    // A statement the server refuses ends the read too: the session goes on serving.
    let refused = store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 1 / 0").fetch_one(db).await }))
        .await;
    assert!(matches!(refused, Err(StoreError::Database(_))), "{refused:?}");
    assert_eq!(backend(&store).await, first);
    assert_eq!(store.pool_stats(), (1, 1), "one connection open, idle between reads");
    store.close().await;
    db.drop().await;
}

/// How many sessions PostgreSQL holds on the test's database, this one included.
async fn sessions(store: &Store) -> i64 {
    store
        .read(|db| {
            Box::pin(async move {
                query_scalar::<i64>("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()")
                    .fetch_one(db)
                    .await
            })
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_dropped_half_way_closes_its_connection_once_its_statement_ended() {
    let (store, db) = one_reader().await;
    let first = backend(&store).await;
    // The read's future is dropped while the server runs its statement.
    let cut = tokio::time::timeout(
        Duration::from_millis(200),
        store.read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 1 FROM pg_sleep(1)").fetch_one(db).await })),
    )
    .await;
    assert!(cut.is_err(), "the read was cut off");
    // The next read waits for the cut one's statement to end (the set never holds more
    // sessions than its size), then gets a new session and its own answer.
    let next = backend(&store).await;
    assert_ne!(next, first, "the session of the cut read is not lent again");
    // The cut session was told to end: the server lists it no more soon after.
    let mut alone = false;
    for _ in 0..200 {
        if sessions(&store).await == 1 {
            alone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(alone, "the cut session is closed");
    let answer = store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 42").fetch_one(db).await }))
        .await
        .unwrap();
    assert_eq!(answer, 42);
    assert_eq!(store.pool_stats(), (1, 1), "only the new connection is open");
    store.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_dropped_during_a_long_statement_gives_its_place_back_after_a_while() {
    let (store, db) = one_reader().await;
    let cut = tokio::time::timeout(
        Duration::from_millis(200),
        store.read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 1 FROM pg_sleep(30)").fetch_one(db).await })),
    )
    .await;
    assert!(cut.is_err());
    // Not after the statement's 30 s: after the wait for it, well within the 5 s a read
    // waits for a connection.
    let started = std::time::Instant::now();
    let answer = store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 42").fetch_one(db).await }))
        .await
        .unwrap();
    assert_eq!(answer, 42);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    store.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_on_a_broken_session_answers_unavailable_and_the_next_gets_a_new_one() {
    let (store, db) = one_reader().await;
    let first = backend(&store).await;
    // Another session ends this one, as an administrator or a restart would.
    let mut admin = common::connect(&db).await;
    sqlx::query("SELECT pg_terminate_backend($1::int)")
        .bind(first)
        .execute(&mut admin)
        .await
        .unwrap();
    // Termination is asynchronous: the session is gone once the server lists it no more.
    for _ in 0..200 {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1::int")
            .bind(first)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let failed = store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 1").fetch_one(db).await }))
        .await;
    assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
    let next = backend(&store).await;
    assert_ne!(next, first);
    assert_eq!(store.pool_stats(), (1, 1));
    drop(admin);
    store.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_wait_for_a_connection_and_none_are_lent_once_closed() {
    let (store, db) = common::postgres_with(StoreOptions {
        max_connections: Some(2),
        ..StoreOptions::default()
    })
    .await;
    // Eight reads at once on two connections: each waits its turn, none fails, and
    // each sees at most two sessions on the database.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .read(|db| {
                        Box::pin(async move {
                            query_scalar::<i64>(
                                "SELECT COUNT(*) FROM pg_stat_activity, pg_sleep(0.05) \
                                 WHERE datname = current_database()",
                            )
                            .fetch_one(db)
                            .await
                        })
                    })
                    .await
            })
        })
        .collect();
    let mut most = 0;
    for r in reads {
        most = most.max(r.await.unwrap().unwrap());
    }
    assert!((1..=2).contains(&most), "{most} sessions at once");
    assert_eq!(store.pool_stats(), (2, 2));
    store.close().await;
    assert_eq!(store.pool_stats(), (0, 0), "closing closes the idle ones");
    let after = store
        .read(|db| Box::pin(async move { query_scalar::<i64>("SELECT 1").fetch_one(db).await }))
        .await;
    assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    db.drop().await;
}
