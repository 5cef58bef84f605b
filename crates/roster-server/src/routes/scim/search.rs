//! `POST /.search` at the root (RFC 7644 §3.4.3): Users, then Groups, paged as one list.
//! A filter on attributes that only one type has selects from that type.

use super::render;
use super::{json_body, respond, ScimAuth, ScimFailure};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_store::scim::filter_sql::Resource;
use roster_store::scim::{groups, users, ListQuery};

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
        (Err(e), Err(_)) => return Err(ScimFailure(e.0.clone())),
    };
    let base = auth.base_url(&state);
    let connection_id = auth.connection.id.clone();
    let with_members = p.wants("members");
    let with_groups = p.wants("groups");
    let (total, found_users, found_groups) = state
        .store
        .read(move |db| {
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
                    let (t, page) = groups::list(db, &connection_id, &window(q, skip, take)).await?;
                    total += t;
                    let mut of = if with_members {
                        let ids: Vec<String> = page.iter().map(|g| g.id.clone()).collect();
                        Some(groups::members_of_each(db, &ids).await?)
                    } else {
                        None
                    };
                    for g in page {
                        let members = of.as_mut().map(|of| of.remove(&g.id).unwrap_or_default());
                        found_groups.push((g, members));
                    }
                }
                Ok((total, found_users, found_groups))
            })
        })
        .await?;
    let mut resources: Vec<serde_json::Value> = found_users
        .into_iter()
        .map(|u| p.project(render::user_owned(u, &base)))
        .collect();
    resources.extend(
        found_groups
            .iter()
            .map(|(g, m)| p.project(render::group(g, m.as_deref(), &base))),
    );
    Ok(respond(
        StatusCode::OK,
        render::list_response(total, start, resources),
        None,
    ))
}
