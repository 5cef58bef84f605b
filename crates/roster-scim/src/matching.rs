//! Matching within one resource: which values of a multi-valued attribute a value-path
//! filter selects (`emails[type eq "work"]`), for PATCH. Lists are filtered by the
//! database, never here.

use crate::filter::{CompareOp, Filter};
use crate::path::AttrPath;
use serde_json::{Map, Value};

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Equal as SCIM values: strings case-insensitively, objects by their `value` when both
/// have one.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (x.get("value"), y.get("value")) {
            (Some(p), Some(q)) => same_value(p, q),
            _ => x == y,
        },
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

pub(crate) fn seed_from_filter(f: &Filter, out: &mut Map<String, Value>) {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => {
            out.insert(path.attr.clone(), value.clone());
        }
        Filter::And(a, b) => {
            seed_from_filter(a, out);
            seed_from_filter(b, out);
        }
        _ => {}
    }
}

/// Whether one value of a multi-valued attribute matches a value-path filter.
pub(crate) fn matches(item: &Value, f: &Filter) -> bool {
    let field = |p: &AttrPath| -> Option<&Value> {
        match item {
            Value::Object(o) => get_ci(o, &p.attr),
            // A multi-valued attribute of plain values: `value` names the value itself.
            other if p.is("value") => Some(other),
            _ => None,
        }
    };
    match f {
        Filter::Present(p) => field(p).is_some_and(|v| !v.is_null()),
        Filter::Compare { path, op, value } => field(path).is_some_and(|v| compare(v, *op, value)),
        Filter::And(a, b) => matches(item, a) && matches(item, b),
        Filter::Or(a, b) => matches(item, a) || matches(item, b),
        Filter::Not(a) => !matches(item, a),
        Filter::ValuePath { .. } => false,
    }
}

pub(crate) fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (a.to_lowercase(), e.to_lowercase());
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (a, e) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
    }
}
