//! `/Groups` (RFC 7644 §3; spec G4). Members are changed by id, one row each: a PATCH
//! that adds one member to a group of 100,000 touches one row.

use super::members::{self, GroupAnswer, MemberKeys, Shape};
use super::render::{self, Params};
use super::users::params;
use super::{check_if_match, json_body, no_content, ScimAuth, ScimFailure};
use crate::service::scim_groups;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use roster_scim::patch::{self, MemberOp, Schemas};
use roster_scim::{urn, ScimError};
use roster_store::scim::filter_sql::Resource;
use roster_store::scim::groups::{self, GroupWithMembers, ScimGroup};
use serde_json::{Map, Value};
use std::sync::Arc;

pub const SCHEMAS: Schemas = Schemas {
    core: urn::GROUP,
    extensions: &[],
};

/// The member ids of a Group body's `members`.
fn member_ids(body: &Map<String, Value>) -> Result<Vec<String>, ScimError> {
    match body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v)
    {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(patch::member_id).collect(),
        Some(_) => Err(ScimError::invalid_value("members must be a list")),
    }
}

async fn list_with(state: AppState, auth: ScimAuth, p: Params) -> Result<Response, ScimFailure> {
    let q = p.list_query(Resource::Groups)?;
    let start = q.start_index;
    let base = auth.base_url(&state);
    let connection_id = auth.connection.id.clone();
    let keys = MemberKeys::of(&p);
    // A list no index narrows may read every Group: off the request threads.
    let long = !q.is_lookup(Resource::Groups);
    let (total, rows) = state
        .store
        .read_long_if(long, move |db| {
            Box::pin(async move {
                // Members only when asked for: `excludedAttributes=members` reads none.
                if keys.is_some() {
                    groups::list_with_members(db, &connection_id, &q).await
                } else {
                    let (total, rows) = groups::list(db, &connection_id, &q).await?;
                    Ok((total, rows.into_iter().map(GroupWithMembers::alone).collect()))
                }
            })
        })
        .await?;
    let resources = rows
        .into_iter()
        .map(|g| members::Resource::Group(GroupAnswer::new(g, &base, &p, keys)))
        .collect();
    let shape = Shape::List {
        total,
        start_index: start,
    };
    Ok(members::answer(&state, &base, StatusCode::OK, shape, resources))
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

/// One Group, with its members when the projection keeps them.
fn single(state: &AppState, g: GroupWithMembers, base: &str, p: &Params, status: StatusCode) -> Response {
    let shape = Shape::One {
        version: g.group.version,
        location: format!("{base}/Groups/{}", g.group.id),
    };
    let answer = GroupAnswer::new(g, base, p, MemberKeys::of(p));
    members::answer(state, base, status, shape, vec![members::Resource::Group(answer)])
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
    let with_members = p.wants("members");
    let found = state
        .store
        .read(move |db| {
            Box::pin(async move {
                if with_members {
                    groups::get_with_members(db, &connection_id, &id).await
                } else {
                    Ok(groups::get(db, &connection_id, &id).await?.map(GroupWithMembers::alone))
                }
            })
        })
        .await?;
    let g = found.ok_or_else(|| ScimError::not_found("no such Group"))?;
    Ok(single(&state, g, &base, &p, StatusCode::OK))
}

pub async fn create(
    State(state): State<AppState>,
    auth: ScimAuth,
    q: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let p = params(q)?;
    let body = json_body(body)?;
    let ids = member_ids(&body)?;
    let doc = render::incoming(body, &SCHEMAS, &["members"])?;
    let ctx = auth.ctx(&state);
    let base = auth.base_url(&state);
    let job = Arc::new((ctx, auth.connection, doc, ids));
    let g = state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, doc, ids) = &*job;
                let group = scim_groups::create(db, ctx, connection, doc.clone(), ids).await?;
                let first_members = groups::first_members(db, &group.id).await?;
                Ok(GroupWithMembers { group, first_members })
            })
        })
        .await?;
    Ok(single(&state, g, &base, &p, StatusCode::CREATED))
}

/// How a successful update is answered.
#[derive(PartialEq, Eq)]
enum Answer {
    /// 200 with the resource (PUT).
    Resource,
    /// 204 unless `attributes` or `excludedAttributes` ask for a body (PATCH).
    NoContentUnlessAsked,
}

/// An update of one Group: how it is answered, what it may change, and the change.
struct Update {
    answer: Answer,
    reach: Reach,
    change: Change,
}

type Change = Box<dyn Fn(&ScimGroup) -> Result<(Map<String, Value>, Vec<MemberOp>), ScimError> + Send + Sync>;

/// What an update may do to the Group, and so what it keeps others from doing meanwhile.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Anything: no other change of the Group runs beside it.
    Whole,
    /// Add or remove the members it names, and nothing else: others of this kind run
    /// beside it (`patch::only_adds_or_removes_members`).
    NamedMembers,
}

async fn update(
    state: AppState,
    auth: ScimAuth,
    id: String,
    headers: &HeaderMap,
    p: Params,
    Update { answer, reach, change }: Update,
) -> Result<Response, ScimFailure> {
    let ctx = auth.ctx(&state);
    let base = auth.base_url(&state);
    let if_match = headers.contains_key(header::IF_MATCH).then(|| headers.clone());
    // A PATCH that asks for no attributes is answered 204 (RFC 7644 §3.5.2, what Okta
    // and Entra ID show): answering with the whole resource would read every member of
    // a large group on each single-member change.
    let answer_empty =
        answer == Answer::NoContentUnlessAsked && p.attributes.is_none() && p.excluded_attributes.is_none();
    let with_members = !answer_empty && p.wants("members");
    let job = Arc::new((ctx, auth.connection, id, if_match, reach, change));
    let g = state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, id, if_match, reach, change) = &*job;
                let current = match reach {
                    Reach::Whole => groups::get_for_update(db, &connection.id, id).await?,
                    Reach::NamedMembers => groups::get_for_member_change(db, &connection.id, id).await?,
                };
                let Some(current) = current else {
                    return Ok(Err(ScimError::not_found("no such Group")));
                };
                if let Some(h) = if_match {
                    if let Err(e) = check_if_match(h, current.version) {
                        return Ok(Err(e));
                    }
                }
                let (doc, ops) = match change(&current) {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                let group = match reach {
                    Reach::Whole => scim_groups::update(db, ctx, connection, &current, doc, &ops).await?,
                    Reach::NamedMembers => {
                        let expected = if_match.is_some().then_some(current.version);
                        scim_groups::change_members(db, ctx, connection, &current, &ops, expected).await?
                    }
                };
                // Only the first members: a large Group's others are read after the
                // commit, as the answer is sent, never by the writer.
                let first_members = if with_members {
                    groups::first_members(db, &group.id).await?
                } else {
                    Vec::new()
                };
                Ok(Ok(GroupWithMembers { group, first_members }))
            })
        })
        .await??;
    if answer_empty {
        return Ok(no_content(g.group.version, &format!("{base}/Groups/{}", g.group.id)));
    }
    Ok(single(&state, g, &base, &p, StatusCode::OK))
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
    let body = json_body(body)?;
    let ids = member_ids(&body)?;
    let doc = render::incoming(body, &SCHEMAS, &["members"])?;
    update(
        state,
        auth,
        id,
        &headers,
        p,
        Update {
            answer: Answer::Resource,
            reach: Reach::Whole,
            change: Box::new(move |_| Ok((doc.clone(), vec![MemberOp::Replace(ids.clone())]))),
        },
    )
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
    let reach = if patch::only_adds_or_removes_members(&SCHEMAS, &ops) {
        Reach::NamedMembers
    } else {
        Reach::Whole
    };
    update(
        state,
        auth,
        id,
        &headers,
        p,
        Update {
            answer: Answer::NoContentUnlessAsked,
            reach,
            change: Box::new(move |current| {
                let mut doc = current.resource.clone();
                doc.insert("displayName".into(), Value::String(current.display_name.clone()));
                let members = patch::apply(&mut doc, &SCHEMAS, &ops)?;
                Ok((doc, members))
            }),
        },
    )
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimFailure> {
    let ctx = auth.ctx(&state);
    let if_match = headers.contains_key(header::IF_MATCH).then(|| headers.clone());
    let job = Arc::new((ctx, auth.connection, id, if_match));
    state
        .store
        .write_repeatable(move |db| {
            let job = job.clone();
            Box::pin(async move {
                let (ctx, connection, id, if_match) = &*job;
                let Some(current) = groups::get_for_update(db, &connection.id, id).await? else {
                    return Ok(Err(ScimError::not_found("no such Group")));
                };
                if let Some(h) = if_match {
                    if let Err(e) = check_if_match(h, current.version) {
                        return Ok(Err(e));
                    }
                }
                scim_groups::delete(db, ctx, connection, &current).await?;
                Ok(Ok(()))
            })
        })
        .await??;
    Ok(axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT))
}
