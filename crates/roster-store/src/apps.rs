//! Apps: the company's own applications that sign people in through Roster, as OAuth
//! 2.0 clients of its OpenID Provider. A confidential app's secret is kept only as a
//! hash; the organizations whose members may sign in are links (none: all of the
//! company's).

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::directory::{companies, organizations};
use crate::tokens::hash_secret;
use crate::{from_json_text, json_text, new_id, Ctx, StoreError};
use roster_core::Name;
use serde::Serialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Serialize)]
pub struct App {
    /// The client id.
    pub id: String,
    pub company_id: String,
    pub company: String,
    pub name: String,
    pub client_type: String,
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The organizations whose members may sign in, by name; empty: all of the company's.
    pub organizations: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Whether the app has a secret (confidential apps).
    pub has_secret: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Everything an app is made of; the server builds it from the request, checked.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: Name,
    pub client_type: String,
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Organization ids or names of the app's company.
    pub organizations: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

const SELECT: &str =
    "SELECT a.id, a.company_id, c.name AS company, a.name, a.client_type, a.token_endpoint_auth_method, \
     a.id_token_signed_response_alg, a.redirect_uris, a.post_logout_redirect_uris, a.backchannel_logout_uri, \
     a.secret_hash, a.created_at, a.updated_at FROM apps a JOIN companies c ON c.id = a.company_id";

async fn read(conn: &mut Conn, row: db::Row) -> Result<App, StoreError> {
    let list = |text: String| -> Result<Vec<String>, StoreError> { from_json_text(&text) };
    let id: String = row.try_get("id")?;
    let organizations: Vec<String> = db::query_scalar(
        "SELECT o.name FROM app_organizations ao JOIN organizations o ON o.id = ao.organization_id \
         WHERE ao.app_id = $1 ORDER BY o.name",
    )
    .bind(&id)
    .fetch_all(conn)
    .await?;
    Ok(App {
        id,
        company_id: row.try_get("company_id")?,
        company: row.try_get("company")?,
        name: row.try_get("name")?,
        client_type: row.try_get("client_type")?,
        token_endpoint_auth_method: row.try_get("token_endpoint_auth_method")?,
        id_token_signed_response_alg: row.try_get("id_token_signed_response_alg")?,
        redirect_uris: list(row.try_get("redirect_uris")?)?,
        post_logout_redirect_uris: list(row.try_get("post_logout_redirect_uris")?)?,
        organizations,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
        has_secret: row.try_get::<Option<String>, _>("secret_hash")?.is_some(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The app with client id `id`.
pub async fn find(conn: &mut Conn, id: &str) -> Result<App, StoreError> {
    let row = db::query(&format!("{SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("app", id))?;
    read(conn, row).await
}

/// Every app, or a company's (by id or name), by name.
pub async fn list(conn: &mut Conn, company: Option<&str>) -> Result<Vec<App>, StoreError> {
    let company_id = match company {
        Some(c) => Some(companies::find(conn, c).await?.id),
        None => None,
    };
    let rows = db::query(&format!(
        "{SELECT} WHERE ($1 IS NULL OR a.company_id = $1) ORDER BY c.name, a.name_key"
    ))
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut apps = Vec::with_capacity(rows.len());
    for row in rows {
        apps.push(read(conn, row).await?);
    }
    Ok(apps)
}

/// The organization ids `spec` names, each of company `company_id`.
async fn organization_ids(conn: &mut Conn, company_id: &str, spec: &Spec) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    for ident in &spec.organizations {
        let org = organizations::find(conn, ident).await?;
        if org.company_id != company_id {
            // Another company's organization is, to this app, one that does not exist.
            return Err(StoreError::not_found("organization", ident));
        }
        if !ids.contains(&org.id) {
            ids.push(org.id);
        }
    }
    Ok(ids)
}

async fn write_organizations(conn: &mut Conn, app_id: &str, ids: &[String]) -> Result<(), StoreError> {
    db::query("DELETE FROM app_organizations WHERE app_id = $1")
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    for id in ids {
        db::query("INSERT INTO app_organizations (app_id, organization_id) VALUES ($1, $2)")
            .bind(app_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn name_taken(
    conn: &mut Conn,
    company_id: &str,
    name: &Name,
    other_than: Option<&str>,
) -> Result<(), StoreError> {
    let taken: Option<String> =
        db::query_scalar("SELECT name FROM apps WHERE company_id = $1 AND name_key = $2 AND ($3 IS NULL OR id <> $3)")
            .bind(company_id)
            .bind(name.key())
            .bind(other_than)
            .fetch_optional(conn)
            .await?;
    match taken {
        Some(existing) => Err(StoreError::conflict(
            "app_exists",
            format!("the company already has an app named '{existing}'"),
        )),
        None => Ok(()),
    }
}

/// What the audit log keeps of an app (never its secret).
fn summary(a: &App) -> Value {
    json!({
        "name": a.name, "client_type": a.client_type, "token_endpoint_auth_method": a.token_endpoint_auth_method,
        "id_token_signed_response_alg": a.id_token_signed_response_alg, "redirect_uris": a.redirect_uris,
        "post_logout_redirect_uris": a.post_logout_redirect_uris, "organizations": a.organizations,
        "backchannel_logout_uri": a.backchannel_logout_uri,
    })
}

async fn record(
    conn: &mut Conn,
    ctx: &Ctx,
    action: &str,
    a: &App,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        NewEvent {
            action,
            object_kind: "app",
            object_id: &a.id,
            company_id: Some(&a.company_id),
            before,
            after,
            ..Default::default()
        },
    )
    .await
}

/// Registers an app of `company` with `secret` (confidential apps), kept as a hash.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    company: &str,
    spec: &Spec,
    secret: Option<&str>,
) -> Result<App, StoreError> {
    let company = companies::find(conn, company).await?;
    name_taken(conn, &company.id, &spec.name, None).await?;
    let org_ids = organization_ids(conn, &company.id, spec).await?;
    let id = format!("app_{}", new_id().replace('-', ""));
    db::query(
        "INSERT INTO apps (id, company_id, name, name_key, client_type, token_endpoint_auth_method, \
         id_token_signed_response_alg, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, secret_hash, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(&id)
    .bind(&company.id)
    .bind(spec.name.as_str())
    .bind(spec.name.key())
    .bind(&spec.client_type)
    .bind(&spec.token_endpoint_auth_method)
    .bind(&spec.id_token_signed_response_alg)
    .bind(json_text(&spec.redirect_uris)?)
    .bind(json_text(&spec.post_logout_redirect_uris)?)
    .bind(spec.backchannel_logout_uri.as_deref())
    .bind(secret.map(hash_secret))
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    write_organizations(conn, &id, &org_ids).await?;
    let app = find(conn, &id).await?;
    record(conn, ctx, "app.create", &app, None, Some(summary(&app))).await?;
    Ok(app)
}

/// Replaces app `id`'s settings with `spec` (the server merges a PATCH into the current
/// ones first); its secret stays.
pub async fn update(conn: &mut Conn, ctx: &Ctx, id: &str, spec: &Spec) -> Result<App, StoreError> {
    let before = find(conn, id).await?;
    name_taken(conn, &before.company_id, &spec.name, Some(id)).await?;
    let org_ids = organization_ids(conn, &before.company_id, spec).await?;
    db::query(
        "UPDATE apps SET name = $2, name_key = $3, client_type = $4, token_endpoint_auth_method = $5, \
         id_token_signed_response_alg = $6, redirect_uris = $7, post_logout_redirect_uris = $8, \
         backchannel_logout_uri = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(id)
    .bind(spec.name.as_str())
    .bind(spec.name.key())
    .bind(&spec.client_type)
    .bind(&spec.token_endpoint_auth_method)
    .bind(&spec.id_token_signed_response_alg)
    .bind(json_text(&spec.redirect_uris)?)
    .bind(json_text(&spec.post_logout_redirect_uris)?)
    .bind(spec.backchannel_logout_uri.as_deref())
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    write_organizations(conn, id, &org_ids).await?;
    let after = find(conn, id).await?;
    record(
        conn,
        ctx,
        "app.update",
        &after,
        Some(summary(&before)),
        Some(summary(&after)),
    )
    .await?;
    Ok(after)
}

/// Replaces app `id`'s secret: the old one stops working at once.
pub async fn rotate_secret(conn: &mut Conn, ctx: &Ctx, id: &str, secret: &str) -> Result<App, StoreError> {
    let app = find(conn, id).await?;
    db::query("UPDATE apps SET secret_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash_secret(secret))
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    record(conn, ctx, "app.rotate_secret", &app, None, None).await?;
    find(conn, id).await
}

/// Deletes app `id`.
pub async fn delete(conn: &mut Conn, ctx: &Ctx, id: &str) -> Result<(), StoreError> {
    let app = find(conn, id).await?;
    db::query("DELETE FROM apps WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    record(conn, ctx, "app.delete", &app, Some(summary(&app)), None).await
}

/// Whether `secret` is app `id`'s secret (compared in constant time).
pub async fn check_secret(conn: &mut Conn, id: &str, secret: &str) -> Result<bool, StoreError> {
    let stored: Option<Option<String>> = db::query_scalar("SELECT secret_hash FROM apps WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(match stored.flatten() {
        Some(hash) => hash.as_bytes().ct_eq(hash_secret(secret).as_bytes()).into(),
        None => false,
    })
}
