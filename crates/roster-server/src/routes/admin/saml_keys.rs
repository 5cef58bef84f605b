//! The SP's SAML key pairs of a connection: list, and rotate with an overlap.
//!
//! Rotation adds a new key pair, which signs AuthnRequests from then on and is
//! published in the metadata at once; the previous keys stay published and keep
//! decrypting for the overlap, so an IdP that still encrypts to the old certificate
//! keeps working until its admin imports the new metadata.

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::sso::saml::{new_sp_key, sp_keys};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::Protocol;
use roster_store::{connections, saml};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, rotate))
}

#[derive(Serialize, ToSchema)]
pub struct SpKeyView {
    id: String,
    /// The certificate to give the IdP (PEM).
    certificate: String,
    created_at: String,
    not_after: String,
    /// When this key stops being used (after a rotation); null while current.
    retires_at: Option<String>,
    /// True for the key that signs AuthnRequests (the newest).
    signing: bool,
}

fn views(keys: Vec<saml::SpKey>) -> Vec<SpKeyView> {
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| SpKeyView {
            id: k.id,
            certificate: k.certificate_pem,
            created_at: ts(k.created_at),
            not_after: ts(k.not_after),
            retires_at: k.retires_at.map(ts),
            signing: i == 0,
        })
        .collect()
}

async fn saml_connection(state: &AppState, id: String) -> Result<connections::Connection, ApiError> {
    let c = state
        .store
        .read(move |db| Box::pin(async move { connections::find(db, &id).await }))
        .await?;
    if c.protocol != Protocol::Saml {
        return Err(ApiError::bad_request(
            "not_saml",
            "this connection is not a SAML connection",
        ));
    }
    Ok(c)
}

/// The connection's SP key pairs in use, newest (signing) first. Made on first use.
#[utoipa::path(get, path = "/connections/{id}/saml/sp-keys", tag = "connections", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = [SpKeyView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<ApiJson<Vec<SpKeyView>>, ApiError> {
    let c = saml_connection(&state, id).await?;
    let keys = sp_keys(&state, &c)
        .await
        .map_err(|f| ApiError::new(f.status, f.code, f.detail))?;
    Ok(ApiJson(views(keys)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Days the previous keys stay published and keep decrypting (default 14, 0..90).
    overlap_days: Option<u32>,
}

/// Rotate the SP key: a new key pair signs from now on; the previous ones retire after the overlap.
#[utoipa::path(post, path = "/connections/{id}/saml/sp-keys", tag = "connections", params(("id" = String, Path, description = "id or name")),
    request_body = RotateRequest,
    responses((status = 201, body = [SpKeyView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, ApiJson<Vec<SpKeyView>>), ApiError> {
    // The body is optional: an empty POST rotates with the default overlap.
    let req: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", format!("the request body does not fit: {e}")))?
    };
    let overlap_days = req.overlap_days.unwrap_or(14);
    if overlap_days > 90 {
        return Err(ApiError::bad_request("invalid_overlap", "overlap_days must be 0..90"));
    }
    let c = saml_connection(&state, id).await?;
    let now = state.now();
    let material = new_sp_key(&state, &c.id, now)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?;
    let ctx = admin.ctx(&state);
    let cid = c.id.clone();
    // The private key is stored sealed (secrets at rest).
    let sealed_key = state
        .sealer
        .seal(&material.private_key_pem)
        .map_err(|e| ApiError::from(crate::error::Failure::internal(&e)))?;
    let retire_at = now + i64::from(overlap_days) * 86_400_000;
    let keys = state
        .store
        .write(move |db| {
            Box::pin(async move {
                saml::add_key(
                    db,
                    &ctx,
                    &cid,
                    &sealed_key,
                    &material.certificate_pem,
                    material.not_after_ms,
                    Some(retire_at),
                )
                .await?;
                saml::live_keys(db, &cid, now).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(views(keys))))
}
