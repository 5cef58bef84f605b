use super::page_limit;
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use roster_store::audit::{self, Event, Query};
use roster_store::connections;
use roster_store::directory::{companies, organizations, users};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Serialize, ToSchema)]
pub struct Actor {
    /// `admin`, `scim`, `sso` or `system`.
    kind: String,
    id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Object {
    kind: String,
    id: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: String,
    at: String,
    actor: Actor,
    /// e.g. `membership.add`.
    action: String,
    object: Object,
    company_id: Option<String>,
    organization_id: Option<String>,
    connection_id: Option<String>,
    user_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    /// The provisioning rule behind the change (`J4`, `S6`, …).
    rule: Option<String>,
    reason: Option<String>,
    trace_id: String,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            at: ts(e.at),
            actor: Actor {
                kind: e.actor_kind,
                id: e.actor_id,
            },
            action: e.action,
            object: Object {
                kind: e.object_kind,
                id: e.object_id,
            },
            company_id: e.company_id,
            organization_id: e.organization_id,
            connection_id: e.connection_id,
            user_id: e.user_id,
            before: e.before,
            after: e.after,
            rule: e.rule,
            reason: e.reason,
            trace_id: e.trace_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Company id or name.
    company: Option<String>,
    /// Organization id or name.
    organization: Option<String>,
    /// Connection id or name.
    connection: Option<String>,
    /// User id, email or username.
    user: Option<String>,
    cursor: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<ApiJson<AuditPage>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000);
    let before_seq = match q.cursor.as_deref() {
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not one this server gave out"))?,
        ),
        None => None,
    };
    let events = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let company_id = match q.company {
                    Some(c) => Some(companies::find(db, &c).await?.id),
                    None => None,
                };
                let organization_id = match q.organization {
                    Some(o) => Some(organizations::find(db, &o).await?.id),
                    None => None,
                };
                let connection_id = match q.connection {
                    Some(c) => Some(connections::find(db, &c).await?.id),
                    None => None,
                };
                let user_id = match q.user {
                    Some(u) => Some(users::find(db, &u).await?.id),
                    None => None,
                };
                audit::list(
                    db,
                    &Query {
                        company_id,
                        organization_id,
                        connection_id,
                        user_id,
                        before_seq,
                        limit,
                        ..Query::default()
                    },
                )
                .await
            })
        })
        .await?;
    let next_cursor = if events.len() as i64 == limit {
        events.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(ApiJson(AuditPage {
        events: events.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}
