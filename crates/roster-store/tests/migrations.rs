//! SQLite migrations that rebuild tables keep every row and every reference: a database
//! filled under the earlier schema is migrated by the store, then read back.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_store::{Store, StoreOptions};
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};

/// The first migration that rebuilds tables others reference.
const CLUSTERED: &str = "20261129000002";

const REBUILT: [&str; 4] = ["users", "scim_groups", "memberships", "team_members"];

/// Tables whose rows must come through unchanged: the rebuilt ones and those that
/// reference them.
const KEPT: [&str; 8] = [
    "users",
    "scim_groups",
    "memberships",
    "team_members",
    "sessions",
    "scim_users",
    "scim_group_members",
    "audit_events",
];

const FILL: &str = "
INSERT INTO companies VALUES ('c1', 'Acme', 'acme', 1);
INSERT INTO organizations VALUES ('o1', 'c1', 'acme', 'acme', NULL, 1, 1);
INSERT INTO teams VALUES ('t1', 'o1', 'Everyone', 'everyone', 1), ('t2', 'o1', 'Ops', 'ops', 1);
INSERT INTO users VALUES
    ('u1', 'Ann@acme.test', 'ann@acme.test', 'ann', 'Ann A', 'Ann', 'A', 1, 2),
    ('u2', 'bob@acme.test', 'bob@acme.test', 'bob', 'Bob', NULL, NULL, 3, 4);
INSERT INTO memberships VALUES
    ('o1', 'u1', 'owner', 'active', 'admin', 1, 1),
    ('o1', 'u2', 'member', 'deactivated', 'scim', 2, 5);
INSERT INTO team_members VALUES ('t1', 'u1', 'jit', 1), ('t1', 'u2', 'scim', 2), ('t2', 'u2', 'scim', 3);
INSERT INTO sessions (id, token_hash, user_id, company_id, created_at, expires_at, last_seen_at)
    VALUES ('s1', 'h1', 'u1', 'c1', 1, 100, 1), ('s2', 'h2', 'u2', 'c1', 1, 100, 1);
INSERT INTO connections VALUES ('k1', 'c1', 'idp', 'idp', 'saml', 1, 1, 0, 'o1', 'everyone', NULL, '{}', 1, 1);
INSERT INTO scim_users VALUES
    ('su1', 'k1', 'u1', 'Ann@acme.test', 'ann@acme.test', 'x1', 'ann@acme.test', 1, '{\"userName\":\"Ann@acme.test\"}', 2, 1, 2),
    ('su2', 'k1', 'u2', 'bob@acme.test', 'bob@acme.test', NULL, 'bob@acme.test', 0, '{\"userName\":\"bob@acme.test\"}', 1, 3, 3);
INSERT INTO scim_groups VALUES
    ('g1', 'k1', 'acme:ops', 'acme:ops', 'gx', 't2', '{\"displayName\":\"acme:ops\"}', 3, 1, 2),
    ('g2', 'k1', 'Other', 'other', NULL, NULL, '{}', 1, 1, 1);
INSERT INTO scim_group_members VALUES ('g1', 'su2'), ('g2', 'su1'), ('g2', 'su2');
INSERT INTO audit_events (id, at, actor_kind, action, object_kind, object_id, company_id, organization_id, user_id, trace_id)
    VALUES ('e1', 1, 'system', 'user.create', 'user', 'u1', NULL, NULL, 'u1', 'tr1'),
           ('e2', 2, 'system', 'membership.add', 'membership', 'u1', 'c1', 'o1', 'u1', 'tr1');
";

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roster-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The migrations before `CLUSTERED`, as a migration folder of their own.
fn earlier_migrations() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let dir = temp_dir("earlier-migrations");
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < CLUSTERED {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    dir
}

/// The columns of `table`, in order.
async fn columns(conn: &mut SqliteConnection, table: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// Every row of `table` as JSON text of `columns` (those it had before the migrations:
/// later ones may add some), in key order.
async fn rows(conn: &mut SqliteConnection, table: &str, columns: &[String]) -> Vec<String> {
    let list = columns.join(", ");
    sqlx::query_scalar(&format!("SELECT json_array({list}) FROM {table} ORDER BY {list}"))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

async fn table_sql(conn: &mut SqliteConnection, table: &str) -> String {
    sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn clustering_tables_keeps_rows_and_references() {
    let dir = temp_dir("migrations");
    let file = dir.join("r.db");
    let url = format!("sqlite://{}", file.display());

    // The earlier schema, filled with foreign keys enforced.
    let mut conn = SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
    sqlx::migrate::Migrator::new(earlier_migrations())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(FILL).execute(&mut conn).await.unwrap();
    let mut before = Vec::new();
    for table in KEPT {
        let cols = columns(&mut conn, table).await;
        before.push((rows(&mut conn, table, &cols).await, cols));
    }
    assert!(before.iter().all(|(r, _)| !r.is_empty()));
    conn.close().await.unwrap();

    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    for (table, (rows_before, cols)) in KEPT.iter().zip(&before) {
        assert_eq!(&rows(&mut conn, table, cols).await, rows_before, "rows of {table}");
    }
    for table in REBUILT {
        assert!(
            table_sql(&mut conn, table).await.ends_with("WITHOUT ROWID"),
            "{table} is clustered on its key"
        );
    }
    // Audit events keep their sequence numbers without AUTOINCREMENT's bookkeeping, and
    // the next event follows the last.
    assert!(!table_sql(&mut conn, "audit_events").await.contains("AUTOINCREMENT"));
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_kind, action, object_kind, object_id, trace_id) \
         VALUES ('e3', 3, 'system', 'user.update', 'user', 'u1', 'tr2')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let seqs: Vec<(i64, String)> = sqlx::query_as("SELECT seq, id FROM audit_events ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        seqs,
        [(1, "e1".to_string()), (2, "e2".to_string()), (3, "e3".to_string())]
    );
    // The references of other tables resolve to the rebuilt tables, and act.
    let parents: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list('sessions') \
         UNION SELECT DISTINCT \"table\" FROM pragma_foreign_key_list('scim_group_members') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        parents,
        ["companies", "connections", "scim_groups", "scim_users", "users"]
    );
    let broken: Vec<String> = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut conn)
        .await
        .unwrap();
    let orphan = sqlx::query("INSERT INTO memberships VALUES ('o1', 'nobody', 'member', 'active', 'scim', 1, 1)")
        .execute(&mut conn)
        .await;
    assert!(orphan.is_err(), "a membership of a missing account is refused");
    sqlx::query("DELETE FROM users WHERE id = 'u2'")
        .execute(&mut conn)
        .await
        .unwrap();
    for (sql, expected) in [
        ("SELECT COUNT(*) FROM memberships WHERE user_id = 'u2'", 0),
        ("SELECT COUNT(*) FROM team_members WHERE user_id = 'u2'", 0),
        ("SELECT COUNT(*) FROM sessions WHERE user_id = 'u2'", 0),
        (
            "SELECT COUNT(*) FROM scim_users WHERE id = 'su2' AND user_id IS NULL",
            1,
        ),
        ("SELECT COUNT(*) FROM team_members WHERE user_id = 'u1'", 1),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        assert_eq!(n, expected, "{sql}");
    }
    sqlx::query("DELETE FROM scim_groups WHERE id = 'g2'")
        .execute(&mut conn)
        .await
        .unwrap();
    let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scim_group_members")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, 1, "deleting a Group deletes its members");
    conn.close().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
