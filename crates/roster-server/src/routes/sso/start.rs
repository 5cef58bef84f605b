//! `GET /sso/start?email=`: sends the person to the login of the connection that serves
//! their email's verified domain.

use super::SsoFailure;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::Email;
use roster_store::connections;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StartQuery {
    email: Option<String>,
    return_to: Option<String>,
}

pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let Some(email) = q.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return SsoFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_email",
            "Enter your work email address to sign in.",
            "missing or invalid email",
        )
        .respond(&state, None, "GET /sso/start")
        .await;
    };
    let domain = email.domain().to_string();
    let found = state
        .store
        .read(move |db| Box::pin(async move { connections::find_by_domain(db, &domain).await }))
        .await;
    match found {
        Ok(Some(c)) => {
            let mut to = format!("/sso/{}/{}/login", c.protocol.as_str(), c.id);
            if let Some(r) = q.return_to.as_deref().filter(|r| !r.is_empty()) {
                to.push_str(&format!("?return_to={}", roster_saml::authn::url_encode(r)));
            }
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        Ok(None) => {
            SsoFailure::new(
                StatusCode::NOT_FOUND,
                "no_connection_for_domain",
                format!(
                    "No SSO connection serves '{}'. Contact your company administrator.",
                    email.domain()
                ),
                "no connection for the domain",
            )
            .respond(&state, None, "GET /sso/start")
            .await
        }
        Err(e) => SsoFailure::store(e).respond(&state, None, "GET /sso/start").await,
    }
}
