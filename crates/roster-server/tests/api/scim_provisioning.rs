//! The SCIM-side planner functions (S4–S6) applied by the store, on both backends, the
//! way the SCIM endpoints apply them: state → plan → apply in one transaction.

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::provisioning::{preview, setup};
use roster_core::plan::Plan;
use roster_core::scim_plan::{self, ScimUserFacts};
use roster_core::Email;
use roster_store::provisioning::ScimLink;
use roster_store::{connections, provisioning, Ctx, Store, StoreError};
use serde_json::json;

crate::on_both_backends!(scim_plans_apply_deactivate_end_sessions_and_unlink);

/// Plans and applies one SCIM change of `email` the way the SCIM endpoints will.
async fn scim(app: &TestApp, connection: &str, email: &str, op: &'static str, active: Option<bool>) -> Plan {
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let (connection, email) = (connection.to_string(), email.to_string());
    let now = app.clock.now();
    let plan = store
        .write(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &connection).await?;
                let email = Email::parse(&email)?;
                // The SCIM resource the plan links (the SCIM endpoints keep these rows).
                let existing: Option<String> =
                    roster_store::db::query_scalar("SELECT id FROM scim_users WHERE connection_id = $1 AND user_name_key = $2")
                        .bind(&c.id)
                        .bind(email.key())
                        .fetch_optional(&mut *db)
                        .await?;
                let scim_id = match existing {
                    Some(id) => id,
                    None => {
                        let id = uuid::Uuid::new_v4().to_string();
                        roster_store::db::query(
                            "INSERT INTO scim_users (id, connection_id, user_name, user_name_key, active, resource, version, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, '{}', 1, $6, $6)",
                        )
                        .bind(&id)
                        .bind(&c.id)
                        .bind(email.as_str())
                        .bind(email.key())
                        .bind(true)
                        .bind(now)
                        .execute(&mut *db)
                        .await?;
                        id
                    }
                };
                let (state, mut known) = provisioning::load(db, &c, &email, &[], now).await?;
                let facts = ScimUserFacts {
                    email: email.clone(),
                    external_id: None,
                    full_name: Some("Sam Scim".into()),
                    given_name: None,
                    family_name: None,
                    active,
                    organization: None,
                    team: None,
                    role: Some("editor".into()),
                };
                let plan = match op {
                    "create" => scim_plan::plan_create(&state, &facts),
                    "update" => scim_plan::plan_update(&state, &facts),
                    _ => scim_plan::plan_delete(&state, &email),
                }
                .map_err(|r| StoreError::rule("scim", r.detail))?;
                known.scim_user = Some(ScimLink {
                    id: scim_id,
                    row_written: true,
                });
                provisioning::apply_with(
                    db,
                    &Ctx::new("scim", Some("token".into()), format!("scim-{op}"), now).via_connection(&c.id),
                    &plan,
                    &c,
                    known,
                )
                .await?;
                Ok(plan)
            })
        })
        .await
        .unwrap();
    store.close().await;
    plan
}

async fn scim_plans_apply_deactivate_end_sessions_and_unlink(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = setup(&app, true).await;
    scim(&app, &id, "sam@example.com", "create", Some(true)).await;
    let m = app.get("/api/v1/organizations/acme/members/sam@example.com").await;
    assert_eq!(
        (
            m.body["role"].as_str(),
            m.body["source"].as_str(),
            m.body["state"].as_str()
        ),
        (Some("editor"), Some("scim"), Some("active"))
    );
    assert_eq!(m.body["teams"], json!(["everyone"]));

    // A live session, as a sign-in would have made.
    let store = Store::connect(&app.db.url, Default::default()).await.unwrap();
    let (uid, cid, now) = (
        m.body["user_id"].as_str().unwrap().to_string(),
        id.clone(),
        app.clock.now(),
    );
    let ended = move |store: Store| {
        let uid = uid.clone();
        async move {
            store
                .read(move |db| {
                    Box::pin(async move {
                        roster_store::db::query_scalar::<i64>(
                            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND ended_at IS NOT NULL",
                        )
                        .bind(uid)
                        .fetch_one(db)
                        .await
                    })
                })
                .await
                .unwrap()
        }
    };
    let (u2, c2) = (m.body["user_id"].as_str().unwrap().to_string(), cid.clone());
    store
        .write(move |db| {
            Box::pin(async move {
                let company: String = roster_store::db::query_scalar("SELECT company_id FROM connections WHERE id = $1").bind(&c2).fetch_one(&mut *db).await?;
                roster_store::db::query(
                    "INSERT INTO sessions (id, token_hash, user_id, company_id, connection_id, created_at, expires_at, last_seen_at) \
                     VALUES ('s1', 'h1', $1, $2, $3, $4, $5, $4)",
                )
                .bind(u2)
                .bind(company)
                .bind(c2)
                .bind(now)
                .bind(now + 86_400_000)
                .execute(db)
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(ended(store.clone()).await, 0);

    // S6: active=false deactivates, ends sessions at once, keeps teams.
    let p = scim(&app, &id, "sam@example.com", "update", Some(false)).await;
    assert_eq!(p.changes.len(), 2, "{:?}", p.changes);
    let m = app.get("/api/v1/organizations/acme/members/sam@example.com").await;
    assert_eq!(m.body["state"], "deactivated");
    assert_eq!(m.body["teams"], json!(["everyone"]));
    assert_eq!(ended(store.clone()).await, 1);
    let x = app
        .get("/api/v1/organizations/acme/members/sam@example.com/explain")
        .await
        .body;
    assert_eq!(x["membership"]["state_set"]["rule"], "S6");
    assert_eq!(x["membership"]["state_set"]["actor"], "scim");
    assert_eq!(x["membership"]["added"]["rule"], "S5");

    // A deactivated SCIM user cannot sign in (J7).
    let p = preview(&app, &id, json!({ "name_id": "sam@example.com" })).await;
    assert_eq!(p["denial"]["code"], "membership_deactivated");

    // S6: active=true reactivates.
    scim(&app, &id, "sam@example.com", "update", Some(true)).await;
    assert_eq!(
        app.get("/api/v1/organizations/acme/members/sam@example.com").await.body["state"],
        "active"
    );

    // DELETE: deactivated, link removed, the global account stays.
    let p = scim(&app, &id, "sam@example.com", "delete", None).await;
    assert!(matches!(
        p.changes.last().unwrap(),
        roster_core::plan::Change::UnlinkAccount(_)
    ));
    assert_eq!(app.get("/api/v1/users/sam@example.com").await.status, 200);
    assert_eq!(
        app.get("/api/v1/organizations/acme/members/sam@example.com").await.body["state"],
        "deactivated"
    );
    let actions: Vec<String> = app
        .audit("user=sam@example.com")
        .await
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["rule"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert!(actions.contains(&"scim_user.unlink S6".to_string()), "{actions:?}");
    assert!(actions.contains(&"session.end S6".to_string()), "{actions:?}");
    assert!(actions.contains(&"scim_user.link S5".to_string()), "{actions:?}");
    store.close().await;
}
