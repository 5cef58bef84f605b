//! `/api/v1/directory`: the directory as an app reads it, with the `directory:read`
//! scope of an API key or of an app's `client_credentials` token (or the admin token),
//! and only within that credential's organizations. Pages follow `next_cursor`;
//! `updated_since` keeps what changed since a time (what was removed shows in the
//! events feed, not here). Outside the reader's reach an object is not found.

use super::page_limit;
use crate::auth::Reader;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use roster_store::directory::organizations;
use roster_store::directory::view::{self, Person, Scope};
use roster_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people))
        .routes(routes!(get_person))
        .routes(routes!(list_organizations))
        .routes(routes!(list_members))
        .routes(routes!(list_teams))
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    organization_id: String,
    organization: String,
    /// `member`, `editor` or `owner`.
    role: String,
    /// `active` or `deactivated`.
    state: String,
    /// How the membership came: `jit`, `scim`, `invite` or `admin`.
    source: String,
    teams: Vec<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PersonView {
    id: String,
    email: String,
    username: String,
    name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    /// Whether the person holds an active membership within the reader's reach.
    active: bool,
    /// Their memberships within the reader's reach.
    organizations: Vec<MembershipView>,
    created_at: String,
    updated_at: String,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        // The person changed when their profile or a membership did.
        let updated = p.memberships.iter().map(|m| m.updated_at).fold(p.updated_at, i64::max);
        Self {
            active: p.memberships.iter().any(|m| m.state == "active"),
            organizations: p
                .memberships
                .into_iter()
                .map(|m| MembershipView {
                    organization_id: m.organization_id,
                    organization: m.organization,
                    role: m.role,
                    state: m.state,
                    source: m.source,
                    teams: m.teams,
                    created_at: ts(m.created_at),
                    updated_at: ts(m.updated_at),
                })
                .collect(),
            id: p.id,
            email: p.email,
            username: p.username,
            name: p.full_name,
            given_name: p.given_name,
            family_name: p.family_name,
            created_at: ts(p.created_at),
            updated_at: ts(updated),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PeoplePage {
    users: Vec<PersonView>,
    /// Pass as `after` for the next page; none: this was the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// RFC 3339 time: only what changed at or after it.
    updated_since: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

impl PageQuery {
    fn parse(&self) -> Result<(Option<String>, Option<i64>, i64), ApiError> {
        let after = match self.after.as_deref().filter(|a| !a.is_empty()) {
            Some(a) if uuid::Uuid::parse_str(a).is_ok() => Some(a.to_string()),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "after is not a cursor this server gave out",
                ))
            }
            None => None,
        };
        let since = match self.updated_since.as_deref() {
            Some(t) => Some(
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_updated_since",
                            "updated_since is an RFC 3339 time, such as 2026-12-01T00:00:00Z",
                        )
                    })?,
            ),
            None => None,
        };
        Ok((after, since, page_limit(self.limit, 100, 1000)))
    }
}

/// The cursor of a full page: its last id (a shorter page is the last one).
fn next<T>(page: &[T], limit: i64, id: impl Fn(&T) -> &str) -> Option<String> {
    (page.len() as i64 == limit)
        .then(|| page.last().map(|x| id(x).to_string()))
        .flatten()
}

async fn people_page(state: &AppState, scope: Scope, q: &PageQuery) -> Result<ApiJson<PeoplePage>, ApiError> {
    let (after, since, limit) = q.parse()?;
    let people = state
        .store
        .read(move |db| Box::pin(async move { view::people(db, &scope, after.as_deref(), since, limit).await }))
        .await?;
    let next_cursor = next(&people, limit, |p| &p.id);
    Ok(ApiJson(PeoplePage {
        users: people.into_iter().map(PersonView::from).collect(),
        next_cursor,
    }))
}

/// People within the reader's reach, with their memberships and teams there.
#[utoipa::path(get, path = "/directory/users", tag = "directory", params(PageQuery),
    responses((status = 200, body = PeoplePage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("admin_token" = []), ("api_key" = [])))]
async fn list_people(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<ApiJson<PeoplePage>, ApiError> {
    reader.require("directory:read")?;
    people_page(&state, reader.reach, &q).await
}

/// One person, with their memberships within the reader's reach.
#[utoipa::path(get, path = "/directory/users/{id}", tag = "directory", params(("id" = String, Path)),
    responses((status = 200, body = PersonView), (status = 404, body = ErrorBody)),
    security(("admin_token" = []), ("api_key" = [])))]
async fn get_person(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> Result<ApiJson<PersonView>, ApiError> {
    reader.require("directory:read")?;
    let scope = reader.reach;
    let found = state
        .store
        .read(move |db| Box::pin(async move { view::person(db, &scope, &id).await }))
        .await?;
    found
        .map(|p| ApiJson(PersonView::from(p)))
        .ok_or_else(|| ApiError::not_found("no such user"))
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationView {
    id: String,
    name: String,
    company: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationsPage {
    organizations: Vec<OrganizationView>,
}

/// The organizations within the reader's reach.
#[utoipa::path(get, path = "/directory/organizations", tag = "directory",
    responses((status = 200, body = OrganizationsPage)), security(("admin_token" = []), ("api_key" = [])))]
async fn list_organizations(
    State(state): State<AppState>,
    reader: Reader,
) -> Result<ApiJson<OrganizationsPage>, ApiError> {
    reader.require("directory:read")?;
    let scope = reader.reach;
    let orgs = state
        .store
        .read(move |db| Box::pin(async move { view::organizations(db, &scope).await }))
        .await?;
    Ok(ApiJson(OrganizationsPage {
        organizations: orgs
            .into_iter()
            .map(|o| OrganizationView {
                id: o.id,
                name: o.name,
                company: o.company,
                created_at: ts(o.created_at),
                updated_at: ts(o.updated_at),
            })
            .collect(),
    }))
}

/// The reader's reach narrowed to one organization (by id or name); outside it, the
/// organization is not found.
async fn organization_scope(state: &AppState, reader: &Reader, ident: String) -> Result<(String, Scope), ApiError> {
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                match organizations::find(db, &ident).await {
                    Ok(org) => Ok(Some(org)),
                    Err(StoreError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
        })
        .await?;
    // One answer whether it does not exist or is someone else's.
    found
        .and_then(|org| {
            reader
                .reach
                .narrow(&org.id, &org.company_id)
                .map(|scope| (org.id, scope))
        })
        .ok_or_else(|| ApiError::not_found("no such organization"))
}

/// An organization's members, with their role, state and teams there.
#[utoipa::path(get, path = "/directory/organizations/{org}/members", tag = "directory",
    params(("org" = String, Path, description = "Organization id or name"), PageQuery),
    responses((status = 200, body = PeoplePage), (status = 404, body = ErrorBody)),
    security(("admin_token" = []), ("api_key" = [])))]
async fn list_members(
    State(state): State<AppState>,
    reader: Reader,
    Path(org): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<ApiJson<PeoplePage>, ApiError> {
    reader.require("directory:read")?;
    let (_, scope) = organization_scope(&state, &reader, org).await?;
    people_page(&state, scope, &q).await
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    id: String,
    name: String,
    member_count: i64,
    created_at: String,
    /// When it was created or last renamed.
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamsPage {
    teams: Vec<TeamView>,
    next_cursor: Option<String>,
}

/// An organization's teams.
#[utoipa::path(get, path = "/directory/organizations/{org}/teams", tag = "directory",
    params(("org" = String, Path, description = "Organization id or name"), PageQuery),
    responses((status = 200, body = TeamsPage), (status = 404, body = ErrorBody)),
    security(("admin_token" = []), ("api_key" = [])))]
async fn list_teams(
    State(state): State<AppState>,
    reader: Reader,
    Path(org): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<ApiJson<TeamsPage>, ApiError> {
    reader.require("directory:read")?;
    let (org_id, _) = organization_scope(&state, &reader, org).await?;
    let (after, since, limit) = q.parse()?;
    let teams = state
        .store
        .read(move |db| Box::pin(async move { view::teams(db, &org_id, after.as_deref(), since, limit).await }))
        .await?;
    let next_cursor = next(&teams, limit, |t| &t.id);
    Ok(ApiJson(TeamsPage {
        teams: teams
            .into_iter()
            .map(|t| TeamView {
                id: t.id,
                name: t.name,
                member_count: t.member_count,
                created_at: ts(t.created_at),
                updated_at: ts(t.updated_at),
            })
            .collect(),
        next_cursor,
    }))
}
