//! Resources as SCIM JSON: stored document + `id`, `schemas`, computed attributes and
//! `meta`; query parameters; `attributes`/`excludedAttributes` projection.

use super::{ScimFailure, DEFAULT_COUNT, MAX_COUNT};
use crate::routes::ts;
use roster_scim::filter;
use roster_scim::urn;
use roster_scim::ScimError;
use roster_store::scim::filter_sql::Resource;
use roster_store::scim::groups::ScimGroup;
use roster_store::scim::users::ScimUser;
use roster_store::scim::{sort_column, ListQuery};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn meta(kind: &'static str, location: &str, created: i64, updated: i64, version: i64) -> Value {
    let meta = Meta {
        kind,
        location,
        created,
        updated,
        version,
    };
    serde_json::to_value(meta).unwrap_or_default()
}

/// A User as a JSON value, for projection: the one rendering ([`UserJson`]) read back.
pub fn user(u: &ScimUser, base: &str) -> Value {
    serde_json::to_value(UserJson { user: u, base }).unwrap_or(Value::Null)
}

/// A User as SCIM JSON: the stored document with `schemas`, `id`, `displayName`,
/// `groups` and `meta`, written straight out, keys in the order a `Map` keeps them (no
/// `Value` is built for the common answers: an IdP's `userName eq` lookup, the answer to
/// a write). The only rendering of a User; [`user`] reads it back for projection.
pub struct UserJson<'a> {
    pub user: &'a ScimUser,
    pub base: &'a str,
}

impl Serialize for UserJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.user;
        let groups = u.groups.as_deref().unwrap_or_default();
        // The computed attributes, in key order, merged into the stored document's (a
        // `Map` iterates in key order). A stored attribute of the same name gives way to
        // the computed one.
        let computed = ["displayName", "groups", "id", "meta", "schemas"]
            .into_iter()
            .filter(|k| match *k {
                "displayName" => u.username.is_some(),
                "groups" => !groups.is_empty(),
                _ => true,
            });
        let mut doc = u.resource.iter().peekable();
        let mut map = s.serialize_map(None)?;
        for key in computed {
            while let Some((k, v)) = doc.next_if(|(k, _)| k.as_str() < key) {
                map.serialize_entry(k, v)?;
            }
            doc.next_if(|(k, _)| k.as_str() == key);
            match key {
                "displayName" => map.serialize_entry(key, &u.username)?,
                "groups" => map.serialize_entry(
                    key,
                    &Seq(groups.iter().map(|(id, display)| GroupRef {
                        id,
                        display,
                        base: self.base,
                    })),
                )?,
                "id" => map.serialize_entry(key, &u.id)?,
                "meta" => map.serialize_entry(
                    key,
                    &Meta {
                        kind: "User",
                        location: &format!("{}/Users/{}", self.base, u.id),
                        created: u.created_at,
                        updated: u.updated_at,
                        version: u.version,
                    },
                )?,
                _ => map.serialize_entry(
                    key,
                    &Seq(std::iter::once(urn::USER).chain(
                        [urn::ENTERPRISE_USER, urn::DOCKER_USER]
                            .into_iter()
                            .filter(|ext| u.resource.contains_key(*ext)),
                    )),
                )?,
            }
        }
        for (k, v) in doc {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A ListResponse (RFC 7644 §3.4.2), written straight out, keys in the order a `Map`
/// keeps them. The only rendering of a list.
pub struct ListJson<T> {
    pub total: i64,
    pub start_index: i64,
    pub items_per_page: usize,
    pub resources: Vec<T>,
}

impl<T: Serialize> ListJson<T> {
    pub fn new(total: i64, start_index: i64, resources: Vec<T>) -> Self {
        Self {
            total,
            start_index,
            items_per_page: resources.len(),
            resources,
        }
    }
}

impl ListJson<Value> {
    /// The list's text before and after its `items_per_page` resources, for a list whose
    /// resources are written as they are read. `Resources` is the first key, so the text
    /// of the list without resources is that head, `[]`, and the tail.
    pub fn around_resources(total: i64, start_index: i64, items_per_page: usize) -> (String, String) {
        const HEAD: &str = "{\"Resources\":[";
        let empty = Self {
            total,
            start_index,
            items_per_page,
            resources: Vec::new(),
        };
        let text = serde_json::to_string(&empty).unwrap_or_default();
        let tail = text.strip_prefix(HEAD).unwrap_or_default().to_string();
        (HEAD.to_string(), tail)
    }
}

impl<T: Serialize> Serialize for ListJson<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("Resources", &self.resources)?;
        map.serialize_entry("itemsPerPage", &self.items_per_page)?;
        map.serialize_entry("schemas", &[urn::LIST_RESPONSE])?;
        map.serialize_entry("startIndex", &self.start_index)?;
        map.serialize_entry("totalResults", &self.total)?;
        map.end()
    }
}

/// A sequence written from an iterator, once.
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

/// A User's Group in its `groups`.
struct GroupRef<'a> {
    id: &'a str,
    display: &'a str,
    base: &'a str,
}

impl Serialize for GroupRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("$ref", &format!("{}/Groups/{}", self.base, self.id))?;
        map.serialize_entry("display", self.display)?;
        map.serialize_entry("value", self.id)?;
        map.end()
    }
}

/// A resource's `meta`.
struct Meta<'a> {
    kind: &'static str,
    location: &'a str,
    created: i64,
    updated: i64,
    version: i64,
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("created", &ts(self.created))?;
        map.serialize_entry("lastModified", &ts(self.updated))?;
        map.serialize_entry("location", self.location)?;
        map.serialize_entry("resourceType", self.kind)?;
        map.serialize_entry("version", &etag(self.version))?;
        map.end()
    }
}

/// A Group's resource without its members, which [`super::members`] adds.
pub fn group(g: &ScimGroup, base: &str) -> Value {
    let mut doc = g.resource.clone();
    let location = format!("{base}/Groups/{}", g.id);
    doc.insert("schemas".into(), json!([urn::GROUP]));
    doc.insert("id".into(), Value::String(g.id.clone()));
    doc.insert("displayName".into(), Value::String(g.display_name.clone()));
    doc.insert(
        "meta".into(),
        meta("Group", &location, g.created_at, g.updated_at, g.version),
    );
    Value::Object(doc)
}

/// List and projection parameters; unknown ones (e.g. `aadOptscim062020`) are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub filter: Option<String>,
    #[serde(rename = "startIndex", alias = "startindex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    #[serde(rename = "sortBy", alias = "sortby")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder", alias = "sortorder")]
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes", alias = "excludedattributes")]
    pub excluded_attributes: Option<String>,
}

/// A `/.search` body (RFC 7644 §3.4.3).
pub fn params_from_search(body: &Map<String, Value>) -> Params {
    let text = |k: &str| -> Option<String> {
        body.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                _ => None,
            })
    };
    Params {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        sort_by: text("sortBy"),
        sort_order: text("sortOrder"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    }
}

fn int(raw: &Option<String>, name: &str) -> Result<Option<i64>, ScimFailure> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimFailure::from(ScimError::invalid_value(format!("{name} must be a whole number")))),
    }
}

impl Params {
    pub fn list_query(&self, resource: Resource) -> Result<ListQuery, ScimFailure> {
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(filter::parse(f)?),
        };
        let sort = match self.sort_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(sort_column(resource, s).ok_or_else(|| {
                ScimFailure::from(ScimError::invalid_value(format!("sorting by '{s}' is not supported")))
            })?),
        };
        let descending = self
            .sort_order
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("descending"));
        // RFC 7644 §3.4.2.4: startIndex below 1 is 1; a negative count is 0.
        let start_index = int(&self.start_index, "startIndex")?.unwrap_or(1).max(1);
        let count = int(&self.count, "count")?.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT);
        Ok(ListQuery {
            filter,
            sort,
            descending,
            start_index,
            count,
        })
    }
}

/// An incoming resource as stored: read-only and meta attributes dropped, `password`
/// ignored, nulls removed, known names in canonical spelling, string booleans made
/// booleans. Unknown attributes are kept as sent.
pub fn incoming(
    mut doc: Map<String, Value>,
    schemas: &roster_scim::patch::Schemas,
    read_only: &[&str],
) -> Result<Map<String, Value>, ScimError> {
    doc.retain(|k, v| {
        !v.is_null()
            && !["schemas", "id", "meta", "password"]
                .iter()
                .chain(read_only)
                .any(|r| k.eq_ignore_ascii_case(r))
    });
    roster_scim::patch::normalize(&mut doc, schemas);
    // Every known attribute's value fits its type, or nothing is stored.
    roster_scim::patch::validate(&doc, schemas)?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://roster.example/scim/v2";

    fn scim_user(resource: Value, username: Option<&str>, groups: Option<Vec<(&str, &str)>>) -> ScimUser {
        ScimUser {
            id: "0194f0aa-0000-7000-8000-000000000001".into(),
            connection_id: "c".into(),
            user_id: username.map(|_| "u".into()),
            username: username.map(str::to_string),
            account_email: None,
            user_name: "ann@example.com".into(),
            external_id: None,
            active: true,
            resource: resource.as_object().cloned().unwrap(),
            version: 7,
            created_at: 1_700_000_000_123,
            updated_at: 1_700_000_360_456,
            groups: groups.map(|g| g.into_iter().map(|(i, n)| (i.into(), n.into())).collect()),
        }
    }

    /// Documents that put stored attributes before, between and after every computed
    /// one, extensions on and off, and stored names that collide with computed ones.
    fn cases() -> Vec<ScimUser> {
        vec![
            scim_user(json!({ "userName": "ann@example.com", "active": true }), None, None),
            scim_user(
                json!({
                    "Zeta": 1, "active": false, "emails": [{ "value": "ann@example.com", "primary": true }],
                    "externalId": "00u1", "hobby": "a \"quoted\" é", "name": { "givenName": "Ann" },
                    "title": "Engineer", "userName": "ann@example.com",
                    (urn::ENTERPRISE_USER): { "department": "R&D" },
                    (urn::DOCKER_USER): { "dockerRole": "owner" }
                }),
                Some("ann"),
                Some(vec![("g2", "acme:b"), ("g1", "acme:a")]),
            ),
            scim_user(
                json!({ "id": "forged", "meta": { "x": 1 }, "schemas": ["x"], "displayName": "forged",
                        "groups": ["forged"], "userName": "ann@example.com" }),
                Some("ann"),
                Some(vec![]),
            ),
            scim_user(json!({}), None, Some(vec![("g1", "acme:a")])),
        ]
    }

    /// The keys of the JSON object `text`, in the order written.
    fn keys_in_order(text: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        struct Keys<'a>(&'a mut Vec<String>);
        impl<'de> serde::de::Visitor<'de> for Keys<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
                while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                    self.0.push(k);
                }
                Ok(())
            }
        }
        serde::Deserializer::deserialize_map(&mut de, Keys(&mut keys)).unwrap();
        keys
    }

    #[test]
    fn a_user_is_its_document_with_the_computed_attributes_in_key_order() {
        for u in cases() {
            let text = serde_json::to_string(&UserJson { user: &u, base: BASE }).unwrap();
            let keys = keys_in_order(&text);
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(keys, sorted, "each key once, in order: {text}");
            let doc: Value = serde_json::from_str(&text).unwrap();
            // Computed attributes win over stored ones of the same name.
            assert_eq!(doc["id"], u.id.as_str());
            assert_eq!(doc["meta"]["version"], "W/\"7\"");
            assert_eq!(doc["meta"]["resourceType"], "User");
            assert_eq!(doc["meta"]["location"], format!("{BASE}/Users/{}", u.id));
            assert_eq!(doc["schemas"][0], urn::USER);
            if let Some(name) = &u.username {
                assert_eq!(doc["displayName"], name.as_str());
            }
            // Every stored attribute is there, but those computed.
            for (k, v) in &u.resource {
                if !["id", "meta", "schemas", "displayName", "groups"].contains(&k.as_str()) {
                    assert_eq!(&doc[k], v, "{k}");
                }
            }
            // The projection's value is the same rendering.
            assert_eq!(user(&u, BASE), doc);
        }
        let full = &cases()[1];
        let doc = user(full, BASE);
        assert_eq!(
            doc["schemas"],
            json!([urn::USER, urn::ENTERPRISE_USER, urn::DOCKER_USER])
        );
        assert_eq!(
            doc["groups"],
            json!([
                { "$ref": format!("{BASE}/Groups/g2"), "display": "acme:b", "value": "g2" },
                { "$ref": format!("{BASE}/Groups/g1"), "display": "acme:a", "value": "g1" }
            ])
        );
    }

    #[test]
    fn a_list_response_and_its_text_around_the_resources() {
        let users = cases();
        for (total, start) in [(0, 1), (4, 1), (250, 101)] {
            let views: Vec<_> = users.iter().map(|user| UserJson { user, base: BASE }).collect();
            let text = serde_json::to_string(&ListJson::new(total, start, views)).unwrap();
            let list: Value = serde_json::from_str(&text).unwrap();
            let resources: Vec<Value> = users.iter().map(|u| user(u, BASE)).collect();
            assert_eq!(
                list,
                json!({
                    "Resources": resources,
                    "itemsPerPage": users.len(),
                    "schemas": [urn::LIST_RESPONSE],
                    "startIndex": start,
                    "totalResults": total,
                })
            );
            // Written around resources streamed one by one, it is the same text.
            let (head, tail) = ListJson::around_resources(total, start, users.len());
            let items: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
            assert_eq!(format!("{head}{}{tail}", items.join(",")), text);
        }
    }

    #[test]
    fn only_attributes_or_excluded_attributes_project() {
        let with = Params::projecting;
        assert!(!with(None, None).projects());
        assert!(!with(Some(" "), Some("")).projects());
        assert!(with(Some("userName"), None).projects());
        assert!(with(None, Some("groups")).projects());
        // Without a projection, `project` indeed changes nothing.
        for u in cases() {
            let doc = user(&u, BASE);
            assert_eq!(with(Some(" "), Some("")).project(doc.clone()), doc);
        }
    }
}
