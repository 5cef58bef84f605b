//! `/Users` (RFC 7644 §3; spec S3–S6).

use super::render::{self, Params};
use super::{check_if_match, json_body, respond, ScimAuth, ScimFailure};
use crate::service::scim_users;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::scim_plan;
use roster_scim::patch::{self, Schemas};
use roster_scim::{urn, ScimError};
use roster_store::scim::filter_sql::Resource;
use roster_store::scim::users::{self, ScimUser};
use serde_json::{Map, Value};
use std::sync::Arc;

pub const SCHEMAS: Schemas = Schemas {
    core: urn::USER,
    extensions: &[urn::ENTERPRISE_USER, urn::DOCKER_USER],
};
/// Attributes a client cannot set: `groups` comes from Groups, `displayName` is the
/// generated username.
const READ_ONLY: &[&str] = &["groups", "displayName"];

pub fn params(q: Result<Query<Params>, QueryRejection>) -> Result<Params, ScimFailure> {
    q.map(|Query(p)| p)
        .map_err(|e| ScimError::invalid_value(format!("bad query string: {}", e.body_text())).into())
}

fn if_match(headers: &HeaderMap) -> Option<HeaderMap> {
    headers.contains_key(header::IF_MATCH).then(|| headers.clone())
}

async fn list_with(state: AppState, auth: ScimAuth, p: Params) -> Result<Response, ScimFailure> {
    let q = p.list_query(Resource::Users)?;
    let start = q.start_index;
    let base = auth.base_url(&state);
    let connection_id = auth.connection.id.clone();
    let with_groups = p.wants("groups");
    // A list no index narrows may read the whole directory: off the request threads.
    let long = !q.is_lookup(Resource::Users);
    let (total, rows) = state
        .store
        .read_long_if(long, move |db| {
            Box::pin(async move { users::list(db, &connection_id, &q, with_groups).await })
        })
        .await?;
    if !p.projects() {
        let resources: Vec<_> = rows.iter().map(|user| render::UserJson { user, base: &base }).collect();
        return Ok(respond(
            StatusCode::OK,
            render::ListJson::new(total, start, resources),
            None,
        ));
    }
    let resources = rows.iter().map(|u| p.project(render::user(u, &base))).collect();
    Ok(respond(
        StatusCode::OK,
        render::ListJson::new(total, start, resources),
        None,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    auth: ScimAuth,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ScimFailure> {
    list_with(state, auth, params(q)?).await
}

pub async fn search(
    State(state): State<AppState>,
    auth: ScimAuth,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let body = json_body(body)?;
    list_with(state, auth, render::params_from_search(&body)).await
}

fn single(u: &ScimUser, base: &str, p: &Params, status: StatusCode) -> Response {
    let location = format!("{base}/Users/{}", u.id);
    if p.projects() {
        respond(status, p.project(render::user(u, base)), Some((u.version, location)))
    } else {
        respond(status, render::UserJson { user: u, base }, Some((u.version, location)))
    }
}

pub async fn get_one(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ScimFailure> {
    let p = params(q)?;
    let base = auth.base_url(&state);
    let connection_id = auth.connection.id.clone();
    let with_groups = p.wants("groups");
    let found = state
        .store
        .read(move |db| Box::pin(async move { users::get(db, &connection_id, &id, with_groups).await }))
        .await?;
    let u = found.ok_or_else(|| ScimError::not_found("no such User"))?;
    Ok(single(&u, &base, &p, StatusCode::OK))
}

pub async fn create(
    State(state): State<AppState>,
    auth: ScimAuth,
    q: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let p = params(q)?;
    let doc = render::incoming(json_body(body)?, &SCHEMAS, READ_ONLY)?;
    let ctx = auth.ctx(&state);
    let base = auth.base_url(&state);
    let job = Arc::new((ctx, auth.connection, doc));
    let u = state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, doc) = &*job;
                scim_users::create(db, ctx, connection, doc.clone()).await
            })
        })
        .await?;
    Ok(single(&u, &base, &p, StatusCode::CREATED))
}

/// PUT and PATCH: reads, checks `If-Match`, computes the new document and replaces —
/// all in one write transaction.
async fn update(
    state: AppState,
    auth: ScimAuth,
    id: String,
    headers: Option<HeaderMap>,
    p: Params,
    change: impl Fn(&ScimUser) -> Result<Map<String, Value>, ScimError> + Send + Sync + 'static,
) -> Result<Response, ScimFailure> {
    let ctx = auth.ctx(&state);
    let base = auth.base_url(&state);
    let job = Arc::new((ctx, auth.connection, id, headers, change));
    let result = state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, id, headers, change) = &*job;
                let Some(current) = users::get_for_update(db, &connection.id, id).await? else {
                    return Ok(Err(ScimError::not_found("no such User")));
                };
                if let Some(h) = headers {
                    if let Err(e) = check_if_match(h, current.version) {
                        return Ok(Err(e));
                    }
                }
                let doc = match change(&current) {
                    Ok(d) => d,
                    Err(e) => return Ok(Err(e)),
                };
                // The Groups were read with the resource, and a replacement keeps them.
                Ok(Ok(scim_users::replace(db, ctx, connection, &current, doc).await?))
            })
        })
        .await??;
    Ok(single(&result, &base, &p, StatusCode::OK))
}

pub async fn replace(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let p = params(q)?;
    let doc = render::incoming(json_body(body)?, &SCHEMAS, READ_ONLY)?;
    update(state, auth, id, if_match(&headers), p, move |current| {
        let mut doc = doc.clone();
        // S6 (deviation): a PUT without `active` leaves it as it was, and says so. (A
        // PATCH that removes it removes the attribute; the state stays as it was.)
        doc.entry("active")
            .or_insert(Value::Bool(scim_plan::active_on_replace(None, current.active)));
        Ok(doc)
    })
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let p = params(q)?;
    let ops = patch::parse(&Value::Object(json_body(body)?))?;
    update(state, auth, id, if_match(&headers), p, move |current| {
        let mut doc = current.resource.clone();
        let members = patch::apply(&mut doc, &SCHEMAS, &ops)?;
        if !members.is_empty() {
            return Err(ScimError::invalid_path("a User has no members"));
        }
        Ok(doc)
    })
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimFailure> {
    let ctx = auth.ctx(&state);
    let job = Arc::new((ctx, auth.connection, id, if_match(&headers)));
    state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, id, headers) = &*job;
                let Some(current) = users::get_for_update(db, &connection.id, id).await? else {
                    return Ok(Err(ScimError::not_found("no such User")));
                };
                if let Some(h) = headers {
                    if let Err(e) = check_if_match(h, current.version) {
                        return Ok(Err(e));
                    }
                }
                scim_users::delete(db, ctx, connection, &current).await?;
                Ok(Ok(()))
            })
        })
        .await??;
    Ok(axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT))
}
