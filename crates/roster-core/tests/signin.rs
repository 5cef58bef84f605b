//! Sign-in attributes, rule by rule (provisioning.md §2, A1–A5).

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_core::plan::Denial;
use roster_core::signin::*;
use roster_core::{Protocol, Role};
const CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";

fn saml(pairs: &[(&str, &[&str])], name_id: Option<&str>) -> RawAttributes {
    RawAttributes {
        values: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        name_id: name_id.map(str::to_string),
    }
}

fn facts(pairs: &[(&str, &[&str])], name_id: Option<&str>) -> Result<SignInFacts, Denial> {
    read_facts(&saml(pairs, name_id), Protocol::Saml, &AttributeNames::default())
}

#[test]
fn a1_email_alias_precedence() {
    let f = facts(
        &[
            ("email", &["d@example.com"]),
            (&format!("{CLAIMS}/emailaddress"), &["c@example.com"]),
            (&format!("{CLAIMS}/upn"), &["b@example.com"]),
            (&format!("{CLAIMS}/nameidentifier"), &["a@example.com"]),
        ],
        Some("z@example.com"),
    )
    .unwrap();
    assert_eq!(f.email.value.as_str(), "a@example.com");
    assert_eq!(f.email.attribute, format!("{CLAIMS}/nameidentifier"));
    let f = facts(
        &[
            ("email", &["d@example.com"]),
            (&format!("{CLAIMS}/emailaddress"), &["c@example.com"]),
        ],
        None,
    )
    .unwrap();
    assert_eq!(f.email.value.as_str(), "c@example.com");
}

#[test]
fn a1_nameid_fallback_and_a4_non_email() {
    let f = facts(&[], Some(" Pat@Example.com ")).unwrap();
    assert_eq!(f.email.value.as_str(), "Pat@example.com");
    assert_eq!(f.email.attribute, "NameID");
    assert_eq!(
        f.full_name.value, "Pat@example.com",
        "A1: the name falls back to the email"
    );
    let d = facts(&[], Some("00u1abcd")).unwrap_err();
    assert_eq!(d.code, "invalid_name_id");
    assert_eq!(
        d.message,
        "The name ID sent by the identity provider is not an email address. Contact your company administrator."
    );
    assert_eq!(facts(&[], None).unwrap_err().code, "invalid_name_id");
    // A present but non-email first attribute fails: it is not skipped for a later one.
    let d = facts(
        &[
            (&format!("{CLAIMS}/nameidentifier"), &["S-1-5-21"]),
            ("email", &["a@example.com"]),
        ],
        None,
    )
    .unwrap_err();
    assert_eq!(d.code, "invalid_name_id");
}

#[test]
fn a1_full_name_from_given_and_surname() {
    let f = facts(
        &[
            (&format!("{CLAIMS}/givenname"), &["Ada"]),
            (&format!("{CLAIMS}/surname"), &["Lovelace"]),
        ],
        Some("ada@example.com"),
    )
    .unwrap();
    assert_eq!(f.full_name.value, "Ada Lovelace");
    assert_eq!(f.given_name.as_deref(), Some("Ada"));
    assert_eq!(f.family_name.as_deref(), Some("Lovelace"));
    let f = facts(
        &[("name", &["Countess"]), (&format!("{CLAIMS}/givenname"), &["Ada"])],
        Some("ada@example.com"),
    )
    .unwrap();
    assert_eq!(f.full_name.value, "Countess");
}

#[test]
fn a1_groups_first_name_present_and_deduplicated() {
    let f = facts(
        &[
            ("groups", &["x:y"]),
            (
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
                &["acme:eng", "acme:eng", "acme:ops"],
            ),
        ],
        Some("a@example.com"),
    )
    .unwrap();
    assert_eq!(f.groups, ["acme:eng", "acme:ops"]);
}

#[test]
fn a5_invalid_values_become_warnings() {
    for bad in ["0", "-5", "abc", "1.5", ""] {
        let f = facts(&[(SESSION_MINUTES, &[bad]), (ROLE, &["admin"])], Some("a@example.com")).unwrap();
        assert_eq!(f.session_minutes, None, "{bad}");
        assert_eq!(f.role, None);
        if bad.is_empty() {
            assert_eq!(f.warnings.len(), 1, "a blank value is absent, not invalid");
        } else {
            assert_eq!(f.warnings.len(), 2, "{bad}: {:?}", f.warnings);
            assert!(f.warnings.iter().all(|w| w.rule == "A5"));
            assert!(f.warnings[1].message.contains(SESSION_MINUTES), "{:?}", f.warnings);
        }
    }
    let f = facts(
        &[
            (SESSION_MINUTES, &["90"]),
            (ROLE, &["Editor"]),
            (ORG, &["acme"]),
            (TEAM, &["eng"]),
        ],
        Some("a@example.com"),
    )
    .unwrap();
    assert_eq!(f.session_minutes.unwrap().value, 90);
    assert_eq!(f.role.unwrap().value, Role::Editor);
    assert_eq!(f.organization.unwrap().value, "acme");
    assert_eq!(f.team.unwrap().value.as_str(), "eng");
    assert!(f.warnings.is_empty());
}

#[test]
fn a2_oidc_claims() {
    let claims = serde_json::json!({
        "sub": "123", "preferred_username": "jo@example.com", "given_name": "Jo", "family_name": "Bloggs",
        "groups": ["acme:eng", 7, {"x": 1}], "dockerRole": "owner", "email_verified": true
    });
    let raw = RawAttributes::from_claims(claims.as_object().unwrap());
    let f = read_facts(&raw, Protocol::Oidc, &AttributeNames::default()).unwrap();
    assert_eq!(f.email.value.as_str(), "jo@example.com");
    assert_eq!(f.email.attribute, "preferred_username");
    assert_eq!(f.full_name.value, "Jo Bloggs");
    assert_eq!(f.groups, ["acme:eng", "7"]);
    assert_eq!(f.role.unwrap().value, Role::Owner);
    let raw = RawAttributes::from_claims(serde_json::json!({ "preferred_username": "jo" }).as_object().unwrap());
    assert_eq!(
        read_facts(&raw, Protocol::Oidc, &AttributeNames::default())
            .unwrap_err()
            .code,
        "invalid_name_id"
    );
}

#[test]
fn a3_custom_names_come_first() {
    let custom = AttributeNames {
        email: vec!["mail".into()],
        groups: vec!["memberOf".into()],
        ..Default::default()
    };
    let raw = saml(
        &[
            ("mail", &["m@example.com"]),
            ("email", &["e@example.com"]),
            ("memberOf", &["acme:eng"]),
            ("groups", &["x:y"]),
        ],
        None,
    );
    let f = read_facts(&raw, Protocol::Saml, &custom).unwrap();
    assert_eq!(f.email.value.as_str(), "m@example.com");
    assert_eq!(f.groups, ["acme:eng"]);
}

#[test]
fn g1_group_split() {
    assert_eq!(split_group("acme:eng"), Some(("acme", "eng")));
    assert_eq!(split_group("acme:eng:blue"), Some(("acme", "eng:blue")));
    for bad in ["acme", ":eng", "acme:", " : "] {
        assert_eq!(split_group(bad), None, "{bad}");
    }
}
