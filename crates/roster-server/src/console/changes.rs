//! The console's forms that make things: an organization (the operator), a team, an
//! invitation, and revoking one. Each checks the CSRF token and the viewer's reach,
//! then calls the same store functions as the admin API, audited as the viewer.

use super::orgs::change_organization;
use super::{check_csrf, q, see_other, Problem, Viewer};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use roster_core::{Email, Name, Role};
use roster_store::directory::{invitations, organizations, teams};
use roster_store::StoreError;
use serde::Deserialize;

/// Back to `page` with a notice; a refusal of the request (a name taken, a seat
/// limit) becomes the notice too.
fn back(page: &str, notice: &str) -> Response {
    see_other(&format!("{page}?notice={}", q(notice)))
}

fn refused(page: &str, e: StoreError) -> Result<Response, Problem> {
    let failure = crate::error::Failure::from(e);
    match failure.kind {
        crate::error::Kind::Invalid | crate::error::Kind::Exists | crate::error::Kind::Conflict => {
            Ok(back(page, &failure.message))
        }
        _ => Err(failure.into()),
    }
}

#[derive(Deserialize)]
pub struct NewOrganization {
    name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    seat_limit: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/organizations`: the operator makes an organization (in a company, or
/// in a new one of the same name).
pub async fn create_organization(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewOrganization>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    if !viewer.is_operator() {
        return Err(Problem::forbidden("Only the operator makes organizations."));
    }
    let page = "/admin/organizations";
    let name = match Name::parse_organization(form.name.trim()) {
        Ok(n) => n,
        Err(e) => return Ok(back(page, &e.message)),
    };
    let seat_limit = match form.seat_limit.trim() {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) => Some(i64::from(n)),
            Err(_) => return Ok(back(page, "The seat limit is a whole number.")),
        },
    };
    let company = Some(form.company.trim().to_string()).filter(|c| !c.is_empty());
    let ctx = viewer.ctx(&state);
    let made = state
        .store
        .write(move |db| {
            Box::pin(async move { organizations::create(db, &ctx, &name, company.as_deref(), seat_limit).await })
        })
        .await;
    match made {
        Ok(org) => Ok(see_other(&format!("/admin/organizations/{}", org.id))),
        Err(e) => refused(page, e),
    }
}

#[derive(Deserialize)]
pub struct NewTeam {
    name: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/organizations/{org}/teams`.
pub async fn create_team(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(ident): Path<String>,
    Form(form): Form<NewTeam>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let page = format!("/admin/organizations/{ident}");
    let name = match Name::parse_team(form.name.trim()) {
        Ok(n) => n,
        Err(e) => return Ok(back(&page, &e.message)),
    };
    let made = change_organization(&state, &viewer, ident, move |db, ctx, org| {
        Box::pin(async move { teams::create(db, &ctx, &org, &name).await })
    })
    .await;
    match made {
        Ok(team) => Ok(back(&page, &format!("Team {} made.", team.name))),
        Err(e) => refused(&page, e),
    }
}

#[derive(Deserialize)]
pub struct NewInvitation {
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/organizations/{org}/invitations`.
pub async fn invite(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(ident): Path<String>,
    Form(form): Form<NewInvitation>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let page = format!("/admin/organizations/{ident}");
    let email = match Email::parse(form.email.trim()) {
        Ok(e) => e,
        Err(e) => return Ok(back(&page, &e.message)),
    };
    let role = match form.role.as_str() {
        "" => Role::Member,
        r => Role::parse(r).map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.message))?,
    };
    let team = Some(form.team.trim().to_string()).filter(|t| !t.is_empty());
    let made = change_organization(&state, &viewer, ident, move |db, ctx, org| {
        Box::pin(async move { invitations::create(db, &ctx, &org, &email, team.as_deref(), role).await })
    })
    .await;
    match made {
        Ok(inv) => Ok(back(&page, &format!("{} invited.", inv.email))),
        Err(e) => refused(&page, e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/organizations/{org}/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((ident, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let page = format!("/admin/organizations/{ident}");
    change_organization(&state, &viewer, ident, move |db, ctx, org| {
        Box::pin(async move { invitations::revoke(db, &ctx, &org, &id).await })
    })
    .await?;
    Ok(back(&page, "Invitation revoked."))
}
