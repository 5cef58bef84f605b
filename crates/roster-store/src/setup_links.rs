//! Self-serve setup links. A link lets whoever opens it do one connection's IdP setup
//! (and nothing else) until it expires or is revoked. Its secret is kept hashed; the
//! first browser to open it claims it, and from then on only that browser's cookie
//! (also kept hashed) works. Everything done through a link is audited with the link as
//! the actor (`setup_link`, its id).

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::tokens::{hash_secret, random_secret};
use crate::{new_id, Ctx, StoreError};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct SetupLink {
    pub id: String,
    pub connection_id: String,
    pub company_id: String,
    /// The token every form of the link's pages carries.
    pub csrf: String,
    /// Who made it: `kind:id` of the actor.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub opened_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl SetupLink {
    /// Whether the link still works at `now`.
    pub fn live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

const COLUMNS: &str = "id, connection_id, company_id, csrf, created_by, created_at, expires_at, opened_at, revoked_at";

fn from_row(r: &db::Row) -> Result<SetupLink, StoreError> {
    Ok(SetupLink {
        id: r.try_get("id")?,
        connection_id: r.try_get("connection_id")?,
        company_id: r.try_get("company_id")?,
        csrf: r.try_get("csrf")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        opened_at: r.try_get("opened_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Makes a link for connection `connection_id` of `company_id` that works until
/// `expires_at`; answers it with its secret (for the URL, shown once).
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    connection_id: &str,
    company_id: &str,
    expires_at: i64,
) -> Result<(SetupLink, String), StoreError> {
    let id = new_id();
    let secret = format!("setup_{}", random_secret());
    let link = SetupLink {
        id,
        connection_id: connection_id.to_string(),
        company_id: company_id.to_string(),
        csrf: random_secret(),
        created_by: format!("{}:{}", ctx.actor_kind, ctx.actor_id.as_deref().unwrap_or("")),
        created_at: ctx.now,
        expires_at,
        opened_at: None,
        revoked_at: None,
    };
    db::query(
        "INSERT INTO setup_links (id, connection_id, company_id, token_hash, csrf, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&link.id)
    .bind(connection_id)
    .bind(company_id)
    .bind(hash_secret(&secret))
    .bind(&link.csrf)
    .bind(&link.created_by)
    .bind(ctx.now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "setup_link.create",
            object_kind: "setup_link",
            object_id: &link.id,
            company_id: Some(company_id),
            connection_id: Some(connection_id),
            after: Some(json!({ "expires_at": expires_at })),
            ..Default::default()
        },
    )
    .await?;
    Ok((link, secret))
}

/// The links of a connection, newest first.
pub async fn list(conn: &mut Conn, connection_id: &str) -> Result<Vec<SetupLink>, StoreError> {
    let rows = db::query(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE connection_id = $1 ORDER BY created_at DESC, id DESC LIMIT 100"
    ))
    .bind(connection_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes link `id` of connection `connection_id`: it stops working at once, in the
/// browser that opened it too.
pub async fn revoke(conn: &mut Conn, ctx: &Ctx, connection_id: &str, id: &str) -> Result<(), StoreError> {
    let row = db::query(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE id = $1 AND connection_id = $2"
    ))
    .bind(id)
    .bind(connection_id)
    .fetch_optional(&mut *conn)
    .await?;
    let link = match row {
        Some(r) => from_row(&r)?,
        None => return Err(StoreError::not_found("setup link", id)),
    };
    if link.revoked_at.is_some() {
        return Ok(());
    }
    db::query("UPDATE setup_links SET revoked_at = $2 WHERE id = $1")
        .bind(id)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "setup_link.revoke",
            object_kind: "setup_link",
            object_id: id,
            company_id: Some(&link.company_id),
            connection_id: Some(connection_id),
            ..Default::default()
        },
    )
    .await
}

/// What opening a link came to.
#[derive(Debug)]
pub enum Opened {
    /// Claimed now by this browser: the link, and the cookie's secret for it.
    Claimed(SetupLink, String),
    /// Opened again by the browser that claimed it.
    Again(SetupLink),
    /// Already claimed by another browser.
    Taken,
    /// Unknown, expired or revoked.
    Gone,
}

/// Opens the link whose secret is `secret`, from a browser carrying cookie `browser`
/// (if any).
pub async fn open(
    conn: &mut Conn,
    secret: &str,
    browser: Option<&str>,
    now: i64,
    trace_id: &str,
) -> Result<Opened, StoreError> {
    let Some((link, claimed_by)) = find(conn, secret).await? else {
        return Ok(Opened::Gone);
    };
    if !link.live(now) {
        return Ok(Opened::Gone);
    }
    if let Some(claimed_by) = claimed_by {
        let same = browser.is_some_and(|b| is_browser(b, &claimed_by));
        return Ok(if same { Opened::Again(link) } else { Opened::Taken });
    }
    let cookie = random_secret();
    // Only one browser wins a race to claim it.
    let claimed =
        db::query("UPDATE setup_links SET browser_hash = $2, opened_at = $3 WHERE id = $1 AND browser_hash IS NULL")
            .bind(&link.id)
            .bind(hash_secret(&cookie))
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if claimed == 0 {
        return Ok(Opened::Taken);
    }
    let ctx = Ctx::new("setup_link", Some(link.id.clone()), trace_id.to_string(), now);
    audit::record(
        conn,
        &ctx,
        NewEvent {
            action: "setup_link.open",
            object_kind: "setup_link",
            object_id: &link.id,
            company_id: Some(&link.company_id),
            connection_id: Some(&link.connection_id),
            ..Default::default()
        },
    )
    .await?;
    Ok(Opened::Claimed(
        SetupLink {
            opened_at: Some(now),
            ..link
        },
        cookie,
    ))
}

/// The link whose secret is `secret` (live or not), with the hash of the browser that
/// claimed it, if one has.
pub async fn find(conn: &mut Conn, secret: &str) -> Result<Option<(SetupLink, Option<String>)>, StoreError> {
    let row = db::query(&format!(
        "SELECT {COLUMNS}, browser_hash FROM setup_links WHERE token_hash = $1"
    ))
    .bind(hash_secret(secret))
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get("browser_hash")?))).transpose()
}

/// Whether the cookie `browser` is the one whose hash is `claimed_by`.
pub fn is_browser(browser: &str, claimed_by: &str) -> bool {
    crate::tokens::same_hash(&hash_secret(browser), claimed_by)
}

/// The live link claimed by the browser whose cookie is `browser`.
pub async fn find_by_browser(conn: &mut Conn, browser: &str, now: i64) -> Result<Option<SetupLink>, StoreError> {
    let row = db::query(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE browser_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
    ))
    .bind(hash_secret(browser))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}
