//! The mapping playground and the access explanation.
//!
//! - `POST /connections/{id}/preview`: what a sign-in with these attributes would do —
//!   the real planner on the real directory, changing nothing.
//! - `GET /organizations/{org}/members/{user}/explain`: why a member has their
//!   membership, role, state and teams, from the audit trail.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::service::explain::{self, Explanation};
use crate::service::sign_in;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::extract::{Path, State};
use roster_core::plan::{SignIn, SignInPlan, Step, Subject};
use roster_core::signin::{read_facts, RawAttributes};
use roster_core::Protocol;
use roster_store::connections;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
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

/// Why does this user have this membership, role, state and these teams?
#[utoipa::path(get, path = "/organizations/{org}/members/{user}/explain", tag = "provisioning",
    params(("org" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or username")),
    responses((status = 200, body = Explanation), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn explain(
    State(state): State<AppState>,
    _admin: Admin,
    Path((org, user)): Path<(String, String)>,
) -> Result<ApiJson<Explanation>, ApiError> {
    Ok(ApiJson(explain::explain(&state, org, user, None).await?))
}
