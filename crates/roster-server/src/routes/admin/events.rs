//! `GET /api/v1/events`: the events feed. A reader passes the `next_cursor` it got as
//! `after` and sees every event once, in commit order, also while several nodes write
//! on PostgreSQL (see `roster_store::audit::feed`). Without `after` it starts at the
//! oldest event kept; a cursor older than the retention answers 410, so the reader
//! knows to read the directory again.

use super::page_limit;
use crate::auth::Reader;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::events::{self, Cursor, PublicEvent};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use roster_store::audit::{self, FeedQuery};
use roster_store::directory::organizations;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    /// Each `{"id", "type", "time", "organization", "cause": {"source", "rule",
    /// "reason"}, "data"}`.
    #[schema(value_type = Vec<Object>)]
    events: Vec<PublicEvent>,
    /// Pass as `after` for what comes next.
    next_cursor: Option<String>,
    /// Whether more changes were there to read than this page covered: read on at once
    /// (a page may hold fewer events than `limit`, even none, when filters leave some
    /// changes out).
    has_more: bool,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The `next_cursor` of the previous page; none: from the oldest event kept.
    after: Option<String>,
    /// Comma-separated event types (`membership.deactivated,team.member_added`).
    types: Option<String>,
    /// Organization id or name.
    organization: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// Directory changes in commit order, after a cursor. The admin token, an API key with
/// `events:read`, or an app's `client_credentials` token with it (its company's).
#[utoipa::path(get, path = "/events", tag = "events", params(EventsQuery),
    responses((status = 200, body = EventsPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 410, body = ErrorBody)), security(("admin_token" = []), ("api_key" = [])))]
async fn feed(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<ApiJson<EventsPage>, ApiError> {
    reader.require("events:read")?;
    let limit = page_limit(q.limit, 100, 1000);
    let now = state.now();
    let since = now - i64::from(state.config.events_retention_days) * 86_400_000;
    let after = match q.after.as_deref().filter(|a| !a.is_empty()) {
        Some(raw) => {
            let c = Cursor::decode(raw)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "after is not a cursor this server gave out"))?;
            if c.at < since {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "cursor_expired",
                    format!(
                        "the cursor is older than the {} days events are kept; read the directory again and start without `after`",
                        state.config.events_retention_days
                    ),
                ));
            }
            Some(c)
        }
        None => None,
    };
    let types: Vec<String> = q
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = types.iter().find(|t| !events::is_type(t)) {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!("'{bad}' is not an event type"),
        ));
    }
    let org = q.organization.clone();
    let rows = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let organization_id = match org {
                    Some(o) => Some(organizations::find(db, &o).await?.id),
                    None => None,
                };
                // Every change is read, and filtered here, so that the cursor moves past
                // those the reader did not ask for too. Without `after`, from the oldest
                // kept; with it, whatever follows it (the 410 above is the retention).
                let rows = audit::feed(
                    db,
                    &FeedQuery {
                        after: after.map(|c| c.position),
                        since: if after.is_some() { i64::MIN } else { since },
                        limit,
                    },
                )
                .await?;
                Ok((rows, organization_id))
            })
        })
        .await?;
    let (rows, organization_id) = rows;
    let has_more = rows.len() as i64 == limit;
    // The cursor is stamped with the time it is handed out: it expires that long after
    // the reader last read, whether or not anything happened meanwhile.
    let next_cursor = rows
        .last()
        .map(|(position, _)| *position)
        .or(after.map(|c| c.position))
        .map(|position| Cursor { position, at: now }.encode());
    let events = rows
        .iter()
        .filter(|(_, e)| reader.reach.sees(e.organization_id.as_deref(), e.company_id.as_deref()))
        .filter_map(|(_, e)| events::public(e, ts))
        .filter(|p| types.is_empty() || types.iter().any(|t| t == p.kind))
        .filter(|p| organization_id.is_none() || p.organization == organization_id)
        .collect();
    Ok(ApiJson(EventsPage {
        events,
        next_cursor,
        has_more,
    }))
}
