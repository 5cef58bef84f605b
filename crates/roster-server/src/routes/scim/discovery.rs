//! `ServiceProviderConfig`, `ResourceTypes` and `Schemas` (RFC 7644 §4): what this server
//! supports, truthfully, with its limits.

use super::render::ListJson;
use super::{respond, ScimAuth, ScimFailure, MAX_COUNT};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_scim::schema::schema_document;
use roster_scim::{urn, ScimError};
use serde_json::{json, Value};

pub async fn service_provider_config(State(state): State<AppState>, auth: ScimAuth) -> Response {
    let base = auth.base_url(&state);
    respond(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/api/v1/openapi.json", state.config.public_url),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": true },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The connection's SCIM token: Authorization: Bearer <token>",
                "primary": true,
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
        }),
        None,
    )
}

fn resource_type_doc(id: &str, base: &str) -> Option<Value> {
    match id {
        "User" => Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "A person with an account",
            "schema": urn::USER,
            "schemaExtensions": [
                { "schema": urn::ENTERPRISE_USER, "required": false },
                { "schema": urn::DOCKER_USER, "required": false },
            ],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        })),
        "Group" => Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "A group; 'organization:team' is that team",
            "schema": urn::GROUP, "schemaExtensions": [],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        })),
        _ => None,
    }
}

pub async fn resource_types(State(state): State<AppState>, auth: ScimAuth) -> Response {
    let base = auth.base_url(&state);
    let all: Vec<Value> = ["User", "Group"]
        .iter()
        .filter_map(|id| resource_type_doc(id, &base))
        .collect();
    respond(StatusCode::OK, ListJson::new(all.len() as i64, 1, all), None)
}

pub async fn resource_type(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimFailure> {
    let base = auth.base_url(&state);
    let rt = resource_type_doc(&id, &base).ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))?;
    Ok(respond(StatusCode::OK, rt, None))
}

const SCHEMAS: [&str; 4] = [urn::USER, urn::GROUP, urn::ENTERPRISE_USER, urn::DOCKER_USER];

pub async fn schemas(State(state): State<AppState>, auth: ScimAuth) -> Response {
    let base = auth.base_url(&state);
    let all: Vec<Value> = SCHEMAS
        .iter()
        .filter_map(|u| schema_document(u, &base, &auth.connection.organizations))
        .collect();
    respond(StatusCode::OK, ListJson::new(all.len() as i64, 1, all), None)
}

pub async fn schema(
    State(state): State<AppState>,
    auth: ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimFailure> {
    let base = auth.base_url(&state);
    let doc = SCHEMAS
        .iter()
        .find(|u| u.eq_ignore_ascii_case(&id))
        .and_then(|u| schema_document(u, &base, &auth.connection.organizations))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))?;
    Ok(respond(StatusCode::OK, doc, None))
}
