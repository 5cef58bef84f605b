//! The overview, organizations and their members: what the viewer may see, and the
//! changes they may make (deactivate, reactivate, remove a member).

use super::{check_csrf, q, render, see_other, when, Nav, Problem, Viewer};
use crate::service::explain::{self, Explanation, Why};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use futures::future::BoxFuture;
use roster_core::{MemberState, Role};
use roster_store::db::{self, Conn};
use roster_store::directory::members::{self, Filter};
use roster_store::directory::organizations::{self, Organization};
use roster_store::directory::{invitations, teams, users};
use roster_store::{activity, connections};
use roster_store::{Ctx, StoreError};
use serde::Deserialize;

/// Members shown per page.
const PAGE: i64 = 50;

/// Audit events the overview counts into the chart itself, at most, before showing it;
/// the background roll-up does the rest.
const OVERVIEW_ROLL_UP: i64 = 2_000;

/// An organization in a listing.
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub company: String,
    pub seats_used: i64,
    pub seat_limit: Option<i64>,
}

async fn org_row(conn: &mut Conn, o: Organization, now: i64) -> Result<OrgRow, StoreError> {
    Ok(OrgRow {
        seats_used: organizations::seats_used(conn, &o.id, now).await?,
        id: o.id,
        name: o.name,
        company: o.company,
        seat_limit: o.seat_limit,
    })
}

async fn org_rows(conn: &mut Conn, company: Option<&str>, now: i64) -> Result<Vec<OrgRow>, StoreError> {
    let mut rows = Vec::new();
    for o in organizations::list(conn, company).await? {
        rows.push(org_row(conn, o, now).await?);
    }
    Ok(rows)
}

/// A connection's health on the overview.
pub struct ConnRow {
    pub id: String,
    pub name: String,
    pub company: String,
    pub protocol: &'static str,
    pub scim: bool,
    pub last_sign_in: String,
    pub last_scim: String,
    pub errors_24h: i64,
    /// IdP certificates expired or expiring within 30 days.
    pub certificates: Vec<String>,
}

async fn conn_rows(conn: &mut Conn, company: Option<&str>, now: i64) -> Result<Vec<ConnRow>, StoreError> {
    let mut rows = Vec::new();
    for c in connections::list(conn, company).await? {
        let last_sign_in: Option<i64> =
            db::query_scalar("SELECT MAX(created_at) FROM sessions WHERE connection_id = $1")
                .bind(&c.id)
                .fetch_one(&mut *conn)
                .await?;
        let last_scim: Option<i64> =
            db::query_scalar("SELECT MAX(last_used_at) FROM scim_tokens WHERE connection_id = $1")
                .bind(&c.id)
                .fetch_one(&mut *conn)
                .await?;
        let errors_24h: i64 = db::query_scalar("SELECT COUNT(*) FROM error_log WHERE connection_id = $1 AND at >= $2")
            .bind(&c.id)
            .bind(now - 86_400_000)
            .fetch_one(&mut *conn)
            .await?;
        let never = || "never".to_string();
        let saml: Option<crate::routes::admin::connection_settings::SamlSettings> = c
            .settings
            .get("saml")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let certificates = saml.map(|s| s.certificate_report(now).1).unwrap_or_default();
        rows.push(ConnRow {
            certificates,
            id: c.id,
            name: c.name,
            company: c.company,
            protocol: c.protocol.as_str(),
            scim: c.scim,
            last_sign_in: last_sign_in.map_or_else(never, when),
            last_scim: last_scim.map_or_else(never, when),
            errors_24h,
        });
    }
    Ok(rows)
}

/// Who the viewer is, for the navigation bar.
async fn who(state: &AppState, viewer: &Viewer) -> Result<String, Problem> {
    use roster_store::console::Holder;
    match &viewer.session.holder {
        Holder::Operator { .. } => Ok("Operator".to_string()),
        Holder::Owner { user_id, .. } => {
            let id = user_id.clone();
            let user = state
                .store
                .read(move |db| Box::pin(async move { users::find(db, &id).await }))
                .await?;
            Ok(user.email)
        }
    }
}

pub(super) async fn nav(state: &AppState, viewer: &Viewer, current: &'static str) -> Result<Nav, Problem> {
    Ok(viewer.nav(current, &who(state, viewer).await?))
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    nav: Option<Nav>,
    organizations: Vec<OrgRow>,
    connections: Vec<ConnRow>,
    chart: super::chart::Chart,
}

/// `GET /admin`.
pub async fn overview(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let now = state.now();
    // The chart counts what the background roll-up has not reached yet too.
    state
        .store
        .write(|db| Box::pin(async move { activity::roll_up(db, OVERVIEW_ROLL_UP).await }))
        .await?;
    let (organizations, connections, days) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let orgs = org_rows(db, company.as_deref(), now).await?;
                let conns = conn_rows(db, company.as_deref(), now).await?;
                let days = activity::days(db, company.as_deref(), super::chart::first_day(now)).await?;
                Ok((orgs, conns, days))
            })
        })
        .await?;
    let page = OverviewPage {
        nav: Some(nav(&state, &viewer, "overview").await?),
        organizations,
        connections,
        chart: super::chart::draw(&days, now),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/organizations.html")]
struct OrganizationsPage<'a> {
    nav: Option<Nav>,
    organizations: Vec<OrgRow>,
    /// The operator may make organizations.
    operator: bool,
    csrf: &'a str,
    notice: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /admin/organizations`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(nq): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let now = state.now();
    let organizations = state
        .store
        .read(move |db| Box::pin(async move { org_rows(db, company.as_deref(), now).await }))
        .await?;
    let page = OrganizationsPage {
        nav: Some(nav(&state, &viewer, "organizations").await?),
        organizations,
        operator: viewer.is_operator(),
        csrf: &viewer.session.csrf,
        notice: nq.notice.as_deref().filter(|n| n.len() <= 200),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The organization `ident` if it is the viewer's to see; otherwise not found (the same
/// answer as for one that does not exist).
pub(super) async fn visible(
    conn: &mut Conn,
    viewer_company: Option<&str>,
    ident: &str,
) -> Result<Organization, StoreError> {
    let org = organizations::find(conn, ident).await?;
    match viewer_company {
        Some(c) if c != org.company_id => Err(StoreError::not_found("organization", ident)),
        _ => Ok(org),
    }
}

/// Runs `change` in a write on organization `ident`, if it is the viewer's to see (else
/// not found), audited as the viewer: every console change to an organization goes
/// through here.
pub(super) async fn change_organization<T, F>(
    state: &AppState,
    viewer: &Viewer,
    ident: String,
    change: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut Conn, Ctx, Organization) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
{
    let (ctx, company) = (viewer.ctx(state), viewer.company().map(str::to_string));
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let org = visible(db, company.as_deref(), &ident).await?;
                change(db, ctx, org).await
            })
        })
        .await
}

#[derive(Deserialize, Default)]
pub struct MemberQuery {
    #[serde(default)]
    email: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    role: String,
    after: Option<String>,
    notice: Option<String>,
}

pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: &'static str,
    pub active: bool,
    pub source: &'static str,
    pub teams: String,
}

pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub team: String,
    pub expires: String,
}

pub struct TeamRow {
    pub name: String,
    pub member_count: i64,
}

#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage<'a> {
    nav: Option<Nav>,
    org: OrgRow,
    teams: Vec<TeamRow>,
    invitations: Vec<InvitationRow>,
    members: Vec<MemberRow>,
    filter: &'a MemberQuery,
    next: Option<String>,
    notice: Option<&'a str>,
    csrf: &'a str,
}

/// `GET /admin/organizations/{org}`: its teams and a page of its members.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(ident): Path<String>,
    Query(mq): Query<MemberQuery>,
) -> Result<Response, Problem> {
    let filter = Filter {
        state: (!mq.state.is_empty())
            .then(|| MemberState::parse(&mq.state))
            .transpose()
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.message))?,
        role: (!mq.role.is_empty())
            .then(|| Role::parse(&mq.role))
            .transpose()
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.message))?,
        email_prefix: Some(mq.email.trim().to_string()).filter(|e| !e.is_empty() && e.len() <= 320),
    };
    let after = mq.after.clone().filter(|a| a.len() <= 64);
    let company = viewer.company().map(str::to_string);
    let now = state.now();
    let (org, teams, members, pending) = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = visible(db, company.as_deref(), &ident).await?;
                let teams = teams::list(db, &org).await?;
                let members = members::list_filtered(db, &org, &filter, after.as_deref(), PAGE).await?;
                let pending = invitations::list_pending(db, &org, now).await?;
                Ok((org_row(db, org, now).await?, teams, members, pending))
            })
        })
        .await?;
    let next = (members.len() as i64 == PAGE)
        .then(|| members.last())
        .flatten()
        .map(|m| {
            format!(
                "/admin/organizations/{}?email={}&state={}&role={}&after={}",
                org.id,
                q(&mq.email),
                q(&mq.state),
                q(&mq.role),
                q(&m.user_id)
            )
        });
    let page = OrganizationPage {
        nav: Some(nav(&state, &viewer, "organizations").await?),
        teams: teams
            .into_iter()
            .map(|t| TeamRow {
                name: t.name,
                member_count: t.member_count,
            })
            .collect(),
        invitations: pending
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                email: i.email,
                role: i.role,
                team: i.team.unwrap_or_default(),
                expires: when(i.expires_at),
            })
            .collect(),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                active: m.state == MemberState::Active,
                role: m.role.as_str(),
                source: m.source.as_str(),
                teams: m.teams.join(", "),
                user_id: m.user_id,
                email: m.email,
                name: m.full_name,
            })
            .collect(),
        org,
        filter: &mq,
        next,
        notice: mq.notice.as_deref().filter(|n| n.len() <= 200),
        csrf: &viewer.session.csrf,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct MemberAction {
    action: String,
    /// For `role`: the new role.
    #[serde(default)]
    role: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// What a member action changes.
enum MemberChange {
    State(MemberState),
    Role(Role),
    Remove,
}

/// `POST /admin/organizations/{org}/members/{user}`: deactivate, reactivate, change the
/// role, or remove (the operator confirms a removal with the admin token if they have
/// not entered it for a few minutes). A refusal (the last owner, say) comes back as a
/// notice.
pub async fn member_action(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((ident, user)): Path<(String, String)>,
    Form(form): Form<MemberAction>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let here = format!("/admin/organizations/{ident}");
    let change = match form.action.as_str() {
        "deactivate" => MemberChange::State(MemberState::Deactivated),
        "reactivate" => MemberChange::State(MemberState::Active),
        "role" => match Role::parse(&form.role) {
            Ok(r) => MemberChange::Role(r),
            Err(e) => return Ok(see_other(&format!("{here}?notice={}", q(&e.message)))),
        },
        "remove" => MemberChange::Remove,
        _ => return Err(Problem::new(StatusCode::BAD_REQUEST, "Unknown action.")),
    };
    let remove = matches!(change, MemberChange::Remove);
    if remove && viewer.is_operator() && !viewer.recently_authenticated(state.now()) {
        return Ok(see_other(&format!("/admin/reauth?next={}", q(&here))));
    }
    let done = match &change {
        MemberChange::State(MemberState::Deactivated) => "deactivated".to_string(),
        MemberChange::State(MemberState::Active) => "reactivated".to_string(),
        MemberChange::Role(r) => format!("is now {}", r.as_str()),
        MemberChange::Remove => "removed".to_string(),
    };
    let changed = change_organization(&state, &viewer, ident, move |db, ctx, org| {
        Box::pin(async move {
            let member = members::find(db, &org, &user).await?;
            match change {
                MemberChange::State(s) => {
                    members::update(db, &ctx, &org, &member.user_id, None, Some(s)).await?;
                }
                MemberChange::Role(r) => {
                    members::update(db, &ctx, &org, &member.user_id, Some(r), None).await?;
                }
                MemberChange::Remove => members::remove(db, &ctx, &org, &member.user_id).await?,
            }
            Ok(member.email)
        })
    })
    .await;
    let notice = match changed {
        Ok(email) => format!("{email} {done}."),
        Err(e) => {
            let f = crate::error::Failure::from(e);
            if f.kind.status().is_server_error() || f.kind == crate::error::Kind::NotFound {
                return Err(f.into());
            }
            f.message
        }
    };
    Ok(see_other(&format!("{here}?notice={}", q(&notice))))
}

#[derive(Template)]
#[template(path = "console/why.html")]
struct WhyPage<'a> {
    nav: Option<Nav>,
    org_id: &'a str,
    e: &'a Explanation,
    facts: Vec<(String, Option<&'a Why>)>,
}

/// `GET /admin/organizations/{org}/members/{user}/why`: why this person has the access
/// they have there, from the audit trail.
pub async fn why(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((org, user)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let org_id = org.clone();
    let e = explain::explain(&state, org, user, company).await?;
    let m = &e.membership;
    let mut facts = vec![
        ("Member".to_string(), m.added.as_ref()),
        (format!("Role {}", m.role), m.role_set.as_ref()),
        (format!("State {}", m.state), m.state_set.as_ref()),
    ];
    facts.extend(e.teams.iter().map(|t| (format!("Team {}", t.team), t.added.as_ref())));
    let page = WhyPage {
        nav: Some(nav(&state, &viewer, "organizations").await?),
        org_id: &org_id,
        e: &e,
        facts,
    };
    Ok(render(StatusCode::OK, &page))
}
