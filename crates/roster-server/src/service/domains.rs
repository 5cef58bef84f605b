//! Verifying a company's domain: by its DNS TXT record (looked up outside the write, its
//! token checked again inside it) or on an administrator's word. Asked by the admin API
//! and the console.

use crate::dns::Lookup;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use roster_store::directory::companies;
use roster_store::domains::{self, Domain};
use roster_store::Ctx;

/// Verifies `domain` of `company` (id or name) by `method`: `dns` or `manual`.
pub async fn verify(
    state: &AppState,
    ctx: &Ctx,
    company: String,
    domain: String,
    method: &'static str,
) -> Result<Domain, ApiError> {
    let (c2, d2) = (company.clone(), domain.clone());
    let current = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &c2).await?;
                domains::find(db, &c, &d2).await
            })
        })
        .await?;
    if method == "dns" && !current.verified() {
        let expected = current.txt_record();
        let found = state.dns.txt(&current.domain).await.map_err(|e| {
            tracing::warn!(domain = %current.domain, error = %e, "TXT lookup failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "dns_lookup_failed",
                format!(
                    "could not look up TXT records of {}: the DNS server did not answer; try again",
                    current.domain
                ),
            )
        })?;
        let present = matches!(&found, Lookup::Records(records) if records.iter().any(|r| r.trim() == expected));
        if !present {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "txt_record_missing",
                format!("no TXT record '{expected}' found at {}; publish it and try again (DNS changes can take a while to appear)", current.domain),
            ));
        }
    }
    let checked_token = (method == "dns").then(|| current.txt_token.clone());
    let ctx = ctx.clone();
    Ok(state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::mark_verified(db, &ctx, &c, &domain, method, checked_token.as_deref()).await
            })
        })
        .await?)
}
