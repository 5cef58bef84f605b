//! Roster's OpenID Provider at work: a code for a signed-in person, the token endpoint's
//! grants (authorization code with PKCE, refresh with rotation, client credentials), and
//! the claims apps read. Each runs in one store transaction; the rules of the request
//! and of the claims are `roster_oidc::grant`'s, the state is the store's.

use crate::error::Failure;
use crate::signing_keys;
use crate::state::AppState;
use roster_oidc::grant::{self, AuthRequest, OrgClaim, Person};
use roster_oidc::signing::Alg;
use roster_store::apps::App;
use roster_store::audit::{self, NewEvent};
use roster_store::oauth2::{self as store, Grant, NewToken, Redeemed};
use roster_store::sessions::Session;
use roster_store::tokens::random_secret;
use roster_store::{connections, Conn, Ctx, StoreError};
use serde_json::{json, Value};

/// How long a code lives.
pub const CODE_MS: i64 = 60_000;
/// How long an access token or ID token lives (never past the grant's end).
pub const ACCESS_MS: i64 = 15 * 60_000;
/// How long a `client_credentials` grant lives.
pub const APP_GRANT_MS: i64 = 60 * 60_000;
/// The scopes an app may ask of `client_credentials` (the directory API and events).
pub const APP_SCOPES: [&str; 2] = ["directory:read", "events:read"];

/// An OAuth 2.0 error answer: its code (RFC 6749 §5.2) and what went wrong.
#[derive(Debug)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
}

/// A failure inside the provider: the app's mistake, or ours.
#[derive(Debug)]
pub enum Failed {
    OAuth(OAuthError),
    Internal(Failure),
}

impl From<Failure> for Failed {
    fn from(f: Failure) -> Self {
        Self::Internal(f)
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Self::Internal(Failure::from(e))
    }
}

impl From<OAuthError> for Failed {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

/// The outcome of asking for a code for the person of a session.
pub enum CodeOutcome {
    Issued(String),
    /// The person may not sign in to this app (the app is told `access_denied`).
    Denied(String),
}

/// Issues a code to `app` for the person of `session`, bound to the request's redirect
/// URI and PKCE challenge, if they are an active member of one of the app's
/// organizations.
pub async fn issue_code(
    state: &AppState,
    app: &App,
    req: &AuthRequest,
    session: &Session,
) -> Result<CodeOutcome, Failure> {
    let now = state.now();
    let code = random_secret();
    let (app, req, session, secret) = (app.clone(), req.clone(), session.clone(), code.clone());
    let ctx = Ctx::new(
        "sso",
        Some(session.user_id.clone()),
        crate::trace::current_trace_id(),
        now,
    );
    let outcome = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let member = store::member(db, &session.user_id, &app.id).await?;
                let Some(member) = member.filter(|m| !m.organizations.is_empty()) else {
                    return Ok(None);
                };
                let protocol = match &session.connection_id {
                    Some(id) => connections::find(db, id)
                        .await
                        .map(|c| c.protocol.as_str().to_string())
                        .ok(),
                    None => None,
                };
                let g = Grant {
                    id: store::new_grant_id(),
                    app_id: app.id.clone(),
                    user_id: Some(member.user_id.clone()),
                    company_id: app.company_id.clone(),
                    session_id: Some(session.id.clone()),
                    scope: req.scope.join(" "),
                    details: json!({
                        "nonce": req.nonce,
                        "auth_time": session.created_at / 1000,
                        "amr": protocol.unwrap_or_else(|| "sso".into()),
                        "idp": session.connection_id,
                    }),
                    created_at: now,
                    expires_at: session.expires_at,
                };
                store::create_grant(db, &g).await?;
                store::add_token(
                    db,
                    &NewToken {
                        grant_id: &g.id,
                        kind: "code",
                        secret: &secret,
                        now,
                        expires_at: (now + CODE_MS).min(g.expires_at),
                        redirect_uri: Some(&req.redirect_uri),
                        code_challenge: req.code_challenge.as_deref(),
                    },
                )
                .await?;
                audit::record(
                    db,
                    &ctx,
                    NewEvent {
                        action: "app.sign_in",
                        object_kind: "app",
                        object_id: &app.id,
                        company_id: Some(&app.company_id),
                        user_id: Some(&member.user_id),
                        after: Some(json!({ "grant": g.id, "session": session.id, "scope": g.scope })),
                        ..Default::default()
                    },
                )
                .await?;
                Ok(Some(()))
            })
        })
        .await?;
    Ok(match outcome {
        Some(()) => CodeOutcome::Issued(code),
        None => CodeOutcome::Denied("you are not an active member of an organization this app admits".to_string()),
    })
}

/// What the token endpoint answers.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// A grant being answered: the tokens issued in the transaction, and what the ID token
/// needs once it has committed.
struct Answer {
    grant: Grant,
    access: String,
    access_expires: i64,
    refresh: Option<String>,
    person: Option<Person>,
}

/// Issues an access token (and a refresh token for a person) under `grant`.
async fn issue_tokens(db: &mut Conn, grant: Grant, now: i64, with_refresh: bool) -> Result<Answer, StoreError> {
    let access = random_secret();
    let access_expires = (now + ACCESS_MS).min(grant.expires_at);
    store::add_token(
        db,
        &NewToken {
            grant_id: &grant.id,
            kind: "access",
            secret: &access,
            now,
            expires_at: access_expires,
            redirect_uri: None,
            code_challenge: None,
        },
    )
    .await?;
    let refresh = if with_refresh {
        let r = random_secret();
        store::add_token(
            db,
            &NewToken {
                grant_id: &grant.id,
                kind: "refresh",
                secret: &r,
                now,
                expires_at: grant.expires_at,
                redirect_uri: None,
                code_challenge: None,
            },
        )
        .await?;
        Some(r)
    } else {
        None
    };
    Ok(Answer {
        grant,
        access,
        access_expires,
        refresh,
        person: None,
    })
}

/// The person of `user_id` as `app_id` sees them; `None` when they are no longer an
/// active member of any of its organizations.
pub async fn person(db: &mut Conn, user_id: &str, app_id: &str) -> Result<Option<Person>, StoreError> {
    let Some(m) = store::member(db, user_id, app_id).await? else {
        return Ok(None);
    };
    if m.organizations.is_empty() {
        return Ok(None);
    }
    Ok(Some(Person {
        sub: m.user_id,
        email: m.email,
        name: m.full_name,
        given_name: m.given_name,
        family_name: m.family_name,
        organizations: m
            .organizations
            .into_iter()
            .map(|(id, name, role, teams)| OrgClaim { id, name, role, teams })
            .collect(),
    }))
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::new("invalid_grant", why)
}

/// `grant_type=authorization_code`: the code, once, by the app it was issued to, with
/// the redirect URI it was issued for and the PKCE verifier of its challenge.
pub async fn exchange_code(
    state: &AppState,
    app: &App,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Tokens, Failed> {
    let now = state.now();
    let (app_id, code, redirect_uri, verifier) = (
        app.id.clone(),
        code.to_string(),
        redirect_uri.map(str::to_string),
        verifier.map(str::to_string),
    );
    let answer = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let (grant, bound_uri, challenge) = match store::redeem(db, "code", &code, &app_id, now).await? {
                    Redeemed::Fresh {
                        grant,
                        redirect_uri,
                        code_challenge,
                    } => (*grant, redirect_uri, code_challenge),
                    Redeemed::Reused => {
                        tracing::warn!(app = %app_id, "a code was used twice: its grant is revoked");
                        return Ok(Err(invalid_grant(
                            "the code was already used; everything issued with it is revoked",
                        )));
                    }
                    Redeemed::Invalid => {
                        return Ok(Err(invalid_grant("the code is unknown, expired or not this app's")))
                    }
                };
                if bound_uri.as_deref() != redirect_uri.as_deref() {
                    return Ok(Err(invalid_grant(
                        "redirect_uri is not the one the code was issued for",
                    )));
                }
                match (challenge.as_deref(), verifier.as_deref()) {
                    (Some(c), Some(v)) if grant::pkce_matches(v, c) => {}
                    (Some(_), Some(_)) => {
                        return Ok(Err(invalid_grant("code_verifier does not match the code_challenge")))
                    }
                    (Some(_), None) => {
                        return Ok(Err(invalid_grant(
                            "code_verifier is missing (the request had a code_challenge)",
                        )))
                    }
                    (None, Some(_)) => {
                        return Ok(Err(invalid_grant(
                            "code_verifier was sent, but the authorization request had no code_challenge",
                        )))
                    }
                    (None, None) => {}
                }
                let user_id = grant.user_id.clone().unwrap_or_default();
                let Some(p) = person(db, &user_id, &grant.app_id).await? else {
                    return Ok(Err(invalid_grant(
                        "the person is no longer an active member of this app's organizations",
                    )));
                };
                let mut answer = issue_tokens(db, grant, now, true).await?;
                answer.person = Some(p);
                Ok(Ok(answer))
            })
        })
        .await??;
    finish(state, app, answer, now, true).await
}

/// `grant_type=refresh_token`: rotation (the token is used up, a new one is issued), and
/// a second use of a rotated token revokes the grant (reuse detection).
pub async fn refresh(state: &AppState, app: &App, token: &str) -> Result<Tokens, Failed> {
    let now = state.now();
    let (app_id, token) = (app.id.clone(), token.to_string());
    let answer = state
        .store
        .write(move |db| {
            Box::pin(async move {
                let grant = match store::redeem(db, "refresh", &token, &app_id, now).await? {
                    Redeemed::Fresh { grant, .. } => *grant,
                    Redeemed::Reused => {
                        tracing::warn!(app = %app_id, "a rotated refresh token was used again: its grant is revoked");
                        return Ok(Err(invalid_grant(
                            "the refresh token was already used; the grant is revoked",
                        )));
                    }
                    Redeemed::Invalid => {
                        return Ok(Err(invalid_grant(
                            "the refresh token is unknown, expired, revoked or not this app's",
                        )))
                    }
                };
                let user_id = grant.user_id.clone().unwrap_or_default();
                let Some(p) = person(db, &user_id, &grant.app_id).await? else {
                    store::end_grants(db, store::Ending::Grant(&grant.id), now, "no_active_membership").await?;
                    return Ok(Err(invalid_grant(
                        "the person is no longer an active member of this app's organizations",
                    )));
                };
                let mut answer = issue_tokens(db, grant, now, true).await?;
                answer.person = Some(p);
                Ok(Ok(answer))
            })
        })
        .await??;
    finish(state, app, answer, now, false).await
}

/// `grant_type=client_credentials`: the app itself, for the directory API and events.
pub async fn client_credentials(state: &AppState, app: &App, scope: Option<&str>) -> Result<Tokens, Failed> {
    let asked: Vec<&str> = scope.unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(bad) = asked.iter().find(|s| !APP_SCOPES.contains(s)) {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("scope '{bad}' is not offered to an app itself: directory:read, events:read"),
        )
        .into());
    }
    let scope = if asked.is_empty() {
        APP_SCOPES.join(" ")
    } else {
        asked.join(" ")
    };
    let now = state.now();
    let g = Grant {
        id: store::new_grant_id(),
        app_id: app.id.clone(),
        user_id: None,
        company_id: app.company_id.clone(),
        session_id: None,
        scope,
        details: json!({}),
        created_at: now,
        expires_at: now + APP_GRANT_MS,
    };
    let answer = state
        .store
        .write(move |db| {
            Box::pin(async move {
                store::create_grant(db, &g).await?;
                issue_tokens(db, g, now, false).await
            })
        })
        .await?;
    finish(state, app, answer, now, false).await
}

/// The token response, with an ID token for a person (signed after the commit).
async fn finish(state: &AppState, app: &App, a: Answer, now: i64, with_nonce: bool) -> Result<Tokens, Failed> {
    let id_token = match &a.person {
        Some(person) => {
            let d = &a.grant.details;
            let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let nonce = if with_nonce {
                d.get("nonce").and_then(Value::as_str)
            } else {
                None
            };
            let (amr, idp) = (text("amr"), text("idp"));
            let claims = grant::id_token_claims(
                person,
                &grant::Issue {
                    issuer: &state.config.public_url,
                    client_id: &app.id,
                    now_secs: now / 1000,
                    expires_secs: a.access_expires / 1000,
                    auth_time_secs: d
                        .get("auth_time")
                        .and_then(Value::as_i64)
                        .unwrap_or(a.grant.created_at / 1000),
                    nonce,
                    sid: a.grant.session_id.as_deref().unwrap_or_default(),
                    amr: &amr,
                    idp: &idp,
                },
            );
            let alg = Alg::parse(&app.id_token_signed_response_alg).unwrap_or(Alg::Rs256);
            Some(signing_keys::sign(state, alg, "JWT", claims).await?)
        }
        None => None,
    };
    Ok(Tokens {
        access_token: a.access,
        expires_in: ((a.access_expires - now) / 1000).max(1),
        refresh_token: a.refresh,
        id_token,
        scope: a.grant.scope,
    })
}
