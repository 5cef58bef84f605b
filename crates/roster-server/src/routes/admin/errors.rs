use super::page_limit;
use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use roster_store::connections;
use roster_store::error_log::{self, Entry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    at: String,
    /// `scim` or `sso`.
    kind: String,
    request: String,
    status: i64,
    code: Option<String>,
    detail: String,
    trace_id: String,
}

impl From<Entry> for ErrorView {
    fn from(e: Entry) -> Self {
        Self {
            at: ts(e.at),
            kind: e.kind,
            request: e.request,
            status: e.status,
            code: e.code,
            detail: e.detail,
            trace_id: e.trace_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorPage {
    errors: Vec<ErrorView>,
    /// Pass as `cursor` for older entries; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ErrorQuery {
    cursor: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// The connection's error log (E1): failed SCIM requests and sign-ins, newest first.
#[utoipa::path(get, path = "/connections/{id}/errors", tag = "connections", params(("id" = String, Path, description = "id or name"), ErrorQuery),
    responses((status = 200, body = ErrorPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ErrorQuery>,
) -> Result<ApiJson<ErrorPage>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000);
    let before = match q.cursor.as_deref() {
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not one this server gave out"))?,
        ),
        None => None,
    };
    let entries = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = connections::find(db, &id).await?;
                error_log::list(db, &c.id, before, limit).await
            })
        })
        .await?;
    let next_cursor = if entries.len() as i64 == limit {
        entries.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(ApiJson(ErrorPage {
        errors: entries.into_iter().map(ErrorView::from).collect(),
        next_cursor,
    }))
}
