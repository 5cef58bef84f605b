//! Helpers shared by the store's integration tests (each test file uses what it needs).
#![allow(dead_code)]

use roster_store::{Store, StoreOptions};
use sqlx::Connection;

fn admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A PostgreSQL database made for one test.
pub struct Database {
    name: String,
}

impl Database {
    /// Drops the database (closing its store first is up to the caller).
    pub async fn drop(self) {
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        sqlx::Executor::execute(&mut conn, format!("DROP DATABASE {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}

/// A store on a new, empty PostgreSQL database (not migrated).
pub async fn postgres() -> (Store, Database) {
    postgres_with(StoreOptions::default()).await
}

/// [`postgres`] with `options`.
pub async fn postgres_with(options: StoreOptions) -> (Store, Database) {
    let admin = admin_url();
    let name = format!("roster_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0.to_string();
    let store = Store::connect(&format!("{base}/{name}"), options).await.unwrap();
    (store, Database { name })
}

/// A connection of the test's own to `db`.
pub async fn connect(db: &Database) -> sqlx::PgConnection {
    let admin = admin_url();
    let base = admin.rsplit_once('/').unwrap().0.to_string();
    sqlx::PgConnection::connect(&format!("{base}/{}", db.name))
        .await
        .unwrap()
}
