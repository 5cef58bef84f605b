//! Events: the audit log's public face. Every directory change already writes its audit
//! event in the same transaction as the change (a transactional outbox by
//! construction); an event is how an app sees such a change: a stable type
//! (`membership.deactivated`, `team.member_added`, …), the time, the organization, the
//! cause (the rule and the source: SCIM, SSO, admin, system) and the object's state
//! after the change. This module maps one to the other and encodes the feed's cursor;
//! the order and the reading are `roster_store::audit::feed`'s.

use base64::Engine;
use roster_store::audit::{Event, Position};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Every event type, and the audit action each comes from.
pub const TYPES: &[(&str, &str)] = &[
    ("user.created", "user.create"),
    ("user.updated", "user.update"),
    ("user.deleted", "user.delete"),
    ("user.deactivated", "user.deactivate"),
    ("user.reactivated", "user.reactivate"),
    ("user.deprovisioned", "user.deprovision"),
    ("membership.added", "membership.add"),
    ("membership.role_changed", "membership.update"),
    ("membership.deactivated", "membership.update"),
    ("membership.reactivated", "membership.update"),
    ("membership.removed", "membership.remove"),
    ("team.created", "team.create"),
    ("team.renamed", "team.update"),
    ("team.deleted", "team.delete"),
    ("team.member_added", "team_member.add"),
    ("team.member_removed", "team_member.remove"),
    ("connection.created", "connection.create"),
    ("connection.updated", "connection.update"),
    ("connection.deleted", "connection.delete"),
    ("session.revoked", "session.end"),
    ("webhook.disabled", "webhook.disable"),
];

/// Whether `t` is an event type.
pub fn is_type(t: &str) -> bool {
    TYPES.iter().any(|(name, _)| *name == t)
}

/// One event as the feed shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublicEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339.
    pub time: String,
    pub organization: Option<String>,
    pub cause: Value,
    pub data: Value,
}

fn text<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// The type of audit event `e`, if apps see it: a membership update is a
/// deactivation, a reactivation or a role change; a team update a rename; a session
/// ended by a new sign-in in the same browser is not a revocation.
pub fn type_of(e: &Event) -> Option<&'static str> {
    let (before, after) = (e.before.as_ref(), e.after.as_ref());
    match e.action.as_str() {
        "membership.update" => match (text(before, "state"), text(after, "state")) {
            (Some("active"), Some("deactivated")) => Some("membership.deactivated"),
            (Some("deactivated"), Some("active")) => Some("membership.reactivated"),
            _ if text(before, "role") != text(after, "role") => Some("membership.role_changed"),
            _ => None,
        },
        "team.update" if text(before, "name") == text(after, "name") => None,
        "session.end" if e.rule.as_deref() == Some("T1") => None,
        action => TYPES.iter().find(|(_, a)| *a == action).map(|(t, _)| *t),
    }
}

/// Event `e` as apps see it, or `None` when it is not one of theirs.
pub fn public(e: &Event, ts: impl Fn(i64) -> String) -> Option<PublicEvent> {
    let kind = type_of(e)?;
    let mut data = Map::new();
    data.insert("object".into(), json!({ "kind": e.object_kind, "id": e.object_id }));
    for (k, v) in [
        ("company_id", &e.company_id),
        ("organization_id", &e.organization_id),
        ("connection_id", &e.connection_id),
        ("user_id", &e.user_id),
    ] {
        if let Some(v) = v {
            data.insert(k.into(), json!(v));
        }
    }
    // The object's state after the change; what it was, for a deletion or removal.
    match (&e.after, &e.before) {
        (Some(after), _) => {
            data.insert("state".into(), after.clone());
        }
        (None, Some(before)) => {
            data.insert("previous".into(), before.clone());
        }
        (None, None) => {}
    }
    if let (Some(b), Some(_)) = (&e.before, &e.after) {
        data.insert("previous".into(), b.clone());
    }
    Some(PublicEvent {
        id: e.id.clone(),
        kind,
        time: ts(e.at),
        organization: e.organization_id.clone(),
        cause: json!({ "source": e.actor_kind, "rule": e.rule, "reason": e.reason }),
        data: Value::Object(data),
    })
}

/// A cursor: where a reader is (a position in commit order), and the time of the event
/// there, so that a cursor older than the retention can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub position: Position,
    pub at: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = format!("v1.{}.{}.{}", self.position.tx, self.position.seq, self.at);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// A cursor this server gave out, or `None`.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 128 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let tx = parts.next()?.parse::<i64>().ok().filter(|n| *n >= 0)?;
        let seq = parts.next()?.parse::<i64>().ok().filter(|n| *n >= 0)?;
        let at = parts.next()?.parse::<i64>().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            position: Position { tx, seq },
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, before: Option<Value>, after: Option<Value>, rule: Option<&str>) -> Event {
        Event {
            id: "e1".into(),
            seq: 1,
            at: 1_790_000_000_000,
            actor_kind: "scim".into(),
            actor_id: None,
            action: action.into(),
            object_kind: "membership".into(),
            object_id: "o1/u1".into(),
            company_id: Some("c1".into()),
            organization_id: Some("o1".into()),
            connection_id: None,
            user_id: Some("u1".into()),
            before,
            after,
            rule: rule.map(str::to_string),
            reason: None,
            trace_id: "t".into(),
        }
    }

    #[test]
    fn membership_updates_say_what_changed() {
        let m = |b: Value, a: Value| type_of(&event("membership.update", Some(b), Some(a), None));
        assert_eq!(
            m(
                json!({"state": "active", "role": "member"}),
                json!({"state": "deactivated", "role": "member"})
            ),
            Some("membership.deactivated")
        );
        assert_eq!(
            m(
                json!({"state": "deactivated", "role": "member"}),
                json!({"state": "active", "role": "owner"})
            ),
            Some("membership.reactivated")
        );
        assert_eq!(
            m(
                json!({"state": "active", "role": "member"}),
                json!({"state": "active", "role": "owner"})
            ),
            Some("membership.role_changed")
        );
        assert_eq!(
            m(
                json!({"state": "active", "role": "member"}),
                json!({"state": "active", "role": "member"})
            ),
            None
        );
        assert_eq!(type_of(&event("session.end", None, None, Some("T1"))), None);
        assert_eq!(
            type_of(&event("session.end", None, None, Some("S6"))),
            Some("session.revoked")
        );
        assert_eq!(type_of(&event("signing_key.create", None, None, None)), None);
        let p = public(
            &event("membership.remove", Some(json!({"role": "member"})), None, Some("S6")),
            |_| "t".into(),
        )
        .unwrap();
        assert_eq!(p.kind, "membership.removed");
        assert_eq!(p.data["previous"]["role"], "member");
        assert_eq!(p.cause["rule"], "S6");
        assert_eq!(p.cause["source"], "scim");
    }

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let c = Cursor {
            position: Position { tx: 812, seq: 44 },
            at: 1_790_000_000_000,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "x", "djEuMS4y", "djIuMS4yLjM", "djEuLTEuMi4z", "djEuMS4yLjMuNA"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
        assert!(is_type("team.member_added") && !is_type("team.member_add"));
    }
}
