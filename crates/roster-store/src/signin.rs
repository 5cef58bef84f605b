//! A whole sign-in, inside the caller's transaction: plan on the current directory,
//! apply the plan, start the session (T1). A denied plan changes nothing (J10).

use crate::audit::{self, Change};
use crate::db::Conn;
use crate::sessions::{self, Session};
use crate::{connections::Connection, provisioning, Ctx, StoreError};
use roster_core::plan::{plan_sign_in, Plan};
use roster_core::signin::SignInFacts;
use serde_json::json;

pub enum Outcome {
    Allowed {
        plan: Plan,
        user_id: String,
        session: Session,
        /// The session token, for the cookie (only its hash is stored).
        token: String,
    },
    Denied(Plan),
}

/// Plans and applies the sign-in of `facts` through `connection`. The session lasts
/// the plan's minutes (T1), and never past `not_after` when the IdP set one.
pub async fn sign_in(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    facts: &SignInFacts,
    not_after: Option<i64>,
) -> Result<Outcome, StoreError> {
    let (state, known) = provisioning::load(conn, connection, &facts.email.value, &facts.team_names(), ctx.now).await?;
    let plan = plan_sign_in(&state, facts);
    if !plan.allowed {
        return Ok(Outcome::Denied(plan));
    }
    let ctx = ctx.via_connection(&connection.id);
    let user_id = provisioning::apply_with(conn, &ctx, &plan, connection, known)
        .await?
        .user_id
        .ok_or_else(|| StoreError::rule("no_user", "the sign-in was allowed but made no account"))?;
    let minutes = plan.session.as_ref().map_or(24 * 60, |s| s.minutes);
    let mut expires_at = ctx.now.saturating_add(minutes.saturating_mul(60_000));
    if let Some(cap) = not_after {
        expires_at = expires_at.min(cap);
    }
    let (session, token) = sessions::start(
        conn,
        &user_id,
        &connection.company_id,
        &connection.id,
        ctx.now,
        expires_at,
    )
    .await?;
    let (rule, because) = plan
        .session
        .as_ref()
        .map_or(("T1", "browser session default".to_string()), |s| {
            (s.rule, s.because.clone())
        });
    audit::record(
        conn,
        &ctx.because(rule, because),
        Change {
            action: "session.start",
            object_kind: "session",
            object_id: &session.id,
            company_id: Some(&connection.company_id),
            user_id: Some(&user_id),
            after: Some(json!({ "expires_at": expires_at, "minutes": minutes })),
            ..Default::default()
        },
    )
    .await?;
    Ok(Outcome::Allowed {
        plan,
        user_id,
        session,
        token,
    })
}
