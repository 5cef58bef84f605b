//! Attribute paths: `[schemaURN ":"] attr ["." subAttr]`.
//!
//! A URN contains dots of its own (`…:enterprise:2.0:User`), so the URN prefix is split
//! off at its last `:` first, and only the rest is split on `.`. Names are kept as sent;
//! comparisons are case-insensitive (RFC 7643 §2.1).

use crate::ScimError;
use std::fmt;

/// Longest attribute path accepted.
pub const MAX_PATH_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path names one.
    pub schema: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl AttrPath {
    pub fn parse(raw: &str) -> Result<Self, ScimError> {
        let bad = || ScimError::invalid_path(format!("'{}' is not an attribute path", crate::path::clip(raw)));
        if raw.is_empty() || raw.len() > MAX_PATH_LEN {
            return Err(bad());
        }
        let (schema, rest) = if raw.len() > 4 && raw.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            let (urn, rest) = raw.rsplit_once(':').ok_or_else(bad)?;
            (Some(urn.to_string()), rest)
        } else {
            (None, raw)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
            return Err(bad());
        }
        Ok(Self {
            schema,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// The path is `name` (case-insensitively), in the core schema or `schema`.
    pub fn is(&self, name: &str) -> bool {
        self.attr.eq_ignore_ascii_case(name) && self.sub.is_none()
    }

    pub fn is_sub(&self, attr: &str, sub: &str) -> bool {
        self.attr.eq_ignore_ascii_case(attr) && self.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(sub))
    }

    pub fn in_schema(&self, urn: &str) -> bool {
        self.schema.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(urn))
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// Cuts untrusted text for an error message.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_prefix_is_split_before_dots() {
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(
            p.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!((p.attr.as_str(), p.sub.as_deref()), ("manager", Some("value")));
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(
            (p.schema, p.attr.as_str(), p.sub.as_deref()),
            (None, "name", Some("givenName"))
        );
        assert!(AttrPath::parse("userName").unwrap().is("USERNAME"));
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "1abc", "a.b.c", "a b", "name.", ".x", &"a".repeat(600)] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type(), Some("invalidPath"), "{bad}");
        }
    }
}
