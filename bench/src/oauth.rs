//! The `oauth2-code` scenario's setup: the provider's endpoints from its discovery
//! document, a signed-in browser and a client.

use crate::saml::saml_setup;
use crate::Shared;
use serde_json::json;

/// What the `oauth2-code` scenario drives: the provider's endpoints, the session cookie
/// and the client.
pub(crate) struct OAuth {
    pub authorize: String,
    pub token: String,
    pub cookie: String,
    pub client_id: String,
    pub secret: String,
    pub redirect_uri: String,
}

/// The PKCE pair of RFC 7636 Appendix B, sent with every `oauth2-code` request.
pub(crate) const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// `oauth2-code`: the provider's endpoints from its discovery document; against Roster,
/// one person signs in through the ACS and an app of their company is registered.
pub(crate) async fn oauth_setup(shared: &Shared) -> Result<OAuth, String> {
    let a = &shared.args;
    let issuer = a.op_issuer.clone().unwrap_or_else(|| a.base.clone());
    let doc: serde_json::Value = shared
        .client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_string)
            .ok_or(format!("no {k} in discovery"))
    };
    let (authorize, token) = (endpoint("authorization_endpoint")?, endpoint("token_endpoint")?);
    if a.op_issuer.is_some() {
        return Ok(OAuth {
            authorize,
            token,
            cookie: a.op_cookie.clone(),
            client_id: a.client_id.clone(),
            secret: a.client_secret.clone(),
            redirect_uri: a.redirect_uri.clone(),
        });
    }
    let (path, forms) = saml_setup(shared, 1).await?;
    let form = forms.first().ok_or("no response")?;
    let r = shared
        .client
        .post(format!("{}{path}", a.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| format!("the sign-in made no session: {}", r.status()))?
        .to_string();
    let company = format!("bench-{}", std::process::id());
    let r = shared
        .client
        .post(format!("{}/api/v1/apps", a.base))
        .bearer_auth(&a.token)
        .json(&json!({ "company": company, "name": "bench-app", "redirect_uris": [a.redirect_uri] }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let app: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let id = app["client_id"].as_str().ok_or_else(|| format!("no app: {app}"))?;
    let secret = app["client_secret"].as_str().ok_or("no secret")?;
    Ok(OAuth {
        authorize,
        token,
        cookie,
        client_id: id.to_string(),
        secret: secret.to_string(),
        redirect_uri: a.redirect_uri.clone(),
    })
}
