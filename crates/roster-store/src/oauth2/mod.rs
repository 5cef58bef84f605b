//! What Roster's OpenID Provider grants to apps: pending authorization requests, grants
//! and their codes, access tokens and refresh tokens (only hashes of the secrets are
//! kept), and the outbox of back-channel logouts.
//!
//! A grant is live while it is not revoked, not past its end, and the Roster session it
//! came from has not ended: ending a session (sign-out, T2) ends what apps were granted
//! through it, and each token is checked against its grant every time it is used.

mod logouts;

pub use logouts::{due_logouts, logout_attempted, logouts_of, Attempt, Logout, LogoutState};

use crate::db::{self, Conn};
use crate::tokens::hash_secret;
use crate::{new_id, StoreError};
use serde_json::Value;

/// An authorization request waiting for the person to sign in.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub app_id: String,
    /// The checked request (JSON).
    pub request: Value,
    pub created_at: i64,
}

/// Records a pending request (and drops expired ones).
pub async fn remember_pending(conn: &mut Conn, p: &Pending, expires_at: i64) -> Result<(), StoreError> {
    db::query("DELETE FROM oauth2_pending WHERE expires_at <= $1")
        .bind(p.created_at)
        .execute(&mut *conn)
        .await?;
    db::query("INSERT INTO oauth2_pending (id, app_id, request, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&p.id)
        .bind(&p.app_id)
        .bind(p.request.to_string())
        .bind(p.created_at)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The live pending request `id`.
pub async fn find_pending(conn: &mut Conn, id: &str, now: i64) -> Result<Option<Pending>, StoreError> {
    let row = db::query("SELECT id, app_id, request, created_at FROM oauth2_pending WHERE id = $1 AND expires_at > $2")
        .bind(id)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        let text: String = r.try_get("request")?;
        Ok(Pending {
            id: r.try_get("id")?,
            app_id: r.try_get("app_id")?,
            request: crate::from_json_text(&text)?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Drops pending request `id` (answered); whether it was still there.
pub async fn forget_pending(conn: &mut Conn, id: &str) -> Result<bool, StoreError> {
    Ok(db::query("DELETE FROM oauth2_pending WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// A grant to an app.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub app_id: String,
    /// The person; none for a `client_credentials` grant (the app itself).
    pub user_id: Option<String>,
    pub company_id: String,
    pub session_id: Option<String>,
    pub scope: String,
    /// What its ID tokens say besides the person (nonce, auth_time, amr, idp).
    pub details: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A grant's live condition, for `g`: not revoked, not past its end, its session (if
/// any) not ended.
const LIVE: &str = "g.revoked_at IS NULL AND g.expires_at > $2 AND (g.session_id IS NULL OR EXISTS \
     (SELECT 1 FROM sessions s WHERE s.id = g.session_id AND s.ended_at IS NULL AND s.expires_at > $2))";

const GRANT_COLUMNS: &str =
    "g.id, g.app_id, g.user_id, g.company_id, g.session_id, g.scope, g.details, g.created_at, g.expires_at";

fn read_grant(r: &db::Row) -> Result<Grant, StoreError> {
    let details: String = r.try_get("details")?;
    Ok(Grant {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        user_id: r.try_get("user_id")?,
        company_id: r.try_get("company_id")?,
        session_id: r.try_get("session_id")?,
        scope: r.try_get("scope")?,
        details: crate::from_json_text(&details)?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// Starts a grant.
pub async fn create_grant(conn: &mut Conn, g: &Grant) -> Result<(), StoreError> {
    db::query(
        "INSERT INTO oauth2_grants (id, app_id, user_id, company_id, session_id, scope, details, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&g.id)
    .bind(&g.app_id)
    .bind(g.user_id.as_deref())
    .bind(&g.company_id)
    .bind(g.session_id.as_deref())
    .bind(&g.scope)
    .bind(g.details.to_string())
    .bind(g.created_at)
    .bind(g.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A token of a grant, as issued.
pub struct NewToken<'a> {
    pub grant_id: &'a str,
    pub kind: &'static str,
    pub secret: &'a str,
    pub now: i64,
    pub expires_at: i64,
    /// A code's redirect URI and PKCE challenge.
    pub redirect_uri: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
}

/// Stores a token's hash.
pub async fn add_token(conn: &mut Conn, t: &NewToken<'_>) -> Result<(), StoreError> {
    db::query(
        "INSERT INTO oauth2_tokens (hash, grant_id, kind, redirect_uri, code_challenge, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(hash_secret(t.secret))
    .bind(t.grant_id)
    .bind(t.kind)
    .bind(t.redirect_uri)
    .bind(t.code_challenge)
    .bind(t.now)
    .bind(t.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A code or refresh token presented to the token endpoint.
#[derive(Debug)]
pub enum Redeemed {
    /// Live and now used up: its grant, and a code's redirect URI and challenge.
    Fresh {
        grant: Box<Grant>,
        redirect_uri: Option<String>,
        code_challenge: Option<String>,
    },
    /// Used before by the same app: the grant it belongs to is revoked now (RFC 6749
    /// §4.1.2, and refresh-token reuse detection).
    Reused,
    /// Unknown, expired, of a grant that ended, of another app, or of another kind.
    Invalid,
}

/// Uses up the code or refresh token `secret` (`kind`) of app `app_id`, once: a second
/// use revokes the whole grant, and everything issued from it stops working. Another
/// app presenting it changes nothing.
pub async fn redeem(
    conn: &mut Conn,
    kind: &'static str,
    secret: &str,
    app_id: &str,
    now: i64,
) -> Result<Redeemed, StoreError> {
    let hash = hash_secret(secret);
    let used = db::query(
        "UPDATE oauth2_tokens SET used_at = $2 WHERE hash = $1 AND kind = $3 AND used_at IS NULL AND expires_at > $2 \
         AND grant_id IN (SELECT id FROM oauth2_grants WHERE app_id = $4) RETURNING grant_id, redirect_uri, code_challenge",
    )
    .bind(&hash)
    .bind(now)
    .bind(kind)
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = used {
        let grant_id: String = r.try_get("grant_id")?;
        let redirect_uri = r.try_get("redirect_uri")?;
        let code_challenge = r.try_get("code_challenge")?;
        return Ok(match live_grant(conn, &grant_id, now).await? {
            Some(grant) => Redeemed::Fresh {
                grant: Box::new(grant),
                redirect_uri,
                code_challenge,
            },
            None => Redeemed::Invalid,
        });
    }
    let reused: Option<String> = db::query_scalar(
        "SELECT t.grant_id FROM oauth2_tokens t JOIN oauth2_grants g ON g.id = t.grant_id \
         WHERE t.hash = $1 AND t.kind = $2 AND g.app_id = $3 AND t.used_at IS NOT NULL",
    )
    .bind(&hash)
    .bind(kind)
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    match reused {
        Some(grant_id) => {
            let why = if kind == "code" {
                "code_reused"
            } else {
                "refresh_token_reused"
            };
            end_grants(conn, Ending::Grant(&grant_id), now, why).await?;
            Ok(Redeemed::Reused)
        }
        None => Ok(Redeemed::Invalid),
    }
}

/// Grant `id`, if live.
pub async fn live_grant(conn: &mut Conn, id: &str, now: i64) -> Result<Option<Grant>, StoreError> {
    let row = db::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM oauth2_grants g WHERE g.id = $1 AND {LIVE}"
    ))
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(read_grant).transpose()
}

/// The live access or refresh token `secret`: its grant and its issue and expiry times.
pub async fn find_token(
    conn: &mut Conn,
    kind: &'static str,
    secret: &str,
    now: i64,
) -> Result<Option<(Grant, i64, i64)>, StoreError> {
    let row = db::query(&format!(
        "SELECT {GRANT_COLUMNS}, t.created_at AS issued_at, t.expires_at AS token_expires_at FROM oauth2_tokens t \
         JOIN oauth2_grants g ON g.id = t.grant_id WHERE t.hash = $1 AND t.kind = $3 AND t.used_at IS NULL \
         AND t.expires_at > $2 AND {LIVE}"
    ))
    .bind(hash_secret(secret))
    .bind(now)
    .bind(kind)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((read_grant(&r)?, r.try_get("issued_at")?, r.try_get("token_expires_at")?)))
        .transpose()
}

/// Revokes the access or refresh token `secret` if it was issued to `app_id` (RFC 7009):
/// a refresh token takes its whole grant with it, an access token only itself. Returns
/// whether something was revoked.
pub async fn revoke_token(conn: &mut Conn, secret: &str, app_id: &str, now: i64) -> Result<bool, StoreError> {
    let hash = hash_secret(secret);
    let found: Option<(String, String)> = db::query_as(
        "SELECT t.grant_id, t.kind FROM oauth2_tokens t JOIN oauth2_grants g ON g.id = t.grant_id \
         WHERE t.hash = $1 AND g.app_id = $2 AND t.kind IN ('access', 'refresh')",
    )
    .bind(&hash)
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some((grant_id, kind)) if kind == "refresh" => {
            end_grants(conn, Ending::Grant(&grant_id), now, "revoked_by_app").await?;
            Ok(true)
        }
        Some(_) => {
            db::query("UPDATE oauth2_tokens SET expires_at = $2 WHERE hash = $1 AND expires_at > $2")
                .bind(&hash)
                .bind(now)
                .execute(conn)
                .await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whose grants end.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// A person's, in one company (deactivation, removal: T2).
    User { user_id: &'a str, company_id: &'a str },
    /// The members' of an organization, in its company (its deletion: T2).
    Organization {
        organization_id: &'a str,
        company_id: &'a str,
    },
    /// Everyone's who signed in through a connection (its deletion: T2).
    Connection(&'a str),
    /// One Roster session's (sign-out).
    Session(&'a str),
    /// One grant (its code or refresh token used twice, revoked by the app, or its
    /// person no longer admitted).
    Grant(&'a str),
}

/// What [`end_grants`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    pub grants: u64,
    /// Live refresh tokens of those grants (now unusable).
    pub refresh_tokens: u64,
    /// Back-channel logouts queued.
    pub logouts: u64,
    /// The names of the apps told by back-channel logout, each once.
    pub apps_notified: Vec<String>,
}

/// Revokes the live grants `which` names, with the reason `why`, and queues a
/// back-channel logout for each app that asked for them and each session concerned.
/// Called in the transaction that ends the sessions, before it ends them.
pub async fn end_grants(conn: &mut Conn, which: Ending<'_>, now: i64, why: &str) -> Result<Ended, StoreError> {
    let (filter, a, b) = match which {
        Ending::User { user_id, company_id } => ("g.user_id = $3 AND g.company_id = $4", user_id, Some(company_id)),
        Ending::Organization {
            organization_id,
            company_id,
        } => (
            "g.company_id = $4 AND g.user_id IN (SELECT user_id FROM memberships WHERE organization_id = $3)",
            organization_id,
            Some(company_id),
        ),
        Ending::Connection(id) => (
            "g.session_id IN (SELECT id FROM sessions WHERE connection_id = $3) AND ($4 IS NULL OR g.company_id = $4)",
            id,
            None,
        ),
        Ending::Session(id) => ("g.session_id = $3 AND ($4 IS NULL OR g.company_id = $4)", id, None),
        Ending::Grant(id) => ("g.id = $3 AND ($4 IS NULL OR g.company_id = $4)", id, None),
    };
    // What is about to be revoked, for the deprovisioning receipt.
    let mut refresh_tokens = 0u64;
    let mut apps_notified: Vec<String> = Vec::new();
    for r in db::query(&format!(
        "SELECT a.name, a.backchannel_logout_uri IS NOT NULL AND g.session_id IS NOT NULL AS told, \
         (SELECT COUNT(*) FROM oauth2_tokens t WHERE t.grant_id = g.id AND t.kind = 'refresh' \
          AND t.used_at IS NULL AND t.expires_at > $1) AS refresh \
         FROM oauth2_grants g JOIN apps a ON a.id = g.app_id \
         WHERE g.revoked_at IS NULL AND g.expires_at > $2 AND {filter}"
    ))
    .bind(now)
    .bind(now)
    .bind(a)
    .bind(b)
    .fetch_all(&mut *conn)
    .await?
    {
        refresh_tokens += u64::try_from(r.try_get::<i64, _>("refresh")?).unwrap_or(0);
        let name: String = r.try_get("name")?;
        if r.try_get::<bool, _>("told")? && !matches!(which, Ending::Grant(_)) && !apps_notified.contains(&name) {
            apps_notified.push(name);
        }
    }
    apps_notified.sort();
    // Apps hear of sessions that end, not of a grant revoked by the app itself or for
    // misuse of its own tokens. A logout already delivered for the same app and session
    // (the person signed in to the app again in it) is sent again.
    let logouts = if matches!(which, Ending::Grant(_)) {
        0
    } else {
        db::query(&format!(
            "INSERT INTO oauth2_logouts (id, app_id, user_id, session_id, created_at, next_attempt_at) \
             SELECT DISTINCT 'bcl-' || g.app_id || '-' || g.session_id, g.app_id, g.user_id, g.session_id, $1, $1 \
             FROM oauth2_grants g JOIN apps a ON a.id = g.app_id \
             WHERE a.backchannel_logout_uri IS NOT NULL AND g.session_id IS NOT NULL AND g.user_id IS NOT NULL \
             AND g.revoked_at IS NULL AND g.expires_at > $2 AND {filter} \
             ON CONFLICT (id) DO UPDATE SET attempts = 0, delivered_at = NULL, given_up_at = NULL, last_error = NULL, \
             next_attempt_at = excluded.next_attempt_at \
             WHERE oauth2_logouts.delivered_at IS NOT NULL OR oauth2_logouts.given_up_at IS NOT NULL"
        ))
        .bind(now)
        .bind(now)
        .bind(a)
        .bind(b)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    };
    let grants = db::query(&format!(
        "UPDATE oauth2_grants SET revoked_at = $1, revoked_why = $5 WHERE id IN \
         (SELECT g.id FROM oauth2_grants g WHERE g.revoked_at IS NULL AND g.expires_at > $2 AND {filter})"
    ))
    .bind(now)
    .bind(now)
    .bind(a)
    .bind(b)
    .bind(why)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(Ended {
        grants,
        refresh_tokens,
        logouts,
        apps_notified,
    })
}

/// Moves the live grants of session `from` to session `to` of the same person, ending
/// with it at `expires_at`: a new sign-in in the same browser (an app asked for a
/// fresh one) replaces the session without signing the person out of the other apps.
pub async fn carry_grants(conn: &mut Conn, from: &str, to: &str, expires_at: i64, now: i64) -> Result<u64, StoreError> {
    Ok(db::query(
        "UPDATE oauth2_grants SET session_id = $2, expires_at = $3 \
         WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $4",
    )
    .bind(from)
    .bind(to)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A person as apps see them: who they are and their active memberships in the app's
/// organizations (all of the company's when the app names none), with their teams.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub full_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// (organization id, name, role, team names), by organization name.
    pub organizations: Vec<(String, String, String, Vec<String>)>,
}

/// `user_id` as app `app_id` sees them; `None` when the user does not exist.
pub async fn member(conn: &mut Conn, user_id: &str, app_id: &str) -> Result<Option<Member>, StoreError> {
    let user = db::query("SELECT id, email, full_name, given_name, family_name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(u) = user else { return Ok(None) };
    let in_app = "o.company_id = (SELECT company_id FROM apps WHERE id = $2) AND (NOT EXISTS \
         (SELECT 1 FROM app_organizations ao WHERE ao.app_id = $2) OR o.id IN \
         (SELECT organization_id FROM app_organizations WHERE app_id = $2))";
    let orgs = db::query(&format!(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND m.state = 'active' AND {in_app} ORDER BY o.name_key"
    ))
    .bind(user_id)
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    let teams = db::query(&format!(
        "SELECT t.organization_id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         JOIN organizations o ON o.id = t.organization_id WHERE tm.user_id = $1 AND {in_app} ORDER BY t.name_key"
    ))
    .bind(user_id)
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut organizations = Vec::with_capacity(orgs.len());
    for o in &orgs {
        let id: String = o.try_get("id")?;
        let mut names = Vec::new();
        for t in &teams {
            if t.try_get::<String, _>("organization_id")? == id {
                names.push(t.try_get("name")?);
            }
        }
        organizations.push((id, o.try_get("name")?, o.try_get("role")?, names));
    }
    Ok(Some(Member {
        user_id: u.try_get("id")?,
        email: u.try_get("email")?,
        full_name: u.try_get("full_name")?,
        given_name: u.try_get("given_name")?,
        family_name: u.try_get("family_name")?,
        organizations,
    }))
}

/// A new grant id.
pub fn new_grant_id() -> String {
    format!("grant-{}", new_id())
}
