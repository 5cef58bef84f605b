//! Company domains and their verification (spec §1: proven by a DNS TXT record; public
//! mail domains refused). The DNS lookup itself is the server's; this records results.

use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::directory::companies::Company;
use crate::{Ctx, StoreError};
use roster_core::DomainName;
use serde::Serialize;
use serde_json::json;

/// The TXT record value that proves ownership of a domain.
pub fn txt_record(token: &str) -> String {
    format!("roster-verification={token}")
}

#[derive(Debug, Clone, Serialize)]
pub struct Domain {
    pub company_id: String,
    pub domain: String,
    #[serde(skip)]
    pub txt_token: String,
    pub verified_at: Option<i64>,
    pub verified_method: Option<String>,
    pub created_at: i64,
}

db::from_row!(Domain {
    company_id,
    domain,
    txt_token,
    verified_at,
    verified_method,
    created_at
});

impl Domain {
    pub fn txt_record(&self) -> String {
        txt_record(&self.txt_token)
    }
    pub fn verified(&self) -> bool {
        self.verified_at.is_some()
    }
}

const COLS: &str = "company_id, domain, txt_token, verified_at, verified_method, created_at";

pub async fn list(conn: &mut Conn, company: &Company) -> Result<Vec<Domain>, StoreError> {
    db::query_as(&format!(
        "SELECT {COLS} FROM domains WHERE company_id = $1 ORDER BY domain"
    ))
    .bind(&company.id)
    .fetch_all(conn)
    .await
}

pub async fn find(conn: &mut Conn, company: &Company, domain: &str) -> Result<Domain, StoreError> {
    let key = DomainName::parse(domain)
        .map(|d| d.as_str().to_string())
        .unwrap_or_else(|_| domain.to_string());
    db::query_as(&format!(
        "SELECT {COLS} FROM domains WHERE company_id = $1 AND domain = $2"
    ))
    .bind(&company.id)
    .bind(&key)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| StoreError::not_found("domain", domain))
}

pub async fn add(conn: &mut Conn, ctx: &Ctx, company: &Company, domain: &DomainName) -> Result<Domain, StoreError> {
    roster_core::rules::check_company_domain(domain)?;
    if find(conn, company, domain.as_str()).await.is_ok() {
        return Err(StoreError::conflict(
            "domain_exists",
            format!("'{domain}' was already added to company '{}'", company.name),
        ));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    db::query("INSERT INTO domains (company_id, domain, txt_token, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&company.id)
        .bind(domain.as_str())
        .bind(&token)
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "domain.add",
            object_kind: "domain",
            object_id: domain.as_str(),
            company_id: Some(&company.id),
            after: Some(json!({ "domain": domain.as_str(), "verified": false })),
            ..Default::default()
        },
    )
    .await?;
    find(conn, company, domain.as_str()).await
}

/// Marks a domain verified by `method` (`dns` after a matching TXT lookup, `manual` on an
/// admin's attestation). A domain verified by another company is refused.
pub async fn mark_verified(
    conn: &mut Conn,
    ctx: &Ctx,
    company: &Company,
    domain: &str,
    method: &str,
    checked_token: Option<&str>,
) -> Result<Domain, StoreError> {
    let d = find(conn, company, domain).await?;
    if d.verified() {
        return Ok(d);
    }
    // The DNS check ran outside this transaction: it must have checked this domain's
    // current token, not one of a domain deleted and added again meanwhile.
    if checked_token.is_some_and(|t| t != d.txt_token) {
        return Err(StoreError::conflict(
            "domain_changed",
            "the domain changed during verification; verify again",
        ));
    }
    let other: Option<String> =
        db::query_scalar("SELECT company_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL")
            .bind(&d.domain)
            .fetch_optional(&mut *conn)
            .await?;
    if other.is_some() {
        return Err(StoreError::conflict(
            "domain_taken",
            format!("'{}' is already verified by another company", d.domain),
        ));
    }
    db::query("UPDATE domains SET verified_at = $1, verified_method = $2 WHERE company_id = $3 AND domain = $4")
        .bind(ctx.now)
        .bind(method)
        .bind(&company.id)
        .bind(&d.domain)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "domain.verify",
            object_kind: "domain",
            object_id: &d.domain,
            company_id: Some(&company.id),
            before: Some(json!({ "verified": false })),
            after: Some(json!({ "verified": true, "method": method })),
            reason: Some(match method {
                "dns" => format!("TXT record {} found", d.txt_record()),
                _ => "attested by an administrator".to_string(),
            }),
            ..Default::default()
        },
    )
    .await?;
    find(conn, company, &d.domain).await
}

/// Removes a domain; refused while a connection serves it.
pub async fn delete(conn: &mut Conn, ctx: &Ctx, company: &Company, domain: &str) -> Result<(), StoreError> {
    let d = find(conn, company, domain).await?;
    let used: Vec<String> = db::query_scalar(
        "SELECT c.name FROM connection_domains cd JOIN connections c ON c.id = cd.connection_id \
         WHERE c.company_id = $1 AND cd.domain = $2 ORDER BY c.name",
    )
    .bind(&company.id)
    .bind(&d.domain)
    .fetch_all(&mut *conn)
    .await?;
    if !used.is_empty() {
        return Err(StoreError::conflict(
            "domain_in_use",
            format!(
                "'{}' is served by connection(s) {}; remove it from them first",
                d.domain,
                used.join(", ")
            ),
        ));
    }
    db::query("DELETE FROM domains WHERE company_id = $1 AND domain = $2")
        .bind(&company.id)
        .bind(&d.domain)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "domain.delete",
            object_kind: "domain",
            object_id: &d.domain,
            company_id: Some(&company.id),
            before: Some(json!({ "domain": d.domain, "verified": d.verified() })),
            ..Default::default()
        },
    )
    .await
}
