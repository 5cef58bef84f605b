//! The deprovisioning receipt: when someone is deactivated or removed, one
//! `user.deprovision` audit event (the `user.deprovisioned` event apps see) lists
//! everything that ended as a result — the memberships, the Roster sessions (T2), the
//! apps' grants and refresh tokens, the apps told by back-channel logout — written in
//! the transaction that ended them, so an auditor sees in one place that a leaver lost
//! access everywhere, and when.

use super::organizations::Organization;
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{Ctx, StoreError};
use serde_json::{json, Value};

/// What ending someone's access in a company revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    pub sessions_ended: u64,
    pub app_grants_revoked: u64,
    pub refresh_tokens_revoked: u64,
    /// The apps told by back-channel logout, by name.
    pub apps_notified: Vec<String>,
}

impl Revoked {
    pub fn add(&mut self, other: Revoked) {
        self.sessions_ended += other.sessions_ended;
        self.app_grants_revoked += other.app_grants_revoked;
        self.refresh_tokens_revoked += other.refresh_tokens_revoked;
        for app in other.apps_notified {
            if !self.apps_notified.contains(&app) {
                self.apps_notified.push(app);
            }
        }
        self.apps_notified.sort();
    }
}

/// The receipt of one person's deprovisioning in one company, gathered while the
/// changes are made and recorded once at the end.
#[derive(Debug, Clone)]
pub struct Receipt {
    company_id: String,
    user_id: String,
    connection_id: Option<String>,
    memberships: Vec<Value>,
    organization_ids: Vec<String>,
    revoked: Revoked,
}

impl Receipt {
    pub fn new(company_id: &str, user_id: &str, connection_id: Option<&str>) -> Self {
        Self {
            company_id: company_id.to_string(),
            user_id: user_id.to_string(),
            connection_id: connection_id.map(str::to_string),
            memberships: Vec::new(),
            organization_ids: Vec::new(),
            revoked: Revoked::default(),
        }
    }

    /// A membership of `org` ended: `outcome` is `deactivated` or `removed`.
    pub fn membership(&mut self, org: &Organization, outcome: &str) {
        self.memberships
            .push(json!({ "organization_id": org.id, "organization": org.name, "state": outcome }));
        self.organization_ids.push(org.id.clone());
    }

    pub fn revoked(&mut self, r: Revoked) {
        self.revoked.add(r);
    }

    /// Records the receipt, after a `session.end` event (`session.revoked`) when
    /// sessions ended. A receipt without an ended membership records only the latter.
    pub async fn record(self, conn: &mut Conn, ctx: &Ctx) -> Result<(), StoreError> {
        // An event of one organization is that organization's readers' to see; one
        // that spans several is the company's.
        let organization_id = match self.organization_ids.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        if self.revoked.sessions_ended > 0 {
            audit::record(
                conn,
                ctx,
                NewEvent {
                    action: "session.end",
                    object_kind: "user",
                    object_id: &self.user_id,
                    company_id: Some(&self.company_id),
                    organization_id,
                    connection_id: self.connection_id.as_deref(),
                    user_id: Some(&self.user_id),
                    after: Some(json!({ "sessions_ended": self.revoked.sessions_ended })),
                    ..Default::default()
                },
            )
            .await?;
        }
        if self.memberships.is_empty() {
            return Ok(());
        }
        // The last active membership in the company ended: the person is deactivated
        // there (`user.deactivated`).
        if active_memberships(conn, &self.user_id, &self.company_id).await? == 0 {
            user_state(
                conn,
                ctx,
                &self.company_id,
                &self.user_id,
                self.connection_id.as_deref(),
                false,
            )
            .await?;
        }
        let r = &self.revoked;
        let after = json!({
            "memberships": self.memberships,
            "sessions_ended": r.sessions_ended,
            "app_grants_revoked": r.app_grants_revoked,
            "refresh_tokens_revoked": r.refresh_tokens_revoked,
            "apps_notified": r.apps_notified,
        });
        audit::record(
            conn,
            ctx,
            NewEvent {
                action: "user.deprovision",
                object_kind: "user",
                object_id: &self.user_id,
                company_id: Some(&self.company_id),
                organization_id,
                connection_id: self.connection_id.as_deref(),
                user_id: Some(&self.user_id),
                after: Some(after),
                ..Default::default()
            },
        )
        .await
    }
}

/// The person's active memberships in the company's organizations.
pub async fn active_memberships(conn: &mut Conn, user_id: &str, company_id: &str) -> Result<i64, StoreError> {
    db::query_scalar(
        "SELECT COUNT(*) FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND o.company_id = $2 AND m.state = 'active'",
    )
    .bind(user_id)
    .bind(company_id)
    .fetch_one(conn)
    .await
}

/// Records that the person became inactive in the company (no active membership left)
/// or active again (their first one back): `user.deactivate` / `user.reactivate`.
pub async fn user_state(
    conn: &mut Conn,
    ctx: &Ctx,
    company_id: &str,
    user_id: &str,
    connection_id: Option<&str>,
    active: bool,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: if active { "user.reactivate" } else { "user.deactivate" },
            object_kind: "user",
            object_id: user_id,
            company_id: Some(company_id),
            connection_id,
            user_id: Some(user_id),
            after: Some(json!({ "active": active })),
            ..Default::default()
        },
    )
    .await
}
