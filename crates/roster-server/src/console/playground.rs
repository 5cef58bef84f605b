//! The mapping playground page: paste what an IdP sends, see the plan (the `preview`
//! service), with each change's rule and reason. Nothing is changed.

use super::{check_csrf, render, Nav, Problem, Viewer};
use crate::service::preview::{self, PreviewRequest, PreviewView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use roster_store::connections;
use roster_store::StoreError;
use serde::Deserialize;
use serde_json::Value;

const EXAMPLE: &str = r#"{"attributes": {"email": ["ann@example.com"], "groups": ["acme:eng"]}}"#;

/// One change of the plan, as the page lists it.
pub struct StepRow {
    pub kind: String,
    pub details: String,
    pub rule: String,
    pub because: String,
}

fn step_row(step: Value) -> StepRow {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let mut o = match step {
        Value::Object(o) => o,
        other => {
            return StepRow {
                kind: text(&other),
                details: String::new(),
                rule: String::new(),
                because: String::new(),
            }
        }
    };
    let mut take = |k: &str| o.remove(k).map(|v| text(&v)).unwrap_or_default();
    let (kind, rule, because) = (take("kind"), take("rule"), take("because"));
    let details = o
        .iter()
        .map(|(k, v)| format!("{k}: {}", text(v)))
        .collect::<Vec<_>>()
        .join(", ");
    StepRow {
        kind,
        details,
        rule,
        because,
    }
}

#[derive(Template)]
#[template(path = "console/playground.html")]
struct PlaygroundPage<'a> {
    nav: Option<Nav>,
    connection: String,
    connection_id: String,
    csrf: &'a str,
    input: &'a str,
    error: Option<String>,
    result: Option<PreviewView>,
    steps: Vec<StepRow>,
    groups: Vec<GroupLine>,
}

/// The connection `id` if the viewer may see it: its id and name.
async fn connection(state: &AppState, viewer: &Viewer, id: String) -> Result<(String, String), Problem> {
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await?;
    if !viewer.sees(&c.company_id) {
        return Err(StoreError::not_found("connection", c.id).into());
    }
    Ok((c.id, c.name))
}

/// What was pasted, as the preview takes it: a SCIM User (JSON with `schemas`), SAML
/// attributes or OIDC claims (JSON), or a SAML Response or Assertion (XML or base64).
fn request(input: &str) -> Result<PreviewRequest, serde_json::Error> {
    let blank = || PreviewRequest {
        attributes: None,
        name_id: None,
        claims: None,
        saml_response: None,
        scim_user: None,
    };
    let trimmed = input.trim();
    if !trimmed.starts_with('{') {
        return Ok(PreviewRequest {
            saml_response: Some(trimmed.to_string()),
            ..blank()
        });
    }
    let doc: serde_json::Map<String, Value> = serde_json::from_str(trimmed)?;
    if doc.contains_key("schemas") {
        return Ok(PreviewRequest {
            scim_user: Some(doc),
            ..blank()
        });
    }
    serde_json::from_value(Value::Object(doc))
}

/// One line of the picture of how the IdP's groups map: a group, and the organization
/// (and team) it gives, or why it is ignored.
pub struct GroupLine {
    pub group: String,
    pub target: String,
    pub ignored: bool,
    pub rule: String,
}

/// The groups of a plan: its group-made changes (G rules) and the groups it ignored.
fn group_lines(r: &PreviewView, steps: &[StepRow]) -> Vec<GroupLine> {
    let group_of = |because: &str| {
        because
            .strip_prefix("group '")
            .and_then(|g| g.split('\'').next())
            .map(str::to_string)
    };
    let mut lines: Vec<GroupLine> = Vec::new();
    for s in steps {
        let Some(group) = group_of(&s.because) else { continue };
        let target = s
            .details
            .replace("organization: ", "")
            .replace(", team: ", " / team ")
            .replace(", role: ", ", role ");
        lines.push(GroupLine {
            group,
            target: format!("{}: {target}", s.kind.replace('_', " ")),
            ignored: false,
            rule: s.rule.clone(),
        });
    }
    for w in &r.warnings {
        if let Some(group) = group_of(&w.message) {
            let why = w
                .message
                .split(" is ignored: ")
                .nth(1)
                .unwrap_or(&w.message)
                .to_string();
            lines.push(GroupLine {
                group,
                target: format!("ignored: {why}"),
                ignored: true,
                rule: w.rule.to_string(),
            });
        }
    }
    lines
}

/// `GET /admin/connections/{id}/playground`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, Problem> {
    let (connection_id, connection) = connection(&state, &viewer, id).await?;
    let page = PlaygroundPage {
        nav: Some(super::orgs::nav(&state, &viewer, "overview").await?),
        connection,
        connection_id,
        csrf: &viewer.session.csrf,
        input: EXAMPLE,
        error: None,
        result: None,
        steps: Vec::new(),
        groups: Vec::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RunForm {
    input: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/connections/{id}/playground`: the plan for what was pasted.
pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RunForm>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let (connection_id, connection) = connection(&state, &viewer, id).await?;
    let (result, error) = match request(&form.input) {
        Err(e) => (None, Some(format!("That is not what an IdP sends: {e}"))),
        Ok(body) => {
            match preview::preview(
                &state,
                connection_id.clone(),
                body,
                viewer.company().map(str::to_string),
            )
            .await
            {
                Ok(view) => (Some(view), None),
                Err(e) if e.status.is_client_error() => (None, Some(e.message)),
                Err(e) => return Err(Problem::new(e.status, e.message)),
            }
        }
    };
    let steps: Vec<StepRow> = result
        .as_ref()
        .map(|r| {
            r.changes
                .iter()
                .filter_map(|s| serde_json::to_value(s).ok())
                .map(step_row)
                .collect()
        })
        .unwrap_or_default();
    let groups = result.as_ref().map(|r| group_lines(r, &steps)).unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = PlaygroundPage {
        nav: Some(super::orgs::nav(&state, &viewer, "overview").await?),
        connection,
        connection_id,
        csrf: &viewer.session.csrf,
        input: &form.input,
        error,
        result,
        steps,
        groups,
    };
    Ok(render(status, &page))
}
