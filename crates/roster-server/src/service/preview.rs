//! The mapping playground: what a sign-in with these attributes would do — the real
//! planner on the real directory, changing nothing. Asked by the admin API (`preview`)
//! and the console.

use crate::error::ApiError;
use crate::service::sign_in;
use crate::state::AppState;
use crate::trace::current_trace_id;
use roster_core::plan::{SignIn, SignInPlan, Step, Subject};
use roster_core::signin::{read_facts, RawAttributes};
use roster_core::Protocol;
use roster_store::connections;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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
    pub attributes: Option<BTreeMap<String, Values>>,
    /// The SAML Subject's NameID.
    pub name_id: Option<String>,
    /// OIDC ID token / userinfo claims.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Map<String, Value>>,
    /// A SAML Response or Assertion as the IdP posts it (XML, or its base64): its
    /// NameID and attributes are read (its signature is not checked: nothing is changed).
    pub saml_response: Option<String>,
    /// A SCIM User resource: what `POST /Users` with it would do.
    #[schema(value_type = Option<Object>)]
    pub scim_user: Option<Map<String, Value>>,
}

/// The NameID and attributes of a pasted SAML Response or Assertion (XML, or its base64
/// as a browser posts it), read as a sign-in reads them.
fn read_saml(raw: &str) -> Result<(BTreeMap<String, Values>, Option<String>), ApiError> {
    use roster_saml::response::{decode_post, read_unverified};
    let limits = roster_saml::xml::Limits::default();
    let raw = raw.trim();
    let bad = |e: roster_saml::SamlError| {
        ApiError::bad_request("invalid_saml", format!("the SAML document does not parse: {e}"))
    };
    let xml = if raw.starts_with('<') {
        raw.to_string()
    } else {
        decode_post(raw, limits).map_err(bad)?
    };
    let (name_id, attributes) = read_unverified(&xml, limits).map_err(bad)?;
    if name_id.is_none() && attributes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_saml",
            "no NameID and no attributes in that SAML document",
        ));
    }
    Ok((
        attributes.into_iter().map(|(k, v)| (k, Values::Many(v))).collect(),
        name_id,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct DenialView {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewUser {
    pub email: String,
    pub full_name: String,
    pub exists: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub minutes: i64,
    pub rule: String,
    pub because: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub allowed: bool,
    pub denial: Option<DenialView>,
    /// Null when the assertion carries no usable email.
    pub user: Option<PreviewUser>,
    /// In order: `{"kind": "create_user" | "update_name" | "accept_invitation" | "add_membership" | "create_team" | "add_team_membership", "organization"?, "team"?, "role"?, "rule", "because"}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Step>,
    /// `{"rule", "message"}` for each value that was ignored.
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<roster_core::signin::Warning>,
    pub session: Option<SessionView>,
}

impl PreviewView {
    pub fn from_outcome(outcome: SignIn) -> Self {
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

/// What a sign-in through connection `id` (id or name) with `body` would do; with
/// `company`, only a connection of that company (another's is not found).
pub async fn preview(
    state: &AppState,
    id: String,
    body: PreviewRequest,
    company: Option<String>,
) -> Result<PreviewView, ApiError> {
    let mut body = body;
    let given = [
        body.attributes.is_some() || body.name_id.is_some(),
        body.claims.is_some(),
        body.saml_response.is_some(),
        body.scim_user.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "send one of `attributes` (SAML), `claims` (OIDC), `saml_response` or `scim_user`",
        ));
    }
    if let Some(doc) = body.scim_user.take() {
        return preview_scim_user(state, id, doc, company).await;
    }
    if let Some(raw) = body.saml_response.take() {
        let (attributes, name_id) = read_saml(&raw)?;
        body.attributes = Some(attributes);
        body.name_id = name_id;
    }
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
    Ok(state
        .store
        .read(move |db| {
            Box::pin(async move {
                let connection = connections::find(db, &id).await?;
                if company.as_ref().is_some_and(|c| *c != connection.company_id) {
                    return Err(roster_store::StoreError::not_found("connection", id));
                }
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
        .await?)
}

/// What `POST /Users` with `doc` through connection `id` would do (S1, S3–S6): the real
/// planner on the real directory, changing nothing.
async fn preview_scim_user(
    state: &AppState,
    id: String,
    doc: Map<String, Value>,
    company: Option<String>,
) -> Result<PreviewView, ApiError> {
    use crate::service::scim_users;
    use roster_core::scim_plan::{self, Provisioning};
    let now = state.now();
    let held = |code: &str, message: String| PreviewView {
        allowed: false,
        denial: Some(DenialView {
            code: code.into(),
            message,
        }),
        user: None,
        changes: Vec::new(),
        warnings: Vec::new(),
        session: None,
    };
    Ok(state
        .store
        .read(move |db| {
            Box::pin(async move {
                let connection = connections::find(db, &id).await?;
                if company.as_ref().is_some_and(|c| *c != connection.company_id) {
                    return Err(roster_store::StoreError::not_found("connection", id));
                }
                let Some(email) = scim_users::provisioning_email(&doc) else {
                    return Ok(held("held", scim_plan::HOLD_WITHOUT_EMAIL.to_string()));
                };
                let (loaded, _) = roster_store::provisioning::load(db, &connection, &email, &[], now).await?;
                let active = scim_plan::active_on_create(doc.get("active").and_then(Value::as_bool));
                let facts = scim_users::facts(&doc, email, active);
                Ok(match scim_plan::plan_provisioning(&loaded, &facts, false) {
                    Ok(Provisioning::Apply(plan)) => PreviewView {
                        allowed: true,
                        denial: None,
                        user: Some(PreviewUser {
                            email: plan.subject.email.to_string(),
                            full_name: plan.subject.full_name.clone(),
                            exists: plan.account.user_id().is_some(),
                        }),
                        changes: plan.steps(),
                        warnings: plan.warnings,
                        session: None,
                    },
                    Ok(Provisioning::Hold(why)) => {
                        held("held", format!("the resource would be kept without an account: {why}"))
                    }
                    Err(refusal) => held("refused", refusal.detail),
                })
            })
        })
        .await?)
}
