//! PATCH (RFC 7644 §3.5.2), with what Okta and Microsoft Entra ID actually send:
//! `op` in any case, an `Operations` key in any case, booleans as `"True"`/`"False"`,
//! path-less values with dotted or URN-prefixed keys, value-path filters
//! (`emails[type eq "work"].value`), member removal by filter, and Entra's legacy
//! `remove` of `members` with a `value` list (only those members — never all).
//!
//! A resource is a JSON object: core attributes at the top, each extension's attributes
//! under its URN. [`apply`] changes it in place, all operations or none (the caller keeps
//! the original until it returns `Ok`). Group `members` are not part of the document —
//! a group may have 100,000 of them — so member operations come back as [`MemberOp`]s
//! for the store to apply by id.

use crate::filter::{self, Filter};
use crate::matching::{matches, same_value, seed_from_filter};
use crate::path::{clip, AttrPath};
use crate::schema::{self, Attr, Mutability, Type};
pub use crate::stored::{normalize, validate};
use crate::ScimError;
use serde_json::{Map, Value};

mod members;
use members::member_op;
pub use members::{member_id, only_adds_or_removes_members};

pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// `attr`, `attr.sub`, `urn:…:attr`, `attr[filter]`, `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A change of a Group's members, by User id, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

/// An attribute path, with `enabled` read as `active` (S6: some IdPs send `enabled`).
fn attr_path(raw: &str) -> Result<AttrPath, ScimError> {
    let mut p = AttrPath::parse(raw)?;
    if p.schema.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("enabled") {
        p.attr = "active".into();
    }
    Ok(p)
}

pub fn parse_path(raw: &str) -> Result<PatchPath, ScimError> {
    let raw = raw.trim();
    match raw.find('[') {
        None => Ok(PatchPath {
            attr: attr_path(raw)?,
            filter: None,
        }),
        Some(open) => {
            let close = raw
                .rfind(']')
                .filter(|c| *c > open)
                .ok_or_else(|| ScimError::invalid_path(format!("'{}': ']' is missing", clip(raw))))?;
            let mut attr = AttrPath::parse(raw.get(..open).unwrap_or_default())?;
            if attr.sub.is_some() {
                return Err(ScimError::invalid_path(format!("'{}' is not a value path", clip(raw))));
            }
            let inner = raw.get(open + 1..close).unwrap_or_default();
            let filter = filter::parse(inner).map_err(|e| ScimError::invalid_path(e.detail))?;
            let rest = raw.get(close + 1..).unwrap_or_default();
            if let Some(sub) = rest.strip_prefix('.') {
                attr.sub = Some(AttrPath::parse(sub)?.attr);
            } else if !rest.is_empty() {
                return Err(ScimError::invalid_path(format!("'{}' has text after ']'", clip(raw))));
            }
            Ok(PatchPath {
                attr,
                filter: Some(filter),
            })
        }
    }
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Parses a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body needs an 'Operations' list"))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "'Operations' must hold 1 to {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .map(|o| {
            let o = o
                .as_object()
                .ok_or_else(|| ScimError::invalid_syntax("each operation must be a JSON object"))?;
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("remove") => Op::Remove,
                Some("replace") => Op::Replace,
                _ => return Err(ScimError::invalid_syntax("'op' must be add, remove or replace")),
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(parse_path(p)?),
                Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
            };
            let value = get_ci(o, "value").cloned();
            match (op, &path, &value) {
                (Op::Add | Op::Replace, _, None) => Err(ScimError::invalid_value("add and replace need a 'value'")),
                (Op::Remove, None, None) => Err(ScimError::no_target("remove needs a 'path'")),
                (Op::Add | Op::Replace, None, Some(v)) if !v.is_object() => Err(ScimError::invalid_value(
                    "without a 'path', the 'value' must be an object of attributes",
                )),
                _ => Ok(Operation { op, path, value }),
            }
        })
        .collect()
}

/// The schemas of one resource type.
pub struct Schemas {
    pub core: &'static str,
    pub extensions: &'static [&'static str],
}

impl Schemas {
    /// Finds the attribute a path names: its definition and the document key of its
    /// container (`None` for the core schema, else the extension URN).
    fn resolve(&self, path: &AttrPath) -> Result<(Option<&'static str>, &'static Attr), ScimError> {
        let unknown = || ScimError::invalid_path(format!("'{path}' is not an attribute of this resource"));
        let container = match &path.schema {
            None => None,
            Some(s) if s.eq_ignore_ascii_case(self.core) => None,
            Some(s) => Some(
                *self
                    .extensions
                    .iter()
                    .find(|e| e.eq_ignore_ascii_case(s))
                    .ok_or_else(unknown)?,
            ),
        };
        let attrs = schema::attrs_of(container.unwrap_or(self.core)).ok_or_else(unknown)?;
        let common = if container.is_none() {
            schema::find(schema::COMMON_ATTRS, &path.attr)
        } else {
            None
        };
        let found = schema::find(attrs, &path.attr).or(common).map(|a| (container, a));
        // Without a URN, a name no core attribute has may be an extension's: Entra sends
        // the enterprise `manager` as plain `manager`.
        let found = found.or_else(|| {
            if path.schema.is_some() {
                return None;
            }
            self.extensions.iter().find_map(|ext| {
                let attrs = schema::attrs_of(ext)?;
                schema::find(attrs, &path.attr).map(|a| (Some(*ext), a))
            })
        });
        let (container, attr) = found.ok_or_else(unknown)?;
        if let Some(sub) = &path.sub {
            attr.find_sub(sub).ok_or_else(unknown)?;
        }
        Ok((container, attr))
    }
}

/// Applies `ops` to `doc`. Returns the member operations (Groups) in order.
pub fn apply(doc: &mut Map<String, Value>, schemas: &Schemas, ops: &[Operation]) -> Result<Vec<MemberOp>, ScimError> {
    let mut members = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) => apply_path(doc, schemas, op.op, path, op.value.as_ref(), &mut members)?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    continue;
                };
                for (key, value) in values {
                    // A key may name an extension (its value an object of attributes), a
                    // URN-prefixed attribute, or a dotted sub-attribute.
                    if let Some(ext) = schemas.extensions.iter().find(|e| e.eq_ignore_ascii_case(key)) {
                        let Value::Object(inner) = value else {
                            return Err(ScimError::invalid_value(format!("'{key}' must be an object")));
                        };
                        for (k, v) in inner {
                            let path = PatchPath {
                                attr: AttrPath::parse(&format!("{ext}:{k}"))?,
                                filter: None,
                            };
                            apply_path(doc, schemas, op.op, &path, Some(v), &mut members)?;
                        }
                        continue;
                    }
                    if key.eq_ignore_ascii_case("schemas")
                        || key.eq_ignore_ascii_case("id")
                        || key.eq_ignore_ascii_case("meta")
                    {
                        continue;
                    }
                    let path = PatchPath {
                        attr: attr_path(key)?,
                        filter: None,
                    };
                    apply_path(doc, schemas, op.op, &path, Some(value), &mut members)?;
                }
            }
        }
    }
    normalize(doc, schemas);
    validate(doc, schemas)?;
    Ok(members)
}

fn apply_path(
    doc: &mut Map<String, Value>,
    schemas: &Schemas,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
    members: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    // A path that is an extension's URN names the whole extension object.
    if let (Some(schema), None, None) = (&path.attr.schema, &path.attr.sub, &path.filter) {
        let whole = format!("{schema}:{}", path.attr.attr);
        if let Some(ext) = schemas.extensions.iter().find(|e| e.eq_ignore_ascii_case(&whole)) {
            let stale: Vec<String> = doc.keys().filter(|k| k.eq_ignore_ascii_case(ext)).cloned().collect();
            let current = stale.iter().filter_map(|k| doc.remove(k)).next();
            match (op, value) {
                (Op::Remove, _) => {}
                (_, Some(Value::Object(new))) => {
                    // Add and replace both keep the sub-attributes not mentioned (RFC 7644 §3.5.2.3).
                    let mut merged = match current {
                        Some(Value::Object(cur)) => cur,
                        _ => Map::new(),
                    };
                    for (k, v) in new {
                        merged.insert(k.clone(), v.clone());
                    }
                    doc.insert((*ext).to_string(), Value::Object(merged));
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "the value of '{ext}' must be an object"
                    )))
                }
            }
            return Ok(());
        }
    }
    let (container, attr) = schemas.resolve(&path.attr)?;
    if let Some(change) = member_op(container, attr, op, path, value) {
        members.push(change?);
        return Ok(());
    }
    if attr.mutability == Mutability::ReadOnly {
        // Entra ID's default mapping sends a User's displayName with every update; it is
        // ignored here as in PUT and POST, rather than failing the whole PATCH.
        if attr.name == "displayName" && container.is_none() && schemas.core == crate::urn::USER {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("'{}' is read-only", attr.name)));
    }
    if let Some(sub) = &path.attr.sub {
        if attr.find_sub(sub).is_some_and(|s| s.mutability == Mutability::ReadOnly) {
            return Err(ScimError::mutability(format!("'{}.{sub}' is read-only", attr.name)));
        }
    }
    let target: &mut Map<String, Value> = match container {
        None => doc,
        Some(ext) => {
            let entry = doc.entry(ext.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry
                .as_object_mut()
                .ok_or_else(|| ScimError::invalid_value("extension is not an object"))?
        }
    };
    let key = attr.name.to_string();
    // Drop any differently-cased spelling of the key.
    let stale: Vec<String> = target
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(&key) && **k != key)
        .cloned()
        .collect();
    for k in stale {
        if let Some(v) = target.remove(&k) {
            target.entry(key.clone()).or_insert(v);
        }
    }
    let sub = path
        .attr
        .sub
        .as_deref()
        .and_then(|s| attr.find_sub(s))
        .map(|s| s.name.to_string());

    if let Some(f) = &path.filter {
        if !attr.multi {
            return Err(ScimError::invalid_path(format!("'{}' is not multi-valued", attr.name)));
        }
        let list = target.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(items) = list else {
            return Err(ScimError::invalid_value(format!("'{}' is not a list", attr.name)));
        };
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, v)| matches(v, f))
            .map(|(i, _)| i)
            .collect();
        match (op, &sub) {
            (Op::Remove, None) => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            (Op::Remove, Some(s)) => {
                for i in hits {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        o.remove(s);
                    }
                }
            }
            (Op::Add | Op::Replace, Some(s)) => {
                let v = value.cloned().unwrap_or(Value::Null);
                if hits.is_empty() {
                    // Entra ID adds `emails[type eq "work"].value` when there is none yet:
                    // the new value takes the filter's equalities.
                    let mut new = Map::new();
                    seed_from_filter(f, &mut new);
                    new.insert(s.clone(), v);
                    items.push(Value::Object(new));
                } else {
                    for i in hits {
                        if let Some(Value::Object(o)) = items.get_mut(i) {
                            o.insert(s.clone(), v.clone());
                        }
                    }
                }
            }
            (Op::Add | Op::Replace, None) => {
                let Some(Value::Object(v)) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "a value of '{}' must be an object",
                        attr.name
                    )));
                };
                if hits.is_empty() {
                    return Err(ScimError::no_target(format!(
                        "no value of '{}' matches the filter",
                        attr.name
                    )));
                }
                for i in hits {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        for (k, x) in v {
                            o.insert(k.clone(), x.clone());
                        }
                    }
                }
            }
        }
        return Ok(());
    }

    match (op, &sub) {
        (Op::Remove, None) => {
            // Entra's legacy form: remove only the listed values of a multi-valued attribute.
            match (attr.multi, value) {
                (true, Some(Value::Array(listed))) => {
                    if let Some(Value::Array(items)) = target.get_mut(&key) {
                        items.retain(|item| !listed.iter().any(|l| same_value(item, l)));
                    }
                }
                _ => {
                    target.remove(&key);
                }
            }
        }
        (Op::Remove, Some(s)) => match target.get_mut(&key) {
            Some(Value::Object(o)) => {
                o.remove(s);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item {
                        o.remove(s);
                    }
                }
            }
            _ => {}
        },
        (Op::Add | Op::Replace, Some(s)) => {
            let v = value.cloned().unwrap_or(Value::Null);
            let entry = target.entry(key.clone()).or_insert_with(|| {
                if attr.multi {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            match entry {
                Value::Object(o) => {
                    o.insert(s.clone(), v);
                }
                // The legacy form of a multi-valued sub-attribute without a filter
                // (`addresses.locality`): with no value yet, it makes the first one.
                Value::Array(items) if items.is_empty() => {
                    items.push(Value::Object(Map::from_iter([(s.clone(), v)])));
                }
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Value::Object(o) = item {
                            o.insert(s.clone(), v.clone());
                        }
                    }
                }
                other => *other = Value::Object(Map::from_iter([(s.clone(), v)])),
            }
        }
        (Op::Add, None) if attr.multi => {
            let new: Vec<Value> = match value {
                Some(Value::Array(a)) => a.clone(),
                Some(Value::Null) | None => Vec::new(),
                Some(v) => vec![v.clone()],
            };
            let entry = target.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Value::Array(items) = entry {
                for v in new {
                    if !items.iter().any(|i| same_value(i, &v)) {
                        items.push(v);
                    }
                }
            }
        }
        (Op::Add | Op::Replace, None) => {
            let v = single_complex(attr, value.cloned().unwrap_or(Value::Null));
            match (attr.kind, target.get_mut(&key), &v) {
                // A complex single value: the given sub-attributes replace theirs.
                (Type::Complex, Some(Value::Object(cur)), Value::Object(new)) if !attr.multi => {
                    for (k, x) in new {
                        cur.insert(k.clone(), x.clone());
                    }
                }
                (_, _, Value::Null) => {
                    target.remove(&key);
                }
                _ => {
                    target.insert(
                        key.clone(),
                        if attr.multi && !v.is_array() {
                            Value::Array(vec![v])
                        } else {
                            v
                        },
                    );
                }
            }
        }
    }
    Ok(())
}

/// A single-valued complex attribute with a `value` sub-attribute (the enterprise
/// `manager`) as Entra sends it in its two forms: a bare value (`"<id>"`) is that
/// `value`; a list of one object (`[{"$ref": null, "value": "<id>"}]`) is that object.
/// Null sub-attributes are dropped.
fn single_complex(attr: &Attr, v: Value) -> Value {
    if attr.kind != Type::Complex || attr.multi || attr.find_sub("value").is_none() {
        return v;
    }
    let object = match v {
        Value::String(_) | Value::Number(_) => Map::from_iter([("value".to_string(), v)]),
        Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(Value::Object(o)) => o,
            Some(other) => return Value::Array(vec![other]),
            None => return Value::Array(items),
        },
        Value::Object(o) => o,
        other => return other,
    };
    Value::Object(object.into_iter().filter(|(_, x)| !x.is_null()).collect())
}
