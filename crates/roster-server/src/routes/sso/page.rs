//! What a failed sign-in shows and records. The person gets a plain message and the
//! trace id; the admin gets the detail in the connection's error log (E1).

use crate::pages;
use crate::state::AppState;
use crate::trace::current_trace_id;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::plan::Denial;
use roster_saml::SamlError;
use roster_store::error_log::{self, Entry};

const CONTACT_ADMIN: &str = "Contact your company administrator.";

/// A sign-in that did not go through.
#[derive(Debug, Clone)]
pub struct SsoFailure {
    pub status: StatusCode,
    /// Shown to the person.
    pub message: String,
    /// Whether `message` already ends with the trace id.
    pub has_trace: bool,
    /// For the error log: a machine code and the full reason.
    pub code: String,
    pub detail: String,
}

impl SsoFailure {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            has_trace: false,
            code: code.to_string(),
            detail: detail.into(),
        }
    }

    /// The IdP's response failed verification: the person learns only that.
    pub fn saml(e: &SamlError) -> Self {
        let message = match e {
            SamlError::Status(_) => format!("Your identity provider did not sign you in. {CONTACT_ADMIN}"),
            _ => format!("The response from your identity provider could not be accepted. {CONTACT_ADMIN}"),
        };
        Self::new(StatusCode::BAD_REQUEST, e.code(), message, e.to_string())
    }

    /// A provisioning rule refused the sign-in, with the spec's message.
    pub fn denied(d: &Denial, detail: impl Into<String>) -> Self {
        let trace = current_trace_id();
        Self {
            status: StatusCode::FORBIDDEN,
            message: d.render(&trace),
            has_trace: d.with_trace,
            code: d.code.to_string(),
            detail: format!("{}: {}", d.message, detail.into()),
        }
    }

    pub fn not_configured(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "connection_not_configured",
            format!("This SSO connection is not fully set up yet. {CONTACT_ADMIN}"),
            detail,
        )
    }

    /// Sign-in could not go on for a reason of ours: `cause` goes to the server log
    /// with the trace id, which the page shows.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, trace_id = %current_trace_id(), "sign-in failed on our side");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal",
            "Sign-in is unavailable right now. Try again in a moment.",
            "a failure on the server's side (see the server log for this trace id)",
        )
    }

    /// A store failure during a sign-in: the person may try again later; the cause is
    /// logged with the trace id (ours by the classification, [`crate::error::Failure`];
    /// the others here) and kept, with its code, in the connection's error log.
    pub fn store(e: roster_store::StoreError) -> Self {
        let f = crate::error::Failure::from(e);
        if f.kind != crate::error::Kind::Internal {
            tracing::error!(code = f.code, error = %f.message, trace_id = %current_trace_id(), "sign-in failed in the store");
        }
        let detail = match f.kind {
            crate::error::Kind::Internal => {
                "a failure on the server's side (see the server log for this trace id)".to_string()
            }
            _ => f.message,
        };
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            f.code,
            "Sign-in is unavailable right now. Try again in a moment.",
            detail,
        )
    }

    /// Records the failure for `connection_id` (when known) and renders the page.
    pub async fn respond(self, state: &AppState, connection_id: Option<&str>, request: &str) -> Response {
        let trace = current_trace_id();
        if let Some(cid) = connection_id {
            let entry = Entry {
                seq: 0,
                at: state.now(),
                kind: "sso".into(),
                request: request.to_string(),
                status: i64::from(self.status.as_u16()),
                code: Some(self.code.clone()),
                detail: self.detail.clone(),
                trace_id: trace.clone(),
            };
            let cid = cid.to_string();
            if let Err(e) = state
                .store
                .write(move |db| Box::pin(async move { error_log::record(db, &cid, &entry).await }))
                .await
            {
                tracing::error!(error = %e, trace_id = %trace, "could not record a sign-in failure");
            }
        }
        // The detail may hold the NameID and attribute values: the error log (admins
        // only) keeps it; the log at INFO does not.
        tracing::info!(code = %self.code, status = self.status.as_u16(), trace_id = %trace, "sign-in failed");
        tracing::debug!(code = %self.code, detail = %self.detail, trace_id = %trace, "sign-in failure detail");
        self.page(&trace)
    }

    fn page(&self, trace: &str) -> Response {
        let mut message = self.message.clone();
        if !self.has_trace {
            message.push_str(&format!(" TraceID: {trace}"));
        }
        pages::respond(self.status, &pages::SignInFailed { message: &message })
    }
}
