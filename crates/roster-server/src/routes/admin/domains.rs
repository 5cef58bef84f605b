use crate::auth::Admin;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::DomainName;
use roster_store::directory::companies;
use roster_store::domains::{self, Domain};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(get_one, delete))
        .routes(routes!(verify))
}

#[derive(Serialize, ToSchema)]
pub struct DomainView {
    domain: String,
    /// Publish this value as a TXT record at `txt_name`, then verify.
    txt_record: String,
    txt_name: String,
    verified: bool,
    /// `dns` or `manual`.
    verified_method: Option<String>,
    verified_at: Option<String>,
    created_at: String,
}

impl From<Domain> for DomainView {
    fn from(d: Domain) -> Self {
        Self {
            txt_record: d.txt_record(),
            txt_name: d.domain.clone(),
            verified: d.verified(),
            verified_method: d.verified_method,
            verified_at: d.verified_at.map(ts),
            created_at: ts(d.created_at),
            domain: d.domain,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    domain: String,
}

/// List a company's domains.
#[utoipa::path(get, path = "/companies/{company}/domains", tag = "domains", params(("company" = String, Path, description = "id or name")),
    responses((status = 200, body = [DomainView]), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(company): Path<String>,
) -> Result<ApiJson<Vec<DomainView>>, ApiError> {
    let list = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::list(db, &c).await
            })
        })
        .await?;
    Ok(ApiJson(list.into_iter().map(DomainView::from).collect()))
}

/// Add a domain to verify. Public mail domains (gmail.com, outlook.com, …) are refused.
#[utoipa::path(post, path = "/companies/{company}/domains", tag = "domains", params(("company" = String, Path, description = "id or name")),
    request_body = AddDomain, responses((status = 201, body = DomainView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
async fn add(
    State(state): State<AppState>,
    admin: Admin,
    Path(company): Path<String>,
    ApiJson(body): ApiJson<AddDomain>,
) -> Result<(StatusCode, ApiJson<DomainView>), ApiError> {
    let domain = DomainName::parse(&body.domain)?;
    let ctx = admin.ctx(&state);
    let d = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::add(db, &ctx, &c, &domain).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, ApiJson(d.into())))
}

/// Read a domain and its verification state.
#[utoipa::path(get, path = "/companies/{company}/domains/{domain}", tag = "domains",
    params(("company" = String, Path, description = "id or name"), ("domain" = String, Path)),
    responses((status = 200, body = DomainView), (status = 404, body = ErrorBody)), security(("admin_token" = [])))]
async fn get_one(
    State(state): State<AppState>,
    _admin: Admin,
    Path((company, domain)): Path<(String, String)>,
) -> Result<ApiJson<DomainView>, ApiError> {
    let d = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::find(db, &c, &domain).await
            })
        })
        .await?;
    Ok(ApiJson(d.into()))
}

/// Remove a domain (refused while a connection serves it).
#[utoipa::path(delete, path = "/companies/{company}/domains/{domain}", tag = "domains",
    params(("company" = String, Path, description = "id or name"), ("domain" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("admin_token" = [])))]
async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((company, domain)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = admin.ctx(&state);
    state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::delete(db, &ctx, &c, &domain).await
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDomain {
    /// `dns` looks the TXT record up; `manual` records an administrator's attestation.
    method: String,
}

#[derive(Serialize, ToSchema)]
pub struct Verified {
    domain: String,
    verified: bool,
    method: Option<String>,
}

/// Verify a domain by its DNS TXT record, or manually.
#[utoipa::path(post, path = "/companies/{company}/domains/{domain}/verify", tag = "domains",
    params(("company" = String, Path, description = "id or name"), ("domain" = String, Path)), request_body = VerifyDomain,
    responses((status = 200, body = Verified), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "TXT record missing, or the domain is verified by another company"),
    (status = 502, body = ErrorBody, description = "the DNS lookup failed")),
    security(("admin_token" = [])))]
async fn verify(
    State(state): State<AppState>,
    admin: Admin,
    Path((company, domain)): Path<(String, String)>,
    ApiJson(body): ApiJson<VerifyDomain>,
) -> Result<ApiJson<Verified>, ApiError> {
    let method: &'static str = match body.method.as_str() {
        "dns" => "dns",
        "manual" => "manual",
        other => {
            return Err(ApiError::bad_request(
                "invalid_method",
                format!(
                    "'{}' is not a method: use dns or manual",
                    roster_core::truncate(other, 40)
                ),
            ))
        }
    };
    let ctx = admin.ctx(&state);
    let d = crate::service::domains::verify(&state, &ctx, company, domain, method).await?;
    Ok(ApiJson(Verified {
        domain: d.domain,
        verified: d.verified_at.is_some(),
        method: d.verified_method,
    }))
}
