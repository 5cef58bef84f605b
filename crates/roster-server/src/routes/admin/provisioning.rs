//! The mapping playground and the access explanation.
//!
//! - `POST /connections/{id}/preview`: what a sign-in with these attributes would do —
//!   the real planner on the real directory, changing nothing.
//! - `GET /organizations/{org}/members/{user}/explain`: why a member has their
//!   membership, role, state and teams, from the audit trail.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::service::sign_in;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::{Path, State};
use roster_core::plan::{SignIn, SignInPlan, Step, Subject};
use roster_core::signin::{read_facts, RawAttributes};
use roster_core::Protocol;
use roster_store::audit::{self, Event, Query};
use roster_store::connections;
use roster_store::directory::{members, organizations, users};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview)).routes(routes!(explain))
}

/// One value or several.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Values {
    One(String),
    Many(Vec<String>),
}

/// What an IdP sends: SAML attributes (and the Subject's NameID), or OIDC claims.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// SAML attribute name → values.
    attributes: Option<BTreeMap<String, Values>>,
    /// The SAML Subject's NameID.
    name_id: Option<String>,
    /// OIDC ID token / userinfo claims.
    #[schema(value_type = Option<Object>)]
    claims: Option<Map<String, Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct DenialView {
    code: String,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewUser {
    email: String,
    full_name: String,
    exists: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    minutes: i64,
    rule: String,
    because: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    allowed: bool,
    denial: Option<DenialView>,
    /// Null when the assertion carries no usable email.
    user: Option<PreviewUser>,
    /// In order: `{"kind": "create_user" | "update_name" | "accept_invitation" | "add_membership" | "create_team" | "add_team_membership", "organization"?, "team"?, "role"?, "rule", "because"}`.
    #[schema(value_type = Vec<Object>)]
    changes: Vec<Step>,
    /// `{"rule", "message"}` for each value that was ignored.
    #[schema(value_type = Vec<Object>)]
    warnings: Vec<roster_core::signin::Warning>,
    session: Option<SessionView>,
}

impl PreviewView {
    fn from_outcome(outcome: SignIn) -> Self {
        let trace = current_trace_id();
        let user = |subject: &Subject, exists: bool| PreviewUser {
            email: subject.email.to_string(),
            full_name: subject.full_name.clone(),
            exists,
        };
        match outcome {
            SignIn::Allowed(SignInPlan { plan, session }) => Self {
                allowed: true,
                denial: None,
                user: Some(user(&plan.subject, plan.account.user_id().is_some())),
                changes: plan.steps(),
                warnings: plan.warnings,
                session: Some(SessionView {
                    minutes: session.minutes,
                    rule: session.rule.into(),
                    because: session.because,
                }),
            },
            SignIn::Denied(d) => Self {
                allowed: false,
                denial: Some(DenialView {
                    code: d.denial.code.into(),
                    message: d.denial.render(&trace),
                }),
                user: Some(user(&d.subject, d.user_exists)),
                changes: Vec::new(),
                warnings: d.warnings,
                session: None,
            },
        }
    }
}

/// Preview a sign-in: paste what the IdP sends and see what Roster would do. Changes nothing.
#[utoipa::path(post, path = "/connections/{id}/preview", tag = "provisioning", params(("id" = String, Path, description = "connection id or name")),
    request_body = PreviewRequest,
    responses((status = 200, body = PreviewView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn preview(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<ApiJson<PreviewView>, ApiError> {
    let (raw, source) = match (body.attributes, body.claims) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send either `attributes` (SAML) or `claims` (OIDC), not both",
            ))
        }
        (None, Some(claims)) => {
            if body.name_id.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "`name_id` goes with SAML `attributes`, not with `claims`",
                ));
            }
            (RawAttributes::from_claims(&claims), Protocol::Oidc)
        }
        (attributes, None) => {
            if attributes.is_none() && body.name_id.is_none() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "send `attributes` and/or `name_id` (SAML), or `claims` (OIDC)",
                ));
            }
            let values = attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        match v {
                            Values::One(s) => vec![s],
                            Values::Many(list) => list,
                        },
                    )
                })
                .collect();
            (
                RawAttributes {
                    values,
                    name_id: body.name_id,
                },
                Protocol::Saml,
            )
        }
    };
    let now = state.now();
    let view = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let connection = connections::find(db, &id).await?;
                let facts = match read_facts(&raw, source, &connection.attribute_names) {
                    Ok(f) => f,
                    Err(denial) => {
                        return Ok(PreviewView {
                            allowed: false,
                            denial: Some(DenialView {
                                code: denial.code.into(),
                                message: denial.render(&current_trace_id()),
                            }),
                            user: None,
                            changes: Vec::new(),
                            warnings: Vec::new(),
                            session: None,
                        })
                    }
                };
                let (outcome, _) = sign_in::plan(db, &connection, &facts, now).await?;
                Ok(PreviewView::from_outcome(outcome))
            })
        })
        .await?;
    Ok(ApiJson(view))
}

/// One event in an explanation.
#[derive(Serialize, ToSchema, Clone)]
pub struct Why {
    at: String,
    action: String,
    /// `admin`, `scim`, `sso` or `system`.
    actor: String,
    actor_id: Option<String>,
    /// The provisioning rule that caused it (`J4`, `G2`, `S5`, …), if a rule did.
    rule: Option<String>,
    /// The attribute value, group or request behind it.
    because: Option<String>,
    connection_id: Option<String>,
    trace_id: String,
}

impl From<&Event> for Why {
    fn from(e: &Event) -> Self {
        Self {
            at: ts(e.at),
            action: e.action.clone(),
            actor: e.actor_kind.clone(),
            actor_id: e.actor_id.clone(),
            rule: e.rule.clone(),
            because: e.reason.clone(),
            connection_id: e.connection_id.clone(),
            trace_id: e.trace_id.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembershipWhy {
    role: String,
    state: String,
    source: String,
    /// The event that added the membership.
    added: Option<Why>,
    /// The event that set the current role.
    role_set: Option<Why>,
    /// The event that set the current state.
    state_set: Option<Why>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamWhy {
    team: String,
    added: Option<Why>,
}

#[derive(Serialize, ToSchema)]
pub struct Explanation {
    organization: String,
    user_id: String,
    email: String,
    membership: MembershipWhy,
    teams: Vec<TeamWhy>,
    /// Every recorded change of this membership and its teams, oldest first.
    history: Vec<Why>,
}

/// Most events one explanation reads.
const MAX_HISTORY: usize = 10_000;

/// Why does this user have this membership, role, state and these teams?
#[utoipa::path(get, path = "/organizations/{org}/members/{user}/explain", tag = "provisioning",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 200, body = Explanation), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn explain(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, user)): Path<(String, String)>,
) -> Result<ApiJson<Explanation>, ApiError> {
    let explanation = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                let user = users::find(db, &user).await?;
                let member = members::find(db, &org, &user.id).await?;
                let teams = members::teams_with_ids(db, &org, &user.id).await?;
                // Newest first from the log, read page by page, then replayed oldest first.
                let mut events = Vec::new();
                let mut before_seq = None;
                loop {
                    let q = Query {
                        organization_id: Some(org.id.clone()),
                        user_id: Some(user.id.clone()),
                        before_seq,
                        limit: 1000,
                        ..Default::default()
                    };
                    let page = audit::list(db, &q).await?;
                    let done = page.len() < 1000 || events.len() + page.len() >= MAX_HISTORY;
                    before_seq = page.last().map(|e| e.seq);
                    events.extend(page);
                    if done {
                        break;
                    }
                }
                events.reverse();
                Ok((org, user, member, teams, events))
            })
        })
        .await
        .map(|(org, user, member, teams, events)| {
            let (mut added, mut role_set, mut state_set) = (None, None, None);
            let mut team_added: HashMap<String, Why> = HashMap::new();
            for e in &events {
                let why = Why::from(e);
                let field = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v.get(k)).cloned();
                match e.action.as_str() {
                    "membership.add" => {
                        added = Some(why.clone());
                        role_set = Some(why.clone());
                        state_set = Some(why);
                    }
                    "membership.update" => {
                        if field(&e.before, "role") != field(&e.after, "role") {
                            role_set = Some(why.clone());
                        }
                        if field(&e.before, "state") != field(&e.after, "state") {
                            state_set = Some(why);
                        }
                    }
                    "membership.remove" => {
                        (added, role_set, state_set) = (None, None, None);
                        team_added.clear();
                    }
                    "team_member.add" => {
                        team_added.insert(e.object_id.clone(), why);
                    }
                    "team_member.remove" => {
                        team_added.remove(&e.object_id);
                    }
                    _ => {}
                }
            }
            Explanation {
                organization: org.name,
                user_id: user.id,
                email: user.email,
                membership: MembershipWhy {
                    role: member.role.as_str().into(),
                    state: member.state.as_str().into(),
                    source: member.source.as_str().into(),
                    added,
                    role_set,
                    state_set,
                },
                teams: teams
                    .into_iter()
                    .map(|(id, name)| TeamWhy {
                        team: name,
                        added: team_added.remove(&id),
                    })
                    .collect(),
                history: events.iter().map(Why::from).collect(),
            }
        })?;
    Ok(ApiJson(explanation))
}
