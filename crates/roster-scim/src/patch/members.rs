//! A Group's members in a PATCH: which member changes an operation makes, and whether a
//! PATCH makes nothing but changes of named members.

use super::{attr_path, MemberOp, Op, Operation, PatchPath, Schemas};
use crate::filter::{CompareOp, Filter};
use crate::schema::Attr;
use crate::ScimError;
use serde_json::Value;

fn member_ids(value: Option<&Value>) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(_) => {
            return Err(ScimError::invalid_value(
                "members must be a list of {\"value\": \"<user id>\"}",
            ))
        }
    };
    items.into_iter().map(member_id).collect()
}

/// The User id of one member object (`{"value": "<id>"}`), in a PATCH or a Group body.
pub fn member_id(member: &Value) -> Result<String, ScimError> {
    member
        .get("value")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ScimError::invalid_value("each member needs a \"value\": the User's id"))
}

/// `members[value eq "a" or value eq "b"]` → ["a", "b"].
fn member_filter_ids(f: &Filter, out: &mut Vec<String>) -> Result<(), ScimError> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(id),
        } if path.is("value") => {
            out.push(id.clone());
            Ok(())
        }
        Filter::Or(a, b) => {
            member_filter_ids(a, out)?;
            member_filter_ids(b, out)
        }
        _ => Err(ScimError::invalid_filter(
            "members can be selected by 'value eq \"<id>\"' (joined with 'or') only",
        )),
    }
}

/// The member change an operation on `attr` (resolved from `path`) makes; `None` when
/// `attr` is not a Group's `members`.
pub(super) fn member_op(
    container: Option<&str>,
    attr: &Attr,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Option<Result<MemberOp, ScimError>> {
    if attr.name != "members" || container.is_some() {
        return None;
    }
    Some(match (op, &path.filter) {
        (Op::Add, None) => member_ids(value).map(MemberOp::Add),
        (Op::Replace, None) => member_ids(value).map(MemberOp::Replace),
        (Op::Remove, None) if value.is_some_and(|v| !v.is_null()) => member_ids(value).map(MemberOp::Remove),
        (Op::Remove, None) => Ok(MemberOp::RemoveAll),
        (Op::Remove, Some(f)) => {
            let mut ids = Vec::new();
            member_filter_ids(f, &mut ids).map(|()| MemberOp::Remove(ids))
        }
        _ => Err(ScimError::invalid_path("members take add, replace or remove")),
    })
}

/// Whether `ops` only add or remove the Group members they name: no other attribute
/// changes, and the list is neither replaced nor emptied. Two such PATCHes of one Group
/// give the same Group in either order, so a store may run them side by side. `false`
/// for anything else, an invalid operation included ([`super::apply`] says what is wrong).
pub fn only_adds_or_removes_members(schemas: &Schemas, ops: &[Operation]) -> bool {
    let one = |op: Op, path: &PatchPath, value: Option<&Value>| {
        schemas.resolve(&path.attr).ok().is_some_and(|(container, attr)| {
            matches!(
                member_op(container, attr, op, path, value),
                Some(Ok(MemberOp::Add(_) | MemberOp::Remove(_)))
            )
        })
    };
    !ops.is_empty()
        && ops.iter().all(|op| match (&op.path, &op.value) {
            (Some(path), value) => one(op.op, path, value.as_ref()),
            (None, Some(Value::Object(values))) => {
                !values.is_empty()
                    && values.iter().all(|(key, value)| {
                        attr_path(key).is_ok_and(|attr| one(op.op, &PatchPath { attr, filter: None }, Some(value)))
                    })
            }
            (None, _) => false,
        })
}
