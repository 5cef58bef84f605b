//! The domains page: each company's domains with the TXT record to publish, "verify
//! now" (a DNS lookup), a manual verification by the operator, and adding a domain.

use super::{check_csrf, q, render, see_other, Nav, Problem, Viewer};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use roster_core::DomainName;
use roster_store::directory::companies;
use roster_store::domains;
use serde::Deserialize;

pub struct DomainRow {
    pub domain: String,
    pub company: String,
    pub company_id: String,
    pub verified: Option<String>,
    pub txt: String,
}

#[derive(Template)]
#[template(path = "console/domains.html")]
struct DomainsPage<'a> {
    nav: Option<Nav>,
    domains: Vec<DomainRow>,
    operator: bool,
    csrf: &'a str,
    notice: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

const PAGE: &str = "/admin/domains";

fn back(notice: &str) -> Response {
    see_other(&format!("{PAGE}?notice={}", q(notice)))
}

/// `GET /admin/domains`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(nq): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let company = viewer.company().map(str::to_string);
    let domains = state
        .store
        .read(move |db| {
            Box::pin(async move {
                let mut rows = Vec::new();
                for c in companies::list(db).await? {
                    if company.as_ref().is_some_and(|mine| *mine != c.id) {
                        continue;
                    }
                    for d in domains::list(db, &c).await? {
                        rows.push(DomainRow {
                            txt: d.txt_record(),
                            verified: d.verified_at.map(|_| d.verified_method.clone().unwrap_or_default()),
                            domain: d.domain,
                            company: c.name.clone(),
                            company_id: c.id.clone(),
                        });
                    }
                }
                Ok(rows)
            })
        })
        .await?;
    let page = DomainsPage {
        nav: Some(super::orgs::nav(&state, &viewer, "domains").await?),
        domains,
        operator: viewer.is_operator(),
        csrf: &viewer.session.csrf,
        notice: nq.notice.as_deref().filter(|n| n.len() <= 300),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct NewDomain {
    domain: String,
    #[serde(default)]
    company: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/domains`: the operator adds a domain to a company; an owner to theirs.
pub async fn add(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewDomain>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    let domain = match DomainName::parse(&form.domain) {
        Ok(d) => d,
        Err(e) => return Ok(back(&e.message)),
    };
    let company = viewer
        .company()
        .map_or_else(|| form.company.trim().to_string(), str::to_string);
    let ctx = viewer.ctx(&state);
    let added = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let c = companies::find(db, &company).await?;
                domains::add(db, &ctx, &c, &domain).await
            })
        })
        .await;
    match added {
        Ok(d) => Ok(back(&format!(
            "{} added: publish its TXT record, then verify it.",
            d.domain
        ))),
        Err(e) => {
            let f = crate::error::Failure::from(e);
            Ok(back(&f.message))
        }
    }
}

#[derive(Deserialize)]
pub struct VerifyForm {
    method: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /admin/domains/{company}/{domain}/verify`: by DNS now, or (the operator only)
/// manually.
pub async fn verify(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((company, domain)): Path<(String, String)>,
    Form(form): Form<VerifyForm>,
) -> Result<Response, Problem> {
    check_csrf(&viewer, &form.csrf, &headers)?;
    if !viewer.sees(&company) {
        return Err(Problem::not_found());
    }
    let method = match form.method.as_str() {
        "dns" => "dns",
        "manual" if viewer.is_operator() => "manual",
        _ => {
            return Err(Problem::forbidden(
                "Only the operator marks a domain verified without DNS.",
            ))
        }
    };
    let ctx = viewer.ctx(&state);
    match crate::service::domains::verify(&state, &ctx, company, domain, method).await {
        Ok(d) => Ok(back(&format!("{} is verified.", d.domain))),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(Problem::not_found()),
        Err(e) if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY => {
            Err(Problem::new(e.status, e.message))
        }
        Err(e) => Ok(back(&e.message)),
    }
}
