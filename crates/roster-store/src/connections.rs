//! SSO connections (spec §1): a company's link to one IdP, the verified domains it
//! serves and the organizations it provisions into.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::directory::companies::{self, Company};
use crate::directory::{is_id, organizations};
use crate::{new_id, Ctx, StoreError};
use roster_core::signin::AttributeNames;
use roster_core::{rules, DomainName, Name, Protocol};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub id: String,
    pub company_id: String,
    pub company: String,
    pub name: String,
    pub protocol: Protocol,
    pub jit: bool,
    pub scim: bool,
    pub idp_initiated: bool,
    pub default_organization_id: String,
    pub default_organization: String,
    pub default_team: Option<String>,
    pub default_session_minutes: Option<i64>,
    pub domains: Vec<String>,
    pub organizations: Vec<String>,
    /// The same organizations' ids, in the same order.
    pub organization_ids: Vec<String>,
    /// Protocol settings (IdP endpoints, certificates, client credentials, extra
    /// attribute names); shaped and redacted by the server.
    pub settings: Value,
    /// The connection's own attribute names (A3), read from its settings.
    pub attribute_names: AttributeNames,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Everything a connection is made of; the server builds it from the request.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: Name,
    pub protocol: Protocol,
    pub domains: Vec<DomainName>,
    /// Organization ids or names; the default organization is added when missing.
    pub organizations: Vec<String>,
    pub default_organization: String,
    pub default_team: Option<Name>,
    pub jit: bool,
    pub scim: bool,
    pub idp_initiated: bool,
    pub default_session_minutes: Option<i64>,
    pub settings: Value,
}

const SELECT: &str =
    "SELECT c.id, c.company_id, co.name AS company, c.name, c.protocol, c.jit, c.scim, c.idp_initiated, \
    c.default_organization_id, o.name AS default_organization, c.default_team, c.default_session_minutes, c.settings, \
    c.created_at, c.updated_at FROM connections c JOIN companies co ON co.id = c.company_id \
    JOIN organizations o ON o.id = c.default_organization_id";

async fn load(conn: &mut Conn, row: &db::Row) -> Result<Connection, StoreError> {
    let id: String = row.try_get("id")?;
    let domains = db::query_scalar("SELECT domain FROM connection_domains WHERE connection_id = $1 ORDER BY domain")
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
    let rows = db::query(
        "SELECT o.id, o.name FROM connection_organizations co JOIN organizations o ON o.id = co.organization_id \
         WHERE co.connection_id = $1 ORDER BY o.name_key",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    let mut orgs = Vec::with_capacity(rows.len());
    let mut organization_ids = Vec::with_capacity(rows.len());
    for r in &rows {
        organization_ids.push(r.try_get::<String, _>("id")?);
        orgs.push(r.try_get::<String, _>("name")?);
    }
    let protocol: String = row.try_get("protocol")?;
    // Stored settings that do not decode are corrupt data, never an empty default.
    let settings: Value = crate::from_json_text(&row.try_get::<String, _>("settings")?)?;
    Ok(Connection {
        id,
        company_id: row.try_get("company_id")?,
        company: row.try_get("company")?,
        name: row.try_get("name")?,
        protocol: Protocol::parse(&protocol).map_err(crate::error::corrupt)?,
        jit: row.try_get::<bool, _>("jit")?,
        scim: row.try_get::<bool, _>("scim")?,
        idp_initiated: row.try_get::<bool, _>("idp_initiated")?,
        default_organization_id: row.try_get("default_organization_id")?,
        default_organization: row.try_get("default_organization")?,
        default_team: row.try_get("default_team")?,
        default_session_minutes: row.try_get("default_session_minutes")?,
        domains,
        organizations: orgs,
        organization_ids,
        attribute_names: match settings.get("attribute_names") {
            Some(names) => serde_json::from_value(names.clone())
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
            None => AttributeNames::default(),
        },
        settings,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Finds a connection by id, or by name when that name is unique across companies.
pub async fn find(conn: &mut Conn, ident: &str) -> Result<Connection, StoreError> {
    let rows = if is_id(ident) {
        db::query(&format!("{SELECT} WHERE c.id = $1"))
            .bind(ident)
            .fetch_all(&mut *conn)
            .await?
    } else {
        db::query(&format!("{SELECT} WHERE c.name_key = $1"))
            .bind(ident.to_lowercase())
            .fetch_all(&mut *conn)
            .await?
    };
    match rows.as_slice() {
        [row] => load(conn, row).await,
        [] => Err(StoreError::not_found("connection", ident)),
        _ => Err(StoreError::conflict(
            "ambiguous_name",
            format!("several companies have a connection named '{ident}'; use its id"),
        )),
    }
}

pub async fn list(conn: &mut Conn, company_id: Option<&str>) -> Result<Vec<Connection>, StoreError> {
    let rows = db::query(&format!(
        "{SELECT} WHERE ($1 IS NULL OR c.company_id = $1) ORDER BY c.name_key, c.id"
    ))
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(load(conn, row).await?);
    }
    Ok(out)
}

/// Checks a spec against the directory and resolves its organizations to ids.
async fn validate(
    conn: &mut Conn,
    company: &Company,
    spec: &Spec,
    self_id: Option<&str>,
) -> Result<(String, Vec<String>), StoreError> {
    rules::check_connection_settings(spec.jit, spec.scim, spec.default_session_minutes)?;
    for d in &spec.domains {
        let verified: Option<Option<i64>> =
            db::query_scalar("SELECT verified_at FROM domains WHERE company_id = $1 AND domain = $2")
                .bind(&company.id)
                .bind(d.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        rules::check_connection_domain(d, matches!(verified, Some(Some(_))), &company.name)?;
        let served_by: Option<String> = db::query_scalar(
            "SELECT c.name FROM connection_domains cd JOIN connections c ON c.id = cd.connection_id \
             WHERE cd.domain = $1 AND ($2 IS NULL OR c.id <> $2)",
        )
        .bind(d.as_str())
        .bind(self_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(other) = served_by {
            return Err(StoreError::conflict(
                "domain_in_use",
                format!("domain '{d}' is already served by connection '{other}'"),
            ));
        }
    }
    let default_org = organizations::find(conn, &spec.default_organization).await?;
    let mut org_ids = vec![default_org.id.clone()];
    for ident in &spec.organizations {
        let org = organizations::find(conn, ident).await?;
        if !org_ids.contains(&org.id) {
            org_ids.push(org.id.clone());
        }
    }
    for id in &org_ids {
        let org = organizations::find(conn, id).await?;
        rules::check_connection_organization(&org.name, &org.company_id, &company.id, &company.name)?;
    }
    Ok((default_org.id, org_ids))
}

async fn write_links(conn: &mut Conn, id: &str, domains: &[DomainName], org_ids: &[String]) -> Result<(), StoreError> {
    db::query("DELETE FROM connection_domains WHERE connection_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    db::query("DELETE FROM connection_organizations WHERE connection_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for d in domains {
        db::query("INSERT INTO connection_domains (connection_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(d.as_str())
            .execute(&mut *conn)
            .await?;
    }
    for o in org_ids {
        db::query("INSERT INTO connection_organizations (connection_id, organization_id) VALUES ($1, $2)")
            .bind(id)
            .bind(o)
            .execute(&mut *conn)
            .await?;
    }
    // A SCIM Group whose team belongs to an organization no longer connected maps
    // nothing (G1, G4): its link to the team is cleared with the disconnection.
    db::query(
        "UPDATE scim_groups SET team_id = NULL WHERE connection_id = $1 AND team_id IS NOT NULL AND team_id NOT IN \
         (SELECT t.id FROM teams t JOIN connection_organizations co ON co.organization_id = t.organization_id \
          WHERE co.connection_id = $1)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn summary(c: &Connection) -> Value {
    json!({
        "name": c.name, "protocol": c.protocol, "jit": c.jit, "scim": c.scim, "idp_initiated": c.idp_initiated,
        "default_organization": c.default_organization, "default_team": c.default_team,
        "default_session_minutes": c.default_session_minutes, "domains": c.domains, "organizations": c.organizations,
    })
}

pub async fn create(conn: &mut Conn, ctx: &Ctx, company: &str, spec: &Spec) -> Result<Connection, StoreError> {
    let company = companies::find(conn, company).await?;
    let taken: Option<String> = db::query_scalar("SELECT id FROM connections WHERE company_id = $1 AND name_key = $2")
        .bind(&company.id)
        .bind(spec.name.key())
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Err(StoreError::conflict(
            "connection_exists",
            format!(
                "company '{}' already has a connection named '{}'",
                company.name,
                spec.name.as_str()
            ),
        ));
    }
    let (default_org_id, org_ids) = validate(conn, &company, spec, None).await?;
    let id = new_id();
    db::query(
        "INSERT INTO connections (id, company_id, name, name_key, protocol, jit, scim, idp_initiated, default_organization_id, \
         default_team, default_session_minutes, settings, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&id)
    .bind(&company.id)
    .bind(spec.name.as_str())
    .bind(spec.name.key())
    .bind(spec.protocol.as_str())
    .bind(spec.jit)
    .bind(spec.scim)
    .bind(spec.idp_initiated)
    .bind(&default_org_id)
    .bind(spec.default_team.as_ref().map(|t| t.as_str().to_string()))
    .bind(spec.default_session_minutes)
    .bind(spec.settings.to_string())
    .bind(ctx.now)
    .execute(&mut *conn)
    .await?;
    write_links(conn, &id, &spec.domains, &org_ids).await?;
    let created = find(conn, &id).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "connection.create",
            object_kind: "connection",
            object_id: &id,
            company_id: Some(&company.id),
            connection_id: Some(&id),
            after: Some(summary(&created)),
            ..Default::default()
        },
    )
    .await?;
    Ok(created)
}

/// Replaces a connection's settings with `spec` (the server merges a PATCH into the
/// current spec first).
pub async fn update(conn: &mut Conn, ctx: &Ctx, id: &str, spec: &Spec) -> Result<Connection, StoreError> {
    let before = find(conn, id).await?;
    // Cached SCIM authentications carry the connection's settings (SCIM on or off).
    crate::signals::auth_changed(conn, ctx).await?;
    let company = companies::find(conn, &before.company_id).await?;
    if spec.name.key() != before.name.to_lowercase() {
        let taken: Option<String> =
            db::query_scalar("SELECT id FROM connections WHERE company_id = $1 AND name_key = $2")
                .bind(&company.id)
                .bind(spec.name.key())
                .fetch_optional(&mut *conn)
                .await?;
        if taken.is_some() {
            return Err(StoreError::conflict(
                "connection_exists",
                format!(
                    "company '{}' already has a connection named '{}'",
                    company.name,
                    spec.name.as_str()
                ),
            ));
        }
    }
    let (default_org_id, org_ids) = validate(conn, &company, spec, Some(&before.id)).await?;
    db::query(
        "UPDATE connections SET name = $1, name_key = $2, jit = $3, scim = $4, idp_initiated = $5, default_organization_id = $6, \
         default_team = $7, default_session_minutes = $8, settings = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(spec.name.as_str())
    .bind(spec.name.key())
    .bind(spec.jit)
    .bind(spec.scim)
    .bind(spec.idp_initiated)
    .bind(&default_org_id)
    .bind(spec.default_team.as_ref().map(|t| t.as_str().to_string()))
    .bind(spec.default_session_minutes)
    .bind(spec.settings.to_string())
    .bind(ctx.now)
    .bind(&before.id)
    .execute(&mut *conn)
    .await?;
    write_links(conn, &before.id, &spec.domains, &org_ids).await?;
    let after = find(conn, &before.id).await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "connection.update",
            object_kind: "connection",
            object_id: &before.id,
            company_id: Some(&company.id),
            connection_id: Some(&before.id),
            before: Some(summary(&before)),
            after: Some(summary(&after)),
            ..Default::default()
        },
    )
    .await?;
    Ok(after)
}

/// Deletes a connection, its SCIM tokens and its sessions (T2: sessions end at once).
pub async fn delete(conn: &mut Conn, ctx: &Ctx, id: &str) -> Result<(), StoreError> {
    let c = find(conn, id).await?;
    crate::signals::auth_changed(conn, ctx).await?;
    crate::oauth2::end_grants(
        conn,
        crate::oauth2::Ending::Connection(&c.id),
        ctx.now,
        "connection_deleted",
    )
    .await?;
    let ended = db::query("UPDATE sessions SET ended_at = $1 WHERE connection_id = $2 AND ended_at IS NULL")
        .bind(ctx.now)
        .bind(&c.id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if ended > 0 {
        audit::record(
            conn,
            ctx,
            NewEvent {
                action: "session.end",
                object_kind: "connection",
                object_id: &c.id,
                company_id: Some(&c.company_id),
                connection_id: Some(&c.id),
                after: Some(json!({ "sessions_ended": ended, "why": "connection_deleted" })),
                ..Default::default()
            },
        )
        .await?;
    }
    db::query("DELETE FROM connections WHERE id = $1")
        .bind(&c.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "connection.delete",
            object_kind: "connection",
            object_id: &c.id,
            company_id: Some(&c.company_id),
            connection_id: Some(&c.id),
            before: Some(summary(&c)),
            ..Default::default()
        },
    )
    .await
}

/// The connection serving the email domain `domain` (or the nearest parent domain it
/// is a subdomain of), for routing a sign-in by email.
pub async fn find_by_domain(conn: &mut Conn, domain: &str) -> Result<Option<Connection>, StoreError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    // The domain itself, then each parent with at least two labels.
    let labels: Vec<&str> = domain.split('.').collect();
    let candidates: Vec<String> = (0..labels.len().saturating_sub(1))
        .map(|i| labels.get(i..).unwrap_or_default().join("."))
        .take(8)
        .collect();
    for candidate in candidates {
        let id: Option<String> = db::query_scalar(
            "SELECT cd.connection_id FROM connection_domains cd JOIN connections c ON c.id = cd.connection_id \
             WHERE cd.domain = $1 ORDER BY c.created_at, c.id LIMIT 1",
        )
        .bind(&candidate)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = id {
            return find(conn, &id).await.map(Some);
        }
    }
    Ok(None)
}

/// The connection people of organization `organization` (id or name) of company
/// `company_id` sign in with: the one whose default organization it is, else the oldest
/// that serves it.
pub async fn find_for_organization(
    conn: &mut Conn,
    company_id: &str,
    organization: &str,
) -> Result<Option<Connection>, StoreError> {
    let org = match crate::directory::organizations::find(conn, organization).await {
        Ok(o) if o.company_id == company_id => o,
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let id: Option<String> = db::query_scalar(
        "SELECT c.id FROM connection_organizations co JOIN connections c ON c.id = co.connection_id \
         WHERE co.organization_id = $1 ORDER BY CASE WHEN c.default_organization_id = $1 THEN 0 ELSE 1 END, \
         c.created_at, c.id LIMIT 1",
    )
    .bind(&org.id)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => find(conn, &id).await.map(Some),
        None => Ok(None),
    }
}

/// Every OIDC connection's stored client secret, as `(connection id, stored text)`.
pub async fn oidc_client_secrets(conn: &mut Conn) -> Result<Vec<(String, String)>, StoreError> {
    let rows = db::query("SELECT id, settings FROM connections WHERE protocol = 'oidc'")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let settings: Value = crate::from_json_text(&r.try_get::<String, _>("settings")?)?;
        if let Some(secret) = settings.pointer("/oidc/client_secret").and_then(Value::as_str) {
            out.push((r.try_get("id")?, secret.to_owned()));
        }
    }
    Ok(out)
}

/// Replaces OIDC connection `id`'s stored client secret, leaving its other settings.
pub async fn set_oidc_client_secret(conn: &mut Conn, id: &str, stored: &str) -> Result<(), StoreError> {
    let text: String = db::query_scalar("SELECT settings FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let mut settings: Value = crate::from_json_text(&text)?;
    if let Some(slot) = settings.pointer_mut("/oidc/client_secret") {
        *slot = Value::String(stored.to_owned());
    }
    db::query("UPDATE connections SET settings = $1 WHERE id = $2")
        .bind(settings.to_string())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
