use roster_core::{DomainName, Email, Name, Protocol};
use roster_store::{connections, directory::*, domains, tokens, Ctx, Store, StoreOptions};

fn ctx() -> Ctx {
    Ctx {
        actor_kind: "admin",
        actor_id: None,
        trace_id: "t".into(),
        now: 1_000,
    }
}

async fn exercise(store: Store) {
    store.migrate().await.unwrap();
    let c = ctx();
    let org = store
        .write(move |db| {
            Box::pin(async move {
                organizations::create(
                    db,
                    &c,
                    &Name::parse_organization("Acme").unwrap(),
                    None,
                    Some(10),
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(org.company, "Acme");
    let c = ctx();
    let o2 = org.clone();
    let m = store
        .write(move |db| {
            Box::pin(async move {
                teams::create(db, &c, &o2, &Name::parse_team("eng").unwrap()).await?;
                members::add_by_admin(
                    db,
                    &c,
                    &o2,
                    &Email::parse("Jo@Example.com").unwrap(),
                    roster_core::Role::Owner,
                    &["ENG".into()],
                    &Default::default(),
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(m.teams, vec!["eng".to_string()]);
    let c = ctx();
    let conn = store
        .write(move |db| {
            Box::pin(async move {
                let co = companies::find(db, "acme").await?;
                domains::add(db, &c, &co, &DomainName::parse("example.com").unwrap()).await?;
                domains::mark_verified(db, &c, &co, "example.com", "manual").await?;
                connections::create(
                    db,
                    &c,
                    "acme",
                    &connections::Spec {
                        name: Name::parse("okta", "connection").unwrap(),
                        protocol: Protocol::Saml,
                        domains: vec![DomainName::parse("example.com").unwrap()],
                        organizations: vec![],
                        default_organization: "acme".into(),
                        default_team: None,
                        jit: true,
                        scim: false,
                        idp_initiated: false,
                        default_session_minutes: None,
                        settings: serde_json::json!({}),
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    assert!(conn.jit && !conn.scim);
    let c = ctx();
    let cid = conn.id.clone();
    let (_, secret) = store
        .write(move |db| Box::pin(async move { tokens::create_scim(db, &c, &cid, "x").await }))
        .await
        .unwrap();
    let s2 = secret.clone();
    let found = store
        .read(move |db| Box::pin(async move { tokens::verify_scim(db, &s2).await }))
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(conn.id.as_str()));
    let ev = store
        .read(|db| {
            Box::pin(async move {
                roster_store::audit::list(
                    db,
                    &roster_store::audit::Query {
                        limit: 100,
                        ..Default::default()
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    assert!(ev.len() >= 8, "{}", ev.len());
}

#[tokio::test]
async fn smoke_sqlite() {
    let dir = std::env::temp_dir().join(format!("roster-smoke-{}", uuid::Uuid::new_v4()));
    let store = Store::connect(
        &format!("sqlite://{}/r.db", dir.display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    exercise(store).await;
}

#[tokio::test]
async fn smoke_postgres() {
    use sqlx::Connection;
    let name = format!("roster_smoke_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test")
        .await
        .unwrap();
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let store = Store::connect(
        &format!("postgres://postgres@127.0.0.1:5432/{name}"),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    exercise(store).await;
}
