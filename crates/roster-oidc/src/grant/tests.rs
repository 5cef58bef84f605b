//! The authorization request rules, PKCE and the claims, case by case.

use super::*;

fn params(pairs: &[(&str, &str)]) -> AuthParams {
    let v: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
    serde_json::from_value(Value::Object(v)).unwrap()
}

const CB: &str = "https://app.example/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn registered(public: bool) -> (Vec<String>, bool) {
    (
        vec![CB.to_string(), "https://app.example/cb?tenant=1".to_string()],
        public,
    )
}

fn check(pairs: &[(&str, &str)], public: bool) -> Result<AuthRequest, Refusal> {
    let (uris, public) = registered(public);
    check_authorization(
        &params(pairs),
        &Registered {
            redirect_uris: &uris,
            public,
        },
    )
}

fn redirect_error(r: Result<AuthRequest, Refusal>) -> &'static str {
    match r {
        Err(Refusal::Redirect(e)) => e.error,
        other => panic!("expected an error sent to the app, got {other:?}"),
    }
}

#[test]
fn a_redirect_uri_must_match_a_registered_one_exactly() {
    let base = [("client_id", "app_1"), ("response_type", "code"), ("scope", "openid")];
    for bad in [
        "https://app.example/cb/",
        "https://app.example/cb/../evil",
        "https://app.example/c",
        "https://app.example/cb?x=1",
        "HTTPS://app.example/cb",
        "",
    ] {
        let mut p = base.to_vec();
        p.push(("redirect_uri", bad));
        assert!(matches!(check(&p, false), Err(Refusal::Page(_))), "{bad}");
    }
    assert!(matches!(check(&base, false), Err(Refusal::Page(_))));
    let mut p = base.to_vec();
    p.push(("redirect_uri", "https://app.example/cb?tenant=1"));
    assert_eq!(
        check(&p, false).unwrap().redirect_uri,
        "https://app.example/cb?tenant=1"
    );
}

#[test]
fn only_the_code_flow_with_openid() {
    let ok = [
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
        ("nonce", "n1"),
    ];
    let r = check(&ok, false).unwrap();
    assert_eq!(r.scope, ["openid", "email"]);
    assert_eq!((r.state.as_deref(), r.nonce.as_deref()), (Some("s1"), Some("n1")));
    assert_eq!(r.response_mode, ResponseMode::Query);
    for (rt, err) in [
        ("token", "unsupported_response_type"),
        ("id_token", "unsupported_response_type"),
        ("code id_token", "unsupported_response_type"),
    ] {
        assert_eq!(
            redirect_error(check(
                &[("redirect_uri", CB), ("response_type", rt), ("scope", "openid")],
                false
            )),
            err
        );
    }
    assert_eq!(
        redirect_error(check(
            &[("redirect_uri", CB), ("response_type", "code"), ("scope", "email")],
            false
        )),
        "invalid_scope"
    );
    assert_eq!(
        redirect_error(check(&[("redirect_uri", CB), ("scope", "openid")], false)),
        "invalid_request"
    );
    let e = check(
        &[
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("request", "x.y.z"),
            ("state", "s"),
        ],
        false,
    );
    match e {
        Err(Refusal::Redirect(a)) => {
            assert_eq!((a.error, a.state.as_deref()), ("request_not_supported", Some("s")))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pkce_is_s256_and_required_of_public_apps() {
    let base = [("redirect_uri", CB), ("response_type", "code"), ("scope", "openid")];
    assert_eq!(redirect_error(check(&base, true)), "invalid_request");
    let mut with = base.to_vec();
    with.extend([("code_challenge", CHALLENGE), ("code_challenge_method", "S256")]);
    assert_eq!(check(&with, true).unwrap().code_challenge.as_deref(), Some(CHALLENGE));
    let mut plain = base.to_vec();
    plain.extend([("code_challenge", CHALLENGE), ("code_challenge_method", "plain")]);
    assert_eq!(redirect_error(check(&plain, false)), "invalid_request");
    let mut short = base.to_vec();
    short.extend([("code_challenge", "abc"), ("code_challenge_method", "S256")]);
    assert_eq!(redirect_error(check(&short, false)), "invalid_request");
    // RFC 7636 Appendix B.
    assert!(pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", CHALLENGE));
    assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", CHALLENGE));
    assert!(!pkce_matches("short", CHALLENGE));
}

#[test]
fn prompt_max_age_and_response_mode() {
    let base = [("redirect_uri", CB), ("response_type", "code"), ("scope", "openid")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = base.to_vec();
        p.extend_from_slice(extra);
        check(&p, false)
    };
    assert_eq!(with(&[("prompt", "none")]).unwrap().prompt, Prompt::None);
    assert_eq!(with(&[("prompt", "login consent")]).unwrap().prompt, Prompt::Login);
    assert_eq!(with(&[("prompt", "consent")]).unwrap().prompt, Prompt::Default);
    assert_eq!(redirect_error(with(&[("prompt", "none login")])), "invalid_request");
    assert_eq!(with(&[("max_age", "0")]).unwrap().max_age, Some(0));
    assert_eq!(redirect_error(with(&[("max_age", "-1")])), "invalid_request");
    assert_eq!(
        with(&[("response_mode", "form_post")]).unwrap().response_mode,
        ResponseMode::FormPost
    );
    match with(&[("response_mode", "fragment")]) {
        Err(Refusal::Redirect(a)) => {
            assert_eq!((a.error, a.response_mode), ("invalid_request", ResponseMode::Query))
        }
        other => panic!("{other:?}"),
    }
    let long = "x".repeat(MAX_PARAM_CHARS + 1);
    let mut p = base.to_vec();
    p.push(("nonce", &long));
    assert_eq!(redirect_error(check(&p, false)), "invalid_request");
}

#[test]
fn answers_keep_the_redirect_uris_own_query() {
    assert_eq!(
        answer_url("https://app.example/cb?tenant=1", &[("code", "a b"), ("state", "s&t")]),
        "https://app.example/cb?tenant=1&code=a+b&state=s%26t"
    );
    assert_eq!(answer_url("https://app.example/bye", &[]), "https://app.example/bye");
}

#[test]
fn claims_name_the_person_by_id_with_their_organizations() {
    let p = Person {
        sub: "u-1".into(),
        email: "ada@acme.example".into(),
        name: "Ada Lovelace".into(),
        given_name: Some("Ada".into()),
        family_name: None,
        organizations: vec![OrgClaim {
            id: "o-1".into(),
            name: "acme".into(),
            role: "owner".into(),
            teams: vec!["eng".into(), "ops".into()],
        }],
    };
    let c = id_token_claims(
        &p,
        &Issue {
            issuer: "https://r.example",
            client_id: "app_1",
            now_secs: 100,
            expires_secs: 400,
            auth_time_secs: 90,
            nonce: Some("n"),
            sid: "s-1",
            amr: "saml",
            idp: "c-1",
        },
    );
    assert_eq!(c["sub"], "u-1");
    assert_eq!(c["groups"], json!(["acme:eng", "acme:ops"]));
    assert_eq!(c["organizations"][0]["role"], "owner");
    assert_eq!(
        (c["aud"].as_str(), c["nonce"].as_str(), c["auth_time"].as_i64()),
        (Some("app_1"), Some("n"), Some(90))
    );
    assert!(c.get("family_name").is_none());
    let l = logout_token_claims("https://r.example", "app_1", "u-1", "s-1", 100, "j");
    assert!(l.get("nonce").is_none());
    assert!(l["events"]
        .get("http://schemas.openid.net/event/backchannel-logout")
        .is_some());
}
