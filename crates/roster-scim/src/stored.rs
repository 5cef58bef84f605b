//! A SCIM document's stored form: known attribute names in their canonical spelling,
//! booleans sent as strings made booleans, nulls dropped ([`normalize`]), and every known
//! attribute's value checked against its schema type ([`validate`], RFC 7643 §2.3).
//! Unknown attributes are kept as sent.

use crate::patch::Schemas;
use crate::path::clip;
use crate::schema::{self, Attr, Type};
use crate::ScimError;
use serde_json::{Map, Value};

/// Brings a document to its stored form: known attribute names in their canonical
/// spelling, booleans sent as strings turned into booleans, nulls removed.
pub fn normalize(doc: &mut Map<String, Value>, schemas: &Schemas) {
    // S6: `enabled` is an alias of `active`.
    if !doc.keys().any(|k| k.eq_ignore_ascii_case("active")) {
        if let Some(k) = doc.keys().find(|k| k.eq_ignore_ascii_case("enabled")).cloned() {
            if let Some(v) = doc.remove(&k) {
                doc.insert("active".into(), v);
            }
        }
    }
    fn fix(obj: &mut Map<String, Value>, attrs: &'static [Attr]) {
        let keys: Vec<String> = obj.keys().cloned().collect();
        for k in keys {
            let Some(a) = schema::find(attrs, &k) else { continue };
            let Some(mut v) = obj.remove(&k) else { continue };
            coerce(&mut v, a);
            if !v.is_null() {
                obj.insert(a.name.to_string(), v);
            }
        }
    }
    fn coerce(v: &mut Value, a: &'static Attr) {
        match v {
            Value::String(s) if a.kind == Type::Boolean => {
                if s.eq_ignore_ascii_case("true") {
                    *v = Value::Bool(true);
                } else if s.eq_ignore_ascii_case("false") {
                    *v = Value::Bool(false);
                }
            }
            Value::Object(o) if !a.sub.is_empty() => fix(o, a.sub),
            Value::Array(items) => {
                items.retain(|i| !i.is_null());
                for i in items.iter_mut() {
                    coerce(i, a);
                }
            }
            _ => {}
        }
    }
    if let Some(core) = schema::attrs_of(schemas.core) {
        fix(doc, core);
    }
    fix(doc, schema::COMMON_ATTRS);
    for ext in schemas.extensions {
        let keys: Vec<String> = doc.keys().filter(|k| k.eq_ignore_ascii_case(ext)).cloned().collect();
        for k in keys {
            if let Some(mut v) = doc.remove(&k) {
                if let (Value::Object(o), Some(attrs)) = (&mut v, schema::attrs_of(ext)) {
                    fix(o, attrs);
                    if !o.is_empty() {
                        doc.insert((*ext).to_string(), v);
                    }
                }
            }
        }
    }
    doc.retain(|_, v| !v.is_null());
}

/// Checks every known attribute of `doc` against its schema type (RFC 7643 §2.3):
/// booleans are booleans, strings and references strings, date-times RFC 3339 strings,
/// complex values objects, multi-valued ones lists. Unknown attributes are kept as sent.
pub fn validate(doc: &Map<String, Value>, schemas: &Schemas) -> Result<(), ScimError> {
    fn check(v: &Value, a: &'static Attr, at: &str, element: bool) -> Result<(), ScimError> {
        let wrong =
            |want: &str| ScimError::invalid_value(format!("'{at}' must be {want}, not {}", clip(&v.to_string())));
        if a.multi && !element {
            let Value::Array(items) = v else {
                return Err(wrong("a list"));
            };
            return items.iter().try_for_each(|i| check(i, a, at, true));
        }
        match (a.kind, v) {
            (Type::Boolean, Value::Bool(_)) | (Type::String | Type::Reference, Value::String(_)) => Ok(()),
            (Type::DateTime, Value::String(s)) if is_date_time(s) => Ok(()),
            (Type::Complex, Value::Object(o)) => check_all(o, a.sub, at),
            (Type::Boolean, _) => Err(wrong("true or false")),
            (Type::String, _) => Err(wrong("a string")),
            (Type::Reference, _) => Err(wrong("a reference (a string)")),
            (Type::DateTime, _) => Err(wrong("an RFC 3339 date and time")),
            (Type::Complex, _) => Err(wrong("an object")),
        }
    }
    fn check_all(o: &Map<String, Value>, attrs: &'static [Attr], at: &str) -> Result<(), ScimError> {
        for (k, v) in o {
            if let Some(a) = schema::find(attrs, k) {
                let name = if at.is_empty() {
                    a.name.to_string()
                } else {
                    format!("{at}.{}", a.name)
                };
                check(v, a, &name, false)?;
            }
        }
        Ok(())
    }
    if let Some(core) = schema::attrs_of(schemas.core) {
        check_all(doc, core, "")?;
    }
    for ext in schemas.extensions {
        if let (Some(Value::Object(o)), Some(attrs)) = (doc.get(*ext), schema::attrs_of(ext)) {
            check_all(o, attrs, ext)?;
        }
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS` followed by optional fractions and a zone: the shape of an
/// RFC 3339 date-time.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
}
