//! SCIM filters on the attributes IdPs look resources up by are answered through an
//! index (spec §5: filters become SQL over indexed columns). On SQLite each case's query
//! plan must search the connection's resources by the filtered column, never scan them.
//! PostgreSQL plans by statistics, which an empty test table does not have: there each
//! filtered column must lead an index after the connection (or be the key).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use roster_store::db;
use roster_store::scim::filter_sql::{self, Resource};
use roster_store::{Backend, Store, StoreOptions};

/// (resource, filter, what the plan must search by).
const CASES: &[(Resource, &str, &str)] = &[
    (Resource::Users, r#"userName eq "Ann@Example.test""#, "user_name_key=?"),
    (Resource::Users, r#"externalId eq "00u1""#, "external_id=?"),
    (Resource::Users, r#"emails.value eq "ann@example.test""#, "email_key=?"),
    (Resource::Users, r#"emails[value eq "ann@example.test"]"#, "email_key=?"),
    // Entra ID's match by work email.
    (
        Resource::Users,
        r#"emails[type eq "work"].value eq "ann@example.test""#,
        "email_key=?",
    ),
    (Resource::Users, r#"id eq "0190-a""#, "id=?"),
    (Resource::Groups, r#"displayName eq "acme:ops""#, "display_name_key=?"),
    (Resource::Groups, r#"externalId eq "g1""#, "external_id=?"),
    (Resource::Groups, r#"id eq "0190-b""#, "id=?"),
];

/// The first text column of each row `sql` returns (SQLite's plan: `detail`; its program:
/// `opcode`).
async fn plan(store: &Store, sql: String, binds: usize) -> Vec<String> {
    store
        .read(move |conn| {
            Box::pin(async move {
                let mut q = db::query(&sql);
                for i in 0..binds {
                    q = q.bind(format!("v{i}"));
                }
                let rows = q.fetch_all(&mut *conn).await?;
                rows.iter()
                    .map(|r| {
                        r.try_get::<String, _>("detail")
                            .or_else(|_| r.try_get::<String, _>("opcode"))
                            .or_else(|_| r.try_get::<String, _>(0))
                    })
                    .collect()
            })
        })
        .await
        .unwrap()
}

fn table(resource: Resource) -> &'static str {
    match resource {
        Resource::Users => "scim_users",
        Resource::Groups => "scim_groups",
    }
}

fn translated(resource: Resource, filter: &str, backend: Backend) -> (String, usize) {
    let table = table(resource);
    let parsed = roster_scim::filter::parse(filter).unwrap();
    let cond = filter_sql::translate(&parsed, resource, backend, 2).unwrap();
    let sql = format!(
        "SELECT r.id FROM {table} r WHERE r.connection_id = $1 AND {}",
        cond.text
    );
    (sql, 1 + cond.filter_binds(2).len())
}

/// A migrated store on a new SQLite file, and the folder to remove afterwards.
async fn sqlite() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("roster-plans-{}", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(&format!("sqlite://{}/r.db", dir.display()), StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn sqlite_lookups_by_indexed_attributes_search_an_index() {
    let (store, dir) = sqlite().await;
    for (resource, filter, by) in CASES {
        let (sql, binds) = translated(*resource, filter, Backend::Sqlite);
        let steps = plan(&store, format!("EXPLAIN QUERY PLAN {sql}"), binds).await;
        let on_table: Vec<&String> = steps
            .iter()
            .filter(|s| s.contains(" r ") || s.ends_with(" r"))
            .collect();
        assert!(
            // Every step on the resources' table searches an index, and one step (on it,
            // or on the emails a subquery reads) searches by the attribute.
            on_table.iter().all(|s| s.starts_with("SEARCH")) && steps.iter().any(|s| s.contains(by)),
            "{filter}: expected a search by {by}, got {steps:?}"
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_indexed_attributes_have_an_index() {
    let (store, database) = common::postgres().await;
    store.migrate().await.unwrap();
    for (resource, filter, by) in CASES {
        // The filter must translate on PostgreSQL too.
        translated(*resource, filter, Backend::Postgres);
        let table = table(*resource);
        let column = by.trim_end_matches("=?");
        let definitions = plan(
            &store,
            format!("SELECT indexdef FROM pg_indexes WHERE tablename = '{table}' ORDER BY indexname"),
            0,
        )
        .await;
        let leads =
            |d: &String| d.ends_with(&format!("(connection_id, {column})")) || d.ends_with(&format!("({column})"));
        assert!(
            definitions.iter().any(leads),
            "{filter}: no index of {table} leads with {column}: {definitions:?}"
        );
    }
    store.close().await;
    drop(store);
    database.drop().await;
}

/// The statements every SCIM create and sign-in runs write their rows without building a
/// temporary b-tree (SQLite's `OpenEphemeral`): a CHECK with an IN list of three or more
/// values, or an IN subquery, would build one for every row.
#[tokio::test]
async fn sqlite_membership_writes_build_no_temporary_tables() {
    let (store, dir) = sqlite().await;
    let statements = [
        (
            "INSERT INTO memberships (organization_id, user_id, role, state, source, created_at, updated_at) \
          VALUES ($1, $2, $3, $4, $5, 1, 1)",
            5,
        ),
        (
            "UPDATE memberships SET role = $1, state = $2, source = $3 WHERE organization_id = $4 AND user_id = $5",
            5,
        ),
        (
            "INSERT INTO team_members (team_id, user_id, source, created_at) VALUES ($1, $2, $3, 1)",
            3,
        ),
    ];
    for (sql, binds) in statements {
        let ops = plan(&store, format!("EXPLAIN {sql}"), binds).await;
        assert!(!ops.is_empty(), "{sql}: no program");
        assert!(
            !ops.iter().any(|op| op == "OpenEphemeral"),
            "{sql}: builds a temporary b-tree: {ops:?}"
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
