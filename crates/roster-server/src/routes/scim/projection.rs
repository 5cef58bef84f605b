//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes of a
//! resource an answer keeps.

use super::render::Params;
use roster_scim::urn;
use serde_json::{Map, Value};

impl Params {
    /// Whether `attributes` or `excludedAttributes` asks for a projection: without one,
    /// [`Params::project`] returns a resource unchanged.
    pub fn projects(&self) -> bool {
        let given = |raw: &Option<String>| raw.as_deref().is_some_and(|a| !a.trim().is_empty());
        given(&self.attributes) || given(&self.excluded_attributes)
    }

    /// Whether `attr` (a top-level name) would survive projection.
    pub fn wants(&self, attr: &str) -> bool {
        // `whole`: only a path naming the attribute itself counts (excluding
        // `members.type` keeps the members).
        let listed = |raw: &Option<String>, whole: bool| {
            raw.as_deref().is_some_and(|l| {
                l.split(',').map(|p| p.trim()).any(|p| {
                    let p = p.rsplit(':').next().unwrap_or(p);
                    let mut parts = p.split('.');
                    parts.next().is_some_and(|top| top.eq_ignore_ascii_case(attr)) && !(whole && parts.next().is_some())
                })
            })
        };
        if self.attributes.as_deref().is_some_and(|a| !a.trim().is_empty()) {
            return listed(&self.attributes, false);
        }
        !listed(&self.excluded_attributes, true)
    }

    /// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5); `id` and
    /// `schemas` always stay.
    pub fn project(&self, mut resource: Value) -> Value {
        let Some(obj) = resource.as_object_mut() else {
            return resource;
        };
        let paths = |raw: &str| -> Vec<(Option<String>, String, Option<String>)> {
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .filter_map(|p| roster_scim::path::AttrPath::parse(p).ok())
                .map(|p| (p.schema, p.attr, p.sub))
                .collect()
        };
        let key_for =
            |obj: &Map<String, Value>, schema: &Option<String>, attr: &str| -> Option<(Option<String>, String)> {
                match schema {
                    Some(s) if !s.eq_ignore_ascii_case(urn::USER) && !s.eq_ignore_ascii_case(urn::GROUP) => {
                        let ext = obj.keys().find(|k| k.eq_ignore_ascii_case(s))?.clone();
                        let inner = obj
                            .get(&ext)?
                            .as_object()?
                            .keys()
                            .find(|k| k.eq_ignore_ascii_case(attr))?
                            .clone();
                        Some((Some(ext), inner))
                    }
                    _ => Some((None, obj.keys().find(|k| k.eq_ignore_ascii_case(attr))?.clone())),
                }
            };
        if let Some(raw) = self.attributes.as_deref().filter(|a| !a.trim().is_empty()) {
            let mut out = Map::new();
            for keep in ["schemas", "id", "meta"] {
                if let Some(v) = obj.get(keep) {
                    out.insert(keep.into(), v.clone());
                }
            }
            for (schema, attr, sub) in paths(raw) {
                let Some((ext, key)) = key_for(obj, &schema, &attr) else {
                    continue;
                };
                let source = match &ext {
                    Some(e) => obj.get(e).and_then(Value::as_object),
                    None => Some(&*obj),
                };
                let Some(value) = source.and_then(|s| s.get(&key)).cloned() else {
                    continue;
                };
                let value = match (&sub, value) {
                    (Some(sub), Value::Object(o)) => {
                        let mut m = out_get(&out, &ext, &key).as_object().cloned().unwrap_or_default();
                        if let Some((k, v)) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub)) {
                            m.insert(k.clone(), v.clone());
                        }
                        Value::Object(m)
                    }
                    // A multi-valued attribute (`emails.value`, `members.value`): each
                    // value keeps the sub-attributes named so far.
                    (Some(sub), Value::Array(items)) if items.iter().all(Value::is_object) => {
                        let before = out_get(&out, &ext, &key);
                        let list = items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| {
                                let mut m = before.get(i).and_then(Value::as_object).cloned().unwrap_or_default();
                                if let Some((k, v)) = item
                                    .as_object()
                                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub)))
                                {
                                    m.insert(k.clone(), v.clone());
                                }
                                Value::Object(m)
                            })
                            .collect();
                        Value::Array(list)
                    }
                    (_, v) => v,
                };
                match &ext {
                    Some(e) => {
                        let entry = out.entry(e.clone()).or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(m) = entry {
                            m.insert(key, value);
                        }
                    }
                    None => {
                        out.insert(key, value);
                    }
                }
            }
            return Value::Object(out);
        }
        if let Some(raw) = self.excluded_attributes.as_deref() {
            for (schema, attr, sub) in paths(raw) {
                let Some((ext, key)) = key_for(obj, &schema, &attr) else {
                    continue;
                };
                if ext.is_none() && (key == "id" || key == "schemas") {
                    continue;
                }
                let container = match &ext {
                    Some(e) => obj.get_mut(e).and_then(Value::as_object_mut),
                    None => Some(&mut *obj),
                };
                if let Some(c) = container {
                    match &sub {
                        Some(sub) => match c.get_mut(&key) {
                            Some(Value::Object(o)) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
                            Some(Value::Array(items)) => {
                                for o in items.iter_mut().filter_map(Value::as_object_mut) {
                                    o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                                }
                            }
                            _ => {}
                        },
                        None => {
                            c.remove(&key);
                        }
                    }
                }
            }
        }
        resource
    }
}

/// What the projection has kept of `key` so far (`Null` when nothing).
fn out_get(out: &Map<String, Value>, ext: &Option<String>, key: &str) -> Value {
    let container = match ext {
        Some(e) => out.get(e).and_then(Value::as_object),
        None => Some(out),
    };
    container.and_then(|c| c.get(key)).cloned().unwrap_or_default()
}

#[cfg(test)]
impl Params {
    /// Parameters that ask for this projection and nothing else.
    pub(crate) fn projecting(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        Self {
            attributes: attributes.map(str::to_string),
            excluded_attributes: excluded.map(str::to_string),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sub_attribute_of_a_multi_valued_attribute_projects_each_value() {
        let with = Params::projecting;
        let doc = json!({
            "schemas": [urn::USER], "id": "1", "userName": "ann@example.com",
            "emails": [{ "value": "a@x.test", "type": "work", "primary": true }, { "value": "b@x.test", "type": "home" }],
        });
        let kept = with(Some("emails.value"), None).project(doc.clone());
        assert_eq!(
            kept["emails"],
            json!([{ "value": "a@x.test" }, { "value": "b@x.test" }])
        );
        assert!(kept.get("userName").is_none());
        let both = json!([{ "value": "a@x.test", "type": "work" }, { "value": "b@x.test", "type": "home" }]);
        assert_eq!(
            with(Some("emails.value,Emails.TYPE"), None).project(doc.clone())["emails"],
            both
        );
        let left = with(None, Some("emails.primary")).project(doc.clone());
        assert_eq!(left["emails"], both);
        assert_eq!(left["userName"], "ann@example.com");
        // Excluding a sub-attribute keeps the attribute; a list of strings is no
        // list of objects.
        assert!(with(None, Some("emails.primary")).wants("emails"));
        assert!(!with(None, Some("emails")).wants("emails"));
        assert!(with(Some("emails.value"), None).wants("emails"));
        assert_eq!(
            with(Some("schemas.x"), None).project(doc)["schemas"],
            json!([urn::USER])
        );
    }
}
