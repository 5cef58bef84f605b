//! `POST /.search` at the root (RFC 7644 §3.4.3): Users, then Groups, paged as one list.
//! A filter on attributes that only one type has selects from that type.

use super::members::{self, GroupAnswer, MemberKeys, Shape};
use super::render;
use super::{json_body, ScimAuth, ScimFailure};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_store::scim::filter_sql::Resource;
use roster_store::scim::groups::{self, GroupWithMembers};
use roster_store::scim::{users, ListQuery};

pub async fn search_all(
    State(state): State<AppState>,
    auth: ScimAuth,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ScimFailure> {
    let p = render::params_from_search(&json_body(body)?);
    let user_q = p.list_query(Resource::Users);
    let group_q = p.list_query(Resource::Groups);
    let (start, count) = match (&user_q, &group_q) {
        (Ok(q), _) | (_, Ok(q)) => (q.start_index, q.count),
        (Err(e), Err(_)) => return Err(e.clone()),
    };
    let base = auth.base_url(&state);
    let connection_id = auth.connection.id.clone();
    let keys = MemberKeys::of(&p);
    let with_groups = p.wants("groups");
    // Off the request threads unless an index narrows every list it reads.
    let long = !user_q.as_ref().is_ok_and(|q| q.is_lookup(Resource::Users))
        || !group_q.as_ref().is_ok_and(|q| q.is_lookup(Resource::Groups));
    let (total, found_users, found_groups) = state
        .store
        .read_long_if(long, move |db| {
            Box::pin(async move {
                let window = |q: &ListQuery, skip: i64, take: i64| ListQuery {
                    start_index: skip + 1,
                    count: take,
                    ..q.clone()
                };
                let mut total = 0;
                let mut found_users = Vec::new();
                let mut users_total = 0;
                if let Ok(q) = &user_q {
                    let (t, page) = users::list(db, &connection_id, &window(q, start - 1, count), with_groups).await?;
                    users_total = t;
                    total += t;
                    found_users = page;
                }
                let mut found_groups = Vec::new();
                if let Ok(q) = &group_q {
                    let skip = (start - 1 - users_total).max(0);
                    let take = (count - found_users.len() as i64).max(0);
                    let q = window(q, skip, take);
                    let (t, page) = if keys.is_some() {
                        groups::list_with_members(db, &connection_id, &q).await?
                    } else {
                        let (t, page) = groups::list(db, &connection_id, &q).await?;
                        (t, page.into_iter().map(GroupWithMembers::alone).collect())
                    };
                    total += t;
                    found_groups = page;
                }
                Ok((total, found_users, found_groups))
            })
        })
        .await?;
    let mut resources: Vec<members::Resource> = found_users
        .into_iter()
        .map(|u| members::Resource::Whole(p.project(render::user(&u, &base))))
        .collect();
    resources.extend(
        found_groups
            .into_iter()
            .map(|g| members::Resource::Group(GroupAnswer::new(g, &base, &p, keys))),
    );
    let shape = Shape::List {
        total,
        start_index: start,
    };
    Ok(members::answer(&state, &base, StatusCode::OK, shape, resources))
}
