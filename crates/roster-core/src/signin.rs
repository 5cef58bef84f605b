//! Sign-in attributes (spec §2, rules A1–A5): what an IdP sent, read into typed
//! [`SignInFacts`].
//!
//! Both protocols first become [`RawAttributes`] (attribute name → values, plus the SAML
//! NameID); each fact is then read from the first name present in its list — the
//! connection's own names first (A3), then the spec's. Values that are present but
//! unusable (an invalid `dockerRole`, `dockerSessionMinutes` of `0`, …) become
//! [`Warning`]s naming the attribute and the rule; only a missing or malformed email
//! stops the sign-in.

use crate::plan::Denial;
use crate::{truncate, Email, Name, Protocol, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A1: SAML attribute names, in order of preference.
pub const SAML_EMAIL: &[&str] = &[
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "email",
];
pub const SAML_NAME: &[&str] = &["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "name"];
pub const SAML_GIVEN_NAME: &[&str] = &["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"];
pub const SAML_SURNAME: &[&str] = &["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"];
pub const SAML_GROUPS: &[&str] = &[
    "http://schemas.xmlsoap.org/claims/Group",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "Groups",
    "groups",
];
/// A2: OIDC claim names.
pub const OIDC_EMAIL: &[&str] = &["email", "upn"];
pub const OIDC_NAME: &[&str] = &["name"];
pub const OIDC_GIVEN_NAME: &[&str] = &["given_name"];
pub const OIDC_FAMILY_NAME: &[&str] = &["family_name"];
pub const OIDC_GROUPS: &[&str] = &["groups"];
/// The custom names, the same for both protocols.
pub const ORG: &str = "dockerOrg";
pub const TEAM: &str = "dockerTeam";
pub const ROLE: &str = "dockerRole";
pub const SESSION_MINUTES: &str = "dockerSessionMinutes";

/// Bounds on what one assertion may carry into the planner.
pub const MAX_VALUE_CHARS: usize = 1024;
pub const MAX_GROUPS: usize = 1000;
pub const MAX_NAME_CHARS: usize = 200;

/// The spec's name lists of one protocol.
struct DefaultNames {
    email: &'static [&'static str],
    full_name: &'static [&'static str],
    given_name: &'static [&'static str],
    family_name: &'static [&'static str],
    groups: &'static [&'static str],
}

const SAML_NAMES: DefaultNames = DefaultNames {
    email: SAML_EMAIL,
    full_name: SAML_NAME,
    given_name: SAML_GIVEN_NAME,
    family_name: SAML_SURNAME,
    groups: SAML_GROUPS,
};
const OIDC_NAMES: DefaultNames = DefaultNames {
    email: OIDC_EMAIL,
    full_name: OIDC_NAME,
    given_name: OIDC_GIVEN_NAME,
    family_name: OIDC_FAMILY_NAME,
    groups: OIDC_GROUPS,
};

/// Attribute name → values as the IdP sent them, plus the SAML Subject's NameID.
#[derive(Debug, Clone, Default)]
pub struct RawAttributes {
    pub values: BTreeMap<String, Vec<String>>,
    pub name_id: Option<String>,
}

impl RawAttributes {
    /// OIDC claims (ID token and userinfo merged): strings, numbers and booleans become
    /// one value each; arrays of them become several; objects and nulls are skipped.
    pub fn from_claims(claims: &serde_json::Map<String, Value>) -> Self {
        fn scalar(v: &Value) -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        }
        let values = claims
            .iter()
            .filter_map(|(k, v)| {
                let vals: Vec<String> = match v {
                    Value::Array(items) => items.iter().filter_map(scalar).collect(),
                    other => scalar(other).into_iter().collect(),
                };
                (!vals.is_empty()).then(|| (k.clone(), vals))
            })
            .collect();
        Self { values, name_id: None }
    }

    /// The first name of `names` that is present with at least one non-blank value.
    fn first<'a>(&'a self, names: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, Vec<&'a str>)> {
        names.into_iter().find_map(|n| {
            let vals: Vec<&str> = self
                .values
                .get(n)?
                .iter()
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .collect();
            (!vals.is_empty()).then_some((n, vals))
        })
    }
}

/// A3: a connection's own attribute names, tried before the spec's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeNames {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub full_name: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given_name: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub family_name: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_minutes: Vec<String>,
}

impl AttributeNames {
    pub const MAX_NAMES: usize = 10;
    pub const MAX_NAME_LEN: usize = 256;

    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let lists = [
            &self.email,
            &self.full_name,
            &self.given_name,
            &self.family_name,
            &self.groups,
            &self.organization,
            &self.team,
            &self.role,
            &self.session_minutes,
        ];
        for list in lists {
            if list.len() > Self::MAX_NAMES || list.iter().any(|n| n.trim().is_empty() || n.len() > Self::MAX_NAME_LEN)
            {
                return Err(crate::DomainError::invalid(
                    "invalid_attribute_names",
                    format!(
                        "each attribute list takes at most {} names of 1..{} characters",
                        Self::MAX_NAMES,
                        Self::MAX_NAME_LEN
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn names<'a>(custom: &'a [String], defaults: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    custom.iter().map(String::as_str).chain(defaults.iter().copied())
}

/// Something the IdP sent that was ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub rule: &'static str,
    pub message: String,
}

impl Warning {
    pub fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

/// A value together with the attribute it was read from, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub attribute: String,
}

impl<T> Sourced<T> {
    fn new(value: T, attribute: &str) -> Self {
        Self {
            value,
            attribute: attribute.to_string(),
        }
    }
}

/// What one sign-in says about the person.
#[derive(Debug, Clone)]
pub struct SignInFacts {
    pub email: Sourced<Email>,
    pub full_name: Sourced<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Group names as sent (deduplicated, in order).
    pub groups: Vec<String>,
    pub organization: Option<Sourced<String>>,
    pub team: Option<Sourced<Name>>,
    pub role: Option<Sourced<Role>>,
    pub session_minutes: Option<Sourced<u32>>,
    pub warnings: Vec<Warning>,
}

impl SignInFacts {
    /// Every team name this sign-in could touch (from groups and `dockerTeam`), so that
    /// only those teams need loading.
    pub fn team_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups
            .iter()
            .filter_map(|g| split_group(g))
            .map(|(_, t)| t.to_string())
            .collect();
        names.extend(self.team.iter().map(|t| t.value.as_str().to_string()));
        names
    }
}

/// A4's message for an email that is missing or not an email.
pub fn not_an_email() -> Denial {
    Denial::new(
        "invalid_name_id",
        "The name ID sent by the identity provider is not an email address. Contact your company administrator.",
        false,
    )
}

fn clip(value: &str, max: usize, attribute: &str, rule: &'static str, warnings: &mut Vec<Warning>) -> String {
    if value.chars().count() > max {
        warnings.push(Warning::new(
            rule,
            format!("'{attribute}' is longer than {max} characters; it was cut"),
        ));
        value.chars().take(max).collect()
    } else {
        value.to_string()
    }
}

/// The single value of a single-valued attribute; extra values are ignored with a warning.
fn single<'a>(
    found: Option<(&'a str, Vec<&'a str>)>,
    rule: &'static str,
    warnings: &mut Vec<Warning>,
) -> Option<(&'a str, &'a str)> {
    let (name, vals) = found?;
    if vals.len() > 1 {
        warnings.push(Warning::new(
            rule,
            format!("'{name}' has {} values; only the first is used", vals.len()),
        ));
    }
    vals.first().map(|v| (name, *v))
}

/// A1–A5: reads the facts of one sign-in.
pub fn read_facts(raw: &RawAttributes, protocol: Protocol, custom: &AttributeNames) -> Result<SignInFacts, Denial> {
    let mut warnings = Vec::new();
    let defaults = match protocol {
        Protocol::Saml => &SAML_NAMES,
        Protocol::Oidc => &OIDC_NAMES,
    };

    // Email: the first attribute present, then (SAML) the NameID or (OIDC) a
    // preferred_username that is an email.
    let email = match single(raw.first(names(&custom.email, defaults.email)), "A1", &mut warnings) {
        Some((name, v)) => Sourced::new(Email::parse(v).map_err(|_| not_an_email())?, name),
        None => match protocol {
            Protocol::Saml => {
                let id = raw
                    .name_id
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(not_an_email)?;
                Sourced::new(Email::parse(id).map_err(|_| not_an_email())?, "NameID")
            }
            Protocol::Oidc => {
                let (name, v) =
                    single(raw.first(["preferred_username"]), "A2", &mut warnings).ok_or_else(not_an_email)?;
                Sourced::new(Email::parse(v).map_err(|_| not_an_email())?, name)
            }
        },
    };

    let given = single(
        raw.first(names(&custom.given_name, defaults.given_name)),
        "A1",
        &mut warnings,
    )
    .map(|(n, v)| clip(v, MAX_NAME_CHARS, n, "A1", &mut warnings));
    let family = single(
        raw.first(names(&custom.family_name, defaults.family_name)),
        "A1",
        &mut warnings,
    )
    .map(|(n, v)| clip(v, MAX_NAME_CHARS, n, "A1", &mut warnings));
    let full_name = match single(
        raw.first(names(&custom.full_name, defaults.full_name)),
        "A1",
        &mut warnings,
    ) {
        Some((n, v)) => Sourced::new(clip(v, MAX_NAME_CHARS, n, "A1", &mut warnings), n),
        None => match (&given, &family) {
            (Some(g), Some(f)) => Sourced::new(format!("{g} {f}"), "given name + surname"),
            (Some(one), None) | (None, Some(one)) => Sourced::new(one.clone(), "given name + surname"),
            (None, None) => Sourced::new(email.value.as_str().to_string(), "email"),
        },
    };

    let mut groups: Vec<String> = Vec::new();
    if let Some((name, vals)) = raw.first(names(&custom.groups, defaults.groups)) {
        if vals.len() > MAX_GROUPS {
            warnings.push(Warning::new(
                "G3",
                format!(
                    "'{name}' has {} groups; only the first {MAX_GROUPS} are read",
                    vals.len()
                ),
            ));
        }
        for v in vals.into_iter().take(MAX_GROUPS) {
            let v = clip(v, MAX_VALUE_CHARS, name, "G3", &mut warnings);
            if !groups.contains(&v) {
                groups.push(v);
            }
        }
    }

    let organization = single(raw.first(names(&custom.organization, &[ORG])), "A5", &mut warnings)
        .map(|(n, v)| Sourced::new(clip(v, MAX_VALUE_CHARS, n, "A5", &mut warnings), n));

    let team =
        single(raw.first(names(&custom.team, &[TEAM])), "A5", &mut warnings).and_then(
            |(n, v)| match Name::parse_team(v) {
                Ok(t) => Some(Sourced::new(t, n)),
                Err(e) => {
                    warnings.push(Warning::new(
                        "A5",
                        format!("'{n}' value '{}' is ignored: {}", truncate(v, 60), e.message),
                    ));
                    None
                }
            },
        );

    let role =
        single(raw.first(names(&custom.role, &[ROLE])), "A5", &mut warnings).and_then(|(n, v)| match Role::parse(v) {
            Ok(r) => Some(Sourced::new(r, n)),
            Err(_) => {
                warnings.push(Warning::new(
                    "A5",
                    format!(
                        "'{n}' value '{}' is not a role (member, editor or owner); it is ignored",
                        truncate(v, 60)
                    ),
                ));
                None
            }
        });

    let session_minutes = single(
        raw.first(names(&custom.session_minutes, &[SESSION_MINUTES])),
        "A5",
        &mut warnings,
    )
    .and_then(|(n, v)| match v.parse::<u32>() {
        Ok(m) if m > 0 => Some(Sourced::new(m, n)),
        _ => {
            warnings.push(Warning::new(
                "A5",
                format!(
                    "'{n}' value '{}' is not a whole number of minutes greater than 0; it is ignored",
                    truncate(v, 60)
                ),
            ));
            None
        }
    });

    Ok(SignInFacts {
        email,
        full_name,
        given_name: given,
        family_name: family,
        groups,
        organization,
        team,
        role,
        session_minutes,
        warnings,
    })
}

/// G1: an IdP group `organization:team`, split at the first ':', both parts non-empty.
pub fn split_group(group: &str) -> Option<(&str, &str)> {
    let (org, team) = group.split_once(':')?;
    let (org, team) = (org.trim(), team.trim());
    (!org.is_empty() && !team.is_empty()).then_some((org, team))
}
