//! The provider side's rules for what it grants to apps: the authorization request
//! (OpenID Connect Core §3.1.2, OAuth 2.0 with PKCE), the PKCE proof at the token
//! endpoint (RFC 7636), the claims of the ID tokens and back-channel logout tokens it
//! signs, and the URL an answer is sent back on.

use crate::b64url;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The longest `state`, `nonce` or `login_hint` taken.
pub const MAX_PARAM_CHARS: usize = 512;

/// An authorization request's parameters, as sent (query or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    /// Roster's own: the organization whose connection the person signs in with.
    pub organization: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// How the answer goes back to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// A redirect with the answer in the query (the default for `code`).
    #[default]
    Query,
    /// An auto-submitted HTML form (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// What the app asked of the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// A live session is used as it is; without one the person signs in.
    #[default]
    Default,
    /// The person signs in again even with a live session.
    Login,
    /// No page may be shown: without a usable session the app is told `login_required`.
    None,
}

/// A checked authorization request: what the code will be bound to and how to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the app sent one (public apps must).
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// The session must have started at most this many seconds ago.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub organization: Option<String>,
    pub response_mode: ResponseMode,
}

/// An error answer sent to the app's (checked) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAnswer {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// An OAuth 2.0 / OpenID Connect error code.
    pub error: &'static str,
    pub description: String,
}

/// Why an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or its redirect URI is not known: the answer cannot safely go to the
    /// app, so it is a page of Roster's (RFC 6749 §4.1.2.1).
    Page(String),
    /// The request is wrong in another way: the app is told on its redirect URI.
    Redirect(ErrorAnswer),
}

/// What Roster knows of the app the request names.
pub struct Registered<'a> {
    pub redirect_uris: &'a [String],
    pub public: bool,
}

fn bounded(what: &str, v: Option<&String>) -> Result<Option<String>, String> {
    match v {
        Some(s) if s.chars().count() > MAX_PARAM_CHARS => {
            Err(format!("{what} is longer than {MAX_PARAM_CHARS} characters"))
        }
        Some(s) if s.chars().any(char::is_control) => Err(format!("{what} holds control characters")),
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other.cloned()),
    }
}

/// Whether `s` is a PKCE verifier or S256 challenge: 43–128 unreserved characters.
fn pkce_shaped(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks an authorization request from the app `reg` describes. The redirect URI is
/// compared exactly with a registered one (never as a prefix) before anything is sent
/// to it; only the authorization code flow is offered; PKCE is S256 only, and required
/// of public apps.
pub fn check_authorization(p: &AuthParams, reg: &Registered<'_>) -> Result<AuthRequest, Refusal> {
    let client_id = p.client_id.clone().unwrap_or_default();
    let redirect_uri = match p.redirect_uri.as_deref() {
        None | Some("") => {
            return Err(Refusal::Page(
                "The app did not say where to send you back (redirect_uri is missing).".into(),
            ))
        }
        Some(r) if is_registered(reg.redirect_uris, r) => r.to_string(),
        Some(_) => {
            return Err(Refusal::Page(
                "The app asked to send you back to an address it has not registered with Roster (redirect_uri).".into(),
            ))
        }
    };
    let response_mode = match p.response_mode.as_deref() {
        None | Some("" | "query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    // From here on the app is told on its own redirect URI.
    let state = bounded("state", p.state.as_ref()).unwrap_or(None);
    let refuse = |error: &'static str, description: String| {
        Refusal::Redirect(ErrorAnswer {
            redirect_uri: redirect_uri.clone(),
            response_mode,
            state: state.clone(),
            error,
            description,
        })
    };
    if let Err(why) = bounded("state", p.state.as_ref()) {
        return Err(refuse("invalid_request", why));
    }
    if let Some(mode) = p
        .response_mode
        .as_deref()
        .filter(|m| !matches!(*m, "" | "query" | "form_post"))
    {
        return Err(refuse(
            "invalid_request",
            format!("response_mode '{mode}' is not offered: query or form_post"),
        ));
    }
    if p.request.is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if p.request_uri.is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => return Err(refuse("invalid_request", "response_type is missing".into())),
        Some(other) => {
            return Err(refuse(
                "unsupported_response_type",
                format!("response_type '{other}' is not offered: only the authorization code flow (code)"),
            ))
        }
    }
    let scope: Vec<String> = p
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scope.iter().any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must include openid".into()));
    }
    if scope.len() > 20 || scope.iter().any(|s| s.len() > 64) {
        return Err(refuse("invalid_scope", "too many scopes, or one too long".into()));
    }
    let nonce = bounded("nonce", p.nonce.as_ref()).map_err(|w| refuse("invalid_request", w))?;
    let login_hint = bounded("login_hint", p.login_hint.as_ref()).map_err(|w| refuse("invalid_request", w))?;
    let organization = bounded("organization", p.organization.as_ref()).map_err(|w| refuse("invalid_request", w))?;
    let code_challenge = match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
        (None | Some(""), _) if reg.public => {
            return Err(refuse(
                "invalid_request",
                "a public app must send a PKCE code_challenge (S256)".into(),
            ))
        }
        (None | Some(""), _) => None,
        (Some(_), Some("plain")) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method plain is not accepted: use S256".into(),
            ))
        }
        (Some(_), None | Some("")) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method is missing: S256".into(),
            ))
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(refuse(
                "invalid_request",
                format!("code_challenge_method '{m}' is not accepted: S256"),
            ))
        }
        (Some(c), Some(_)) if !pkce_shaped(c) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge must be 43–128 unreserved characters".into(),
            ))
        }
        (Some(c), Some(_)) => Some(c.to_string()),
    };
    let prompts: Vec<&str> = p
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    let prompt = if prompts.contains(&"none") {
        if prompts.len() > 1 {
            return Err(refuse(
                "invalid_request",
                "prompt=none cannot be combined with other values".into(),
            ));
        }
        Prompt::None
    } else if prompts.contains(&"login") {
        Prompt::Login
    } else if let Some(other) = prompts.iter().find(|p| !matches!(**p, "consent" | "select_account")) {
        return Err(refuse(
            "invalid_request",
            format!("prompt '{other}' is not understood: none, login"),
        ));
    } else {
        // Apps are the company's own: there is no consent screen, and one account.
        Prompt::Default
    };
    let max_age = match p.max_age.as_deref() {
        None | Some("") => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(refuse("invalid_request", "max_age must be a number of seconds".into())),
        },
    };
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        organization,
        response_mode,
    })
}

/// Whether `uri` is one of `registered`: the same string, or, for a loopback address
/// (`http://127.0.0.1`, `http://[::1]`), the same but for the port, which a native app
/// picks when it starts (RFC 8252 §7.3). Never a prefix.
pub fn is_registered(registered: &[String], uri: &str) -> bool {
    if registered.iter().any(|r| r == uri) {
        return true;
    }
    let Ok(given) = url::Url::parse(uri) else { return false };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    };
    if !loopback(&given) {
        return false;
    }
    registered.iter().any(|r| {
        url::Url::parse(r).is_ok_and(|mut r| {
            let mut g = given.clone();
            loopback(&r) && r.set_port(None).is_ok() && g.set_port(None).is_ok() && r == g
        })
    })
}

/// Whether `verifier` is the PKCE verifier of the S256 `challenge` (compared in
/// constant time).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !pkce_shaped(verifier) {
        return false;
    }
    let computed = b64url(&Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// `redirect_uri` with `params` added to its query (it may already have one).
pub fn answer_url(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return redirect_uri.to_string();
    }
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

/// One of the person's organizations as the `organizations` claim lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgClaim {
    pub id: String,
    pub name: String,
    pub role: String,
    pub teams: Vec<String>,
}

/// Who the person is, as Roster's directory has them.
#[derive(Debug, Clone)]
pub struct Person {
    /// Roster's stable user id (never the email).
    pub sub: String,
    pub email: String,
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Their active memberships in the app's organizations.
    pub organizations: Vec<OrgClaim>,
}

/// The claims about the person, shared by the ID token and userinfo: `sub`, the email
/// (verified: it came from the company's IdP or SCIM), the names, `organizations` and
/// `groups` (the same as `"org:team"` strings).
pub fn person_claims(p: &Person) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(p.sub));
    m.insert("email".into(), json!(p.email));
    m.insert("email_verified".into(), json!(true));
    m.insert("name".into(), json!(p.name));
    if let Some(g) = &p.given_name {
        m.insert("given_name".into(), json!(g));
    }
    if let Some(f) = &p.family_name {
        m.insert("family_name".into(), json!(f));
    }
    let groups: Vec<String> = p
        .organizations
        .iter()
        .flat_map(|o| o.teams.iter().map(move |t| format!("{}:{t}", o.name)))
        .collect();
    m.insert("organizations".into(), json!(p.organizations));
    m.insert("groups".into(), json!(groups));
    m
}

/// What an ID token says besides the person.
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now_secs: i64,
    pub expires_secs: i64,
    /// When the person signed in (the Roster session's start).
    pub auth_time_secs: i64,
    pub nonce: Option<&'a str>,
    /// The Roster session, for back-channel logout.
    pub sid: &'a str,
    /// How the person signed in: the upstream protocol.
    pub amr: &'a str,
    /// The upstream connection.
    pub idp: &'a str,
}

/// The claims of an ID token about `person`.
pub fn id_token_claims(person: &Person, i: &Issue<'_>) -> Value {
    let mut m = person_claims(person);
    m.insert("iss".into(), json!(i.issuer));
    m.insert("aud".into(), json!(i.client_id));
    m.insert("azp".into(), json!(i.client_id));
    m.insert("iat".into(), json!(i.now_secs));
    m.insert("exp".into(), json!(i.expires_secs));
    m.insert("auth_time".into(), json!(i.auth_time_secs));
    m.insert("sid".into(), json!(i.sid));
    m.insert("amr".into(), json!([i.amr]));
    m.insert("idp".into(), json!(i.idp));
    if let Some(n) = i.nonce {
        m.insert("nonce".into(), json!(n));
    }
    Value::Object(m)
}

/// The claims of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0
/// §2.4): no `nonce`, the logout event, the person and their session.
pub fn logout_token_claims(issuer: &str, client_id: &str, sub: &str, sid: &str, now_secs: i64, jti: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now_secs,
        "exp": now_secs + 120,
        "jti": jti,
        "sub": sub,
        "sid": sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    })
}

#[cfg(test)]
mod tests;
