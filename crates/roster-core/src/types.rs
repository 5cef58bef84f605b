//! Validated identifiers. Each `parse` is the only way in, so holding a value means it
//! is valid; `key()` gives the case-folded form used for uniqueness and lookup.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An email address. Compared case-insensitively (spec §1: one account per email,
/// case-insensitive); the original spelling is kept for display.
#[derive(Debug, Clone)]
pub struct Email {
    original: String,
    key: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        let invalid = || {
            DomainError::invalid(
                "invalid_email",
                format!("'{}' is not a valid email address", truncate(raw, 80)),
            )
        };
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid());
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid());
        }
        let domain = DomainName::parse(domain).map_err(|_| invalid())?;
        let original = format!("{local}@{}", domain.as_str());
        let key = original.to_ascii_lowercase();
        Ok(Self { original, key })
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
    /// The lower-cased form: what uniqueness and lookups use.
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn local_part(&self) -> &str {
        self.original.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }
    pub fn domain(&self) -> &str {
        self.key.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Email {}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// A DNS domain name, lower-cased, at least two labels (spec §1 verified domains).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let invalid = || {
            DomainError::invalid(
                "invalid_domain",
                format!("'{}' is not a valid domain name", truncate(raw, 80)),
            )
        };
        if s.is_empty() || s.len() > 253 {
            return Err(invalid());
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid());
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(invalid());
            }
        }
        if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
            return Err(invalid());
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when `self` is `other` or a subdomain of it (A4: subdomains included).
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0 || self.0.ends_with(&format!(".{}", other.0))
    }
    /// Public mail providers can never be verified by a company (spec §1).
    pub fn is_public_mail_domain(&self) -> bool {
        PUBLIC_MAIL_DOMAINS.iter().any(|d| self.0 == *d)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "outlook.de",
    "outlook.fr",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "live.com",
    "live.co.uk",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "yahoo.co.jp",
    "ymail.com",
    "rocketmail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "qq.com",
    "163.com",
    "126.com",
    "hey.com",
    "fastmail.com",
    "tutanota.com",
    "tuta.io",
    "naver.com",
    "rediffmail.com",
];

/// A name of a company, organization, team or connection: 1..=100 characters, no
/// control characters, no leading/trailing space. Compared case-insensitively.
#[derive(Debug, Clone)]
pub struct Name {
    original: String,
    key: String,
}

impl Name {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str, what: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(DomainError::invalid(
                "invalid_name",
                format!("{what} name must not be empty"),
            ));
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "invalid_name",
                format!("{what} name is longer than {} characters", Self::MAX_LEN),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "invalid_name",
                format!("{what} name must not contain control characters"),
            ));
        }
        Ok(Self {
            original: s.to_string(),
            key: s.to_lowercase(),
        })
    }

    /// Organization names may not contain ':' — group mapping splits `organization:team`
    /// at the first ':' (G1) — nor '/', which would break addressing by name in URLs; nor
    /// look like an id (a UUID): objects are addressed by id or name, and a name that
    /// reads as another organization's id could be taken for it.
    pub fn parse_organization(raw: &str) -> Result<Self, DomainError> {
        let name = Self::parse(raw, "organization")?;
        if name.original.contains(':') || name.original.contains('/') {
            return Err(DomainError::invalid(
                "invalid_name",
                "organization name must not contain ':' or '/'",
            ));
        }
        if uuid::Uuid::try_parse(&name.original).is_ok() {
            return Err(DomainError::invalid(
                "invalid_name",
                "organization name must not look like an id (a UUID)",
            ));
        }
        Ok(name)
    }

    /// Team names may contain ':' (only the first one splits a group name) but not '/'.
    pub fn parse_team(raw: &str) -> Result<Self, DomainError> {
        let name = Self::parse(raw, "team")?;
        if name.original.contains('/') {
            return Err(DomainError::invalid("invalid_name", "team name must not contain '/'"));
        }
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Name {}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}
impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}

/// A member's role in an organization (spec §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Editor,
    Owner,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "member" => Ok(Self::Member),
            "editor" => Ok(Self::Editor),
            "owner" => Ok(Self::Owner),
            _ => Err(DomainError::invalid(
                "invalid_role",
                format!("'{}' is not a role: use member, editor or owner", truncate(raw, 40)),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Editor => "editor",
            Self::Owner => "owner",
        }
    }
}

/// A membership's state (spec §1). Deactivated members keep their teams (S6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Active,
    Deactivated,
}

impl MemberState {
    pub fn is_active(&self) -> bool {
        *self == Self::Active
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "active" => Ok(Self::Active),
            "deactivated" => Ok(Self::Deactivated),
            _ => Err(DomainError::invalid(
                "invalid_state",
                format!("'{}' is not a state: use active or deactivated", truncate(raw, 40)),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }
}

/// What created a membership (spec §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Jit,
    Scim,
    Invite,
    Admin,
}

impl Source {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "jit" => Ok(Self::Jit),
            "scim" => Ok(Self::Scim),
            "invite" => Ok(Self::Invite),
            "admin" => Ok(Self::Admin),
            _ => Err(DomainError::invalid(
                "invalid_source",
                format!("'{}' is not a membership source", truncate(raw, 40)),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jit => "jit",
            Self::Scim => "scim",
            Self::Invite => "invite",
            Self::Admin => "admin",
        }
    }
}

/// The sign-in protocol of an SSO connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Saml,
    Oidc,
}

impl Protocol {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.to_ascii_lowercase().as_str() {
            "saml" => Ok(Self::Saml),
            "oidc" => Ok(Self::Oidc),
            _ => Err(DomainError::invalid(
                "invalid_protocol",
                format!("'{}' is not a protocol: use saml or oidc", truncate(raw, 40)),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saml => "saml",
            Self::Oidc => "oidc",
        }
    }
}

/// Cuts untrusted text for inclusion in an error message.
pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_case_insensitive_but_keeps_spelling() {
        let a = Email::parse("Jane.Doe@Example.COM").unwrap();
        let b = Email::parse("jane.doe@example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "Jane.Doe@example.com");
        assert_eq!(a.key(), "jane.doe@example.com");
        assert_eq!(a.domain(), "example.com");
        assert_eq!(a.local_part(), "Jane.Doe");
    }

    #[test]
    fn email_rejects_malformed() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-x.com",
            "a@example.123",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn subdomains_are_within_their_parent() {
        let parent = DomainName::parse("Example.com.").unwrap();
        assert_eq!(parent.as_str(), "example.com");
        assert!(DomainName::parse("eu.example.com").unwrap().is_within(&parent));
        assert!(parent.is_within(&parent));
        assert!(!DomainName::parse("badexample.com").unwrap().is_within(&parent));
    }

    #[test]
    fn public_mail_domains_are_recognised() {
        assert!(DomainName::parse("GMAIL.com").unwrap().is_public_mail_domain());
        assert!(!DomainName::parse("example.com").unwrap().is_public_mail_domain());
    }

    #[test]
    fn organization_names_refuse_colon() {
        assert!(Name::parse_organization("acme:eng").is_err());
        // An organization named like an id could be taken for another one.
        assert!(Name::parse_organization("0194f0aa-0000-7000-8000-000000000001").is_err());
        assert!(Name::parse_organization("0194F0AA00007000800000000000000A").is_err());
        assert!(Name::parse_team("a:b").is_ok());
        assert!(Name::parse_organization("  ").is_err());
        assert!(Name::parse_organization(&"x".repeat(101)).is_err());
        assert_eq!(
            Name::parse_organization("Acme").unwrap(),
            Name::parse_organization("ACME").unwrap()
        );
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse("Owner").unwrap(), Role::Owner);
        assert!(Role::parse("admin").is_err());
    }
}
