//! A whole SSO sign-in, inside the caller's write transaction: load the directory the
//! rules read, plan (J1–J10, G1–G3, T1), apply, start the session. A denied plan changes
//! nothing (J10).

use roster_core::plan::{plan_sign_in, Denied, SignIn};
use roster_core::signin::SignInFacts;
use roster_store::audit::{self, NewEvent};
use roster_store::connections::Connection;
use roster_store::oauth2;
use roster_store::provisioning::{self, Known};
use roster_store::sessions::{self, Session};
use roster_store::{Conn, Ctx, StoreError};
use serde_json::json;

pub enum Outcome {
    Allowed {
        user_id: String,
        session: Session,
        /// The session token, for the cookie (only its hash is stored).
        token: String,
    },
    Denied(Denied),
}

/// Loads what the sign-in of `facts` through `connection` depends on and plans it:
/// what a sign-in would do, changing nothing (the preview), with the rows it read.
pub async fn plan(
    conn: &mut Conn,
    connection: &Connection,
    facts: &SignInFacts,
    now: i64,
) -> Result<(SignIn, Known), StoreError> {
    let (state, known) = provisioning::load(conn, connection, &facts.email.value, &facts.team_names(), now).await?;
    Ok((plan_sign_in(&state, facts), known))
}

/// What the browser brings to a sign-in besides the IdP's facts.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// The end the IdP set for the session (SAML `SessionNotOnOrAfter`).
    pub idp_not_after: Option<i64>,
    /// The token of the session this browser already holds: a new sign-in ends it.
    pub previous_session: Option<String>,
    /// The session ends after this long without use (ms).
    pub idle_timeout_ms: Option<i64>,
}

/// Plans and applies the sign-in of `facts` through `connection`. The session lasts the
/// plan's minutes, and never past the IdP's end for it (T1).
pub async fn sign_in(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    facts: &SignInFacts,
    browser: &Browser,
) -> Result<Outcome, StoreError> {
    let (outcome, known) = plan(conn, connection, facts, ctx.now).await?;
    let plan = match outcome {
        SignIn::Denied(denied) => return Ok(Outcome::Denied(denied)),
        SignIn::Allowed(plan) => plan,
    };
    let ctx = ctx.via_connection(&connection.id);
    let user_id = provisioning::apply_with(conn, &ctx, &plan.plan, connection, known)
        .await?
        .user_id;
    // The plan found an active membership; a deactivation racing this sign-in either
    // committed before this read (refused here, nothing kept) or waits for this commit
    // and then ends the session too (S6, T2).
    if !sessions::lock_active_membership(conn, &user_id, &connection.id).await? {
        return Err(StoreError::conflict(
            "membership_changed",
            "the membership changed during the sign-in; sign in again",
        ));
    }
    let expires_at = plan.session.expires_at(ctx.now, browser.idp_not_after);
    let mut started = json!({
        "expires_at": expires_at,
        "minutes": plan.session.minutes,
        "protocol": connection.protocol.as_str(),
    });
    // What the IdP sent that was ignored, and why (an Entra group overage among them).
    if let (false, Some(obj)) = (plan.plan.warnings.is_empty(), started.as_object_mut()) {
        obj.insert("warnings".into(), json!(plan.plan.warnings));
    }
    let (session, token) = sessions::start(
        conn,
        &user_id,
        &connection.company_id,
        &connection.id,
        ctx.now,
        expires_at,
        browser.idle_timeout_ms,
    )
    .await?;
    if let Some(previous) = &browser.previous_session {
        // One session per browser: a new sign-in ends the one it had. What apps were
        // granted through it moves to the new session when it is the same person in the
        // same company (an app asked for a fresh sign-in), so the other apps keep theirs.
        if let Some(old) = sessions::find_live(conn, previous, ctx.now).await? {
            if old.user_id == user_id && old.company_id.as_deref() == Some(connection.company_id.as_str()) {
                oauth2::carry_grants(conn, &old.id, &session.id, session.expires_at, ctx.now).await?;
            }
        }
        if sessions::end(conn, previous, ctx.now).await? {
            audit::record(
                conn,
                &ctx.because("T1", "a new sign-in in the same browser"),
                NewEvent {
                    action: "session.end",
                    object_kind: "user",
                    object_id: &user_id,
                    company_id: Some(&connection.company_id),
                    user_id: Some(&user_id),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    audit::record(
        conn,
        &ctx.because(plan.session.rule, plan.session.because.clone()),
        NewEvent {
            action: "session.start",
            object_kind: "session",
            object_id: &session.id,
            company_id: Some(&connection.company_id),
            user_id: Some(&user_id),
            after: Some(started),
            ..Default::default()
        },
    )
    .await?;
    Ok(Outcome::Allowed {
        user_id,
        session,
        token,
    })
}
