//! Apps (OAuth 2.0 clients of Roster's OpenID Provider): registered here for the admin
//! API and the console, against the same registration rules.

use crate::error::ApiError;
use crate::state::AppState;
use roster_core::Name;
use roster_oidc::client::{self, ClientType};
use roster_store::apps::{self, App, Spec};
use roster_store::tokens::random_secret;
use roster_store::Ctx;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// Company id or name.
    pub company: String,
    pub name: String,
    /// Where people return with a code; compared exactly.
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Organizations (ids or names) whose members may sign in; default: all of the
    /// company's.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// `confidential` (default) or `public`.
    #[schema(value_type = Option<String>)]
    pub client_type: Option<ClientType>,
    /// `client_secret_basic` (default), `client_secret_post`; `none` for public apps.
    pub token_endpoint_auth_method: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
}

fn invalid(why: String) -> ApiError {
    ApiError::bad_request("invalid_app", why)
}

/// An app's settings as asked for, before the registration rules.
pub struct Draft {
    pub name: String,
    pub client_type: ClientType,
    pub auth: Option<String>,
    pub alg: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub organizations: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl Draft {
    /// The settings, checked against the registration rules.
    pub fn spec(self) -> Result<Spec, ApiError> {
        let t = self.client_type;
        client::check_uris("redirect_uris", &self.redirect_uris, t, true).map_err(invalid)?;
        client::check_uris("post_logout_redirect_uris", &self.post_logout_redirect_uris, t, false).map_err(invalid)?;
        if let Some(uri) = &self.backchannel_logout_uri {
            // Roster calls it from the server: a web URL, never a native app's scheme.
            client::check_uri("backchannel_logout_uri", uri, ClientType::Confidential).map_err(invalid)?;
        }
        Ok(Spec {
            name: Name::parse(&self.name, "app")?,
            client_type: t.as_str().to_string(),
            token_endpoint_auth_method: client::auth_method(t, self.auth.as_deref())
                .map_err(invalid)?
                .to_string(),
            id_token_signed_response_alg: client::signing_alg(self.alg.as_deref()).map_err(invalid)?.to_string(),
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            organizations: self.organizations,
            backchannel_logout_uri: self.backchannel_logout_uri,
        })
    }
}

/// Registers an app; answers it with a confidential app's secret (shown once; only its
/// hash is kept).
pub async fn create(state: &AppState, ctx: Ctx, body: CreateApp) -> Result<(App, Option<String>), ApiError> {
    let client_type = body.client_type.unwrap_or_default();
    let spec = Draft {
        name: body.name,
        client_type,
        auth: body.token_endpoint_auth_method,
        alg: body.id_token_signed_response_alg,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        organizations: body.organizations,
        backchannel_logout_uri: body.backchannel_logout_uri,
    }
    .spec()?;
    let secret = (client_type == ClientType::Confidential).then(random_secret);
    let (company, kept) = (body.company, secret.clone());
    let app = state
        .store
        .write(move |db| Box::pin(async move { apps::create(db, &ctx, &company, &spec, kept.as_deref()).await }))
        .await?;
    Ok((app, secret))
}
