//! The audit log page: newest first, filtered by organization, connection, person,
//! kind and days, paged by a cursor; an owner sees their company's events only.

use super::{q, render, when, Nav, Problem, Viewer};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_store::audit::{self, Event};
use roster_store::connections;
use roster_store::directory::{organizations, users};
use roster_store::StoreError;
use serde::Deserialize;

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    organization: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
    /// The first day shown (UTC, `YYYY-MM-DD`).
    #[serde(default)]
    from: String,
    /// The last day shown.
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

/// The start of `day` (`YYYY-MM-DD`, UTC) in Unix ms; empty is `Ok(None)`.
fn day_start(day: &str) -> Result<Option<i64>, String> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format)
        .map(|d| Some(d.midnight().assume_utc().unix_timestamp() * 1000))
        .map_err(|_| {
            format!(
                "'{}' is not a day: use YYYY-MM-DD.",
                day.chars().take(20).collect::<String>()
            )
        })
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub why: String,
    pub trace_id: String,
}

impl From<Event> for AuditRow {
    fn from(e: Event) -> Self {
        let why = match (&e.rule, &e.reason) {
            (Some(rule), Some(reason)) => format!("{rule}: {reason}"),
            (Some(rule), None) => rule.clone(),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        };
        Self {
            at: when(e.at),
            actor: e.actor_kind,
            action: e.action,
            object: format!("{} {}", e.object_kind, e.object_id),
            why,
            trace_id: e.trace_id,
        }
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    nav: Option<Nav>,
    events: Vec<AuditRow>,
    filter: &'a AuditQuery,
    next: Option<String>,
}

/// `None` when the filter names nothing (no match, rather than every event).
async fn resolve<T, F>(ident: &str, find: F) -> Result<Option<Option<T>>, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    if ident.trim().is_empty() {
        return Ok(Some(None));
    }
    match find.await {
        Ok(found) => Ok(Some(Some(found))),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /admin/audit`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(aq): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let (org, conn, user, kind) = (
        aq.organization.trim().to_string(),
        aq.connection.trim().to_string(),
        aq.user.trim().to_string(),
        aq.kind.trim().chars().take(64).collect::<String>(),
    );
    let before = aq.before;
    let (from, until) = match (day_start(&aq.from), day_start(&aq.until)) {
        (Ok(f), Ok(u)) => (f, u.map(|u| u + 86_400_000)),
        (Err(why), _) | (_, Err(why)) => return Err(Problem::new(StatusCode::BAD_REQUEST, why)),
    };
    let events = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let Some(org) = resolve(&org, organizations::find(db, &org)).await? else {
                    return Ok(Vec::new());
                };
                let Some(conn) = resolve(&conn, connections::find(db, &conn)).await? else {
                    return Ok(Vec::new());
                };
                let Some(user) = resolve(&user, users::find(db, &user)).await? else {
                    return Ok(Vec::new());
                };
                // An owner's filters stay within their company.
                if let Some(c) = &company {
                    if org.as_ref().is_some_and(|o| &o.company_id != c)
                        || conn.as_ref().is_some_and(|x| &x.company_id != c)
                    {
                        return Ok(Vec::new());
                    }
                }
                // Days become bounds on the log's order (it is written in time order).
                let from_seq = match from {
                    Some(at) => Some(audit::first_seq_at(db, at).await?),
                    None => None,
                };
                let before_seq = match until {
                    Some(at) => {
                        let end = audit::first_seq_at(db, at).await?;
                        Some(before.map_or(end, |b| b.min(end)))
                    }
                    None => before,
                };
                audit::list(
                    db,
                    &audit::Query {
                        company_id: company,
                        organization_id: org.map(|o| o.id),
                        connection_id: conn.map(|c| c.id),
                        user_id: user.map(|u| u.id),
                        action_prefix: Some(kind).filter(|k| !k.is_empty()),
                        before_seq,
                        from_seq,
                        limit: PAGE,
                    },
                )
                .await
            })
        })
        .await?;
    let next = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
        .map(|seq| {
            format!(
                "/admin/audit?organization={}&connection={}&user={}&kind={}&from={}&until={}&before={seq}",
                q(&aq.organization),
                q(&aq.connection),
                q(&aq.user),
                q(&aq.kind),
                q(&aq.from),
                q(&aq.until)
            )
        });
    let page = AuditPage {
        nav: Some(super::orgs::nav(&state, &viewer, "audit").await?),
        events: events.into_iter().map(AuditRow::from).collect(),
        filter: &aq,
        next,
    };
    Ok(render(StatusCode::OK, &page))
}
