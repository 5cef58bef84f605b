//! Answers that carry Groups with their members.
//!
//! A Group comes from the store with its first member ids
//! ([`groups::MEMBERS_READ_WITH_GROUP`]). An answer whose Groups all came whole is
//! written at once, like any other. When a Group has more, the answer is sent as it is
//! written: its members are read in pages of [`groups::MEMBER_PAGE`] along the member
//! index while the body goes out, so a request holds one page of them in memory,
//! whether the Group has a thousand members or a million.
//!
//! The pages are separate reads: a change to the Group while a large answer is being
//! sent may show in the pages not yet read, as if the members had been read one at a
//! time. `meta.version` and the `ETag` are the Group's as it was first read.

use super::render::{self, Params};
use super::{respond, version_headers, CONTENT_TYPE};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use roster_scim::urn;
use roster_store::scim::groups::{self, GroupWithMembers};
use roster_store::Store;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Which of a member's attributes the answer keeps (`attributes` / `excludedAttributes`
/// may name `members.value` and the like).
#[derive(Debug, Clone, Copy)]
pub struct MemberKeys {
    value: bool,
    reference: bool,
    kind: bool,
}

impl MemberKeys {
    /// `None` when the answer has no `members`. Decided by projecting a Group with one
    /// member the way the answer is projected, so the two cannot disagree.
    pub fn of(p: &Params) -> Option<Self> {
        if !p.wants("members") {
            return None;
        }
        let sample = json!({
            "schemas": [urn::GROUP],
            "id": "-",
            "members": [{ "value": "-", "$ref": "-", "type": "User" }],
        });
        let projected = p.project(sample);
        let member = projected.get("members")?.as_array()?.first()?.as_object()?;
        Some(Self {
            value: member.contains_key("value"),
            reference: member.contains_key("$ref"),
            kind: member.contains_key("type"),
        })
    }
}

/// A member as written in a Group's `members`.
struct MemberRef<'a> {
    id: &'a str,
    base: &'a str,
    keys: MemberKeys,
}

impl Serialize for MemberRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = self.keys;
        let mut map = s.serialize_map(Some(
            usize::from(k.value) + usize::from(k.reference) + usize::from(k.kind),
        ))?;
        if k.reference {
            map.serialize_entry("$ref", &format!("{}/Users/{}", self.base, self.id))?;
        }
        if k.kind {
            map.serialize_entry("type", "User")?;
        }
        if k.value {
            map.serialize_entry("value", self.id)?;
        }
        map.end()
    }
}

/// A resource of an answer: one whole, or a Group whose members are added to it.
pub enum Resource {
    Whole(Value),
    Group(GroupAnswer),
}

/// A Group as answered: its projected resource without `members`, and its members.
pub struct GroupAnswer {
    doc: Value,
    group_id: String,
    members: Option<(MemberKeys, Vec<String>, bool)>,
}

impl GroupAnswer {
    /// `keys` from [`MemberKeys::of`] for this answer's projection.
    pub fn new(g: GroupWithMembers, base: &str, p: &Params, keys: Option<MemberKeys>) -> Self {
        let more = g.more_members();
        let doc = p.project(render::group(&g.group, base));
        Self {
            doc,
            group_id: g.group.id,
            members: keys.map(|k| (k, g.first_members, more)),
        }
    }

    fn more(&self) -> bool {
        self.members.as_ref().is_some_and(|(_, _, more)| *more)
    }

    /// The resource with every member it was read with (all of them: it has no more).
    fn into_whole(self, base: &str) -> Value {
        let mut doc = self.doc;
        if let (Some((keys, ids, _)), Some(obj)) = (self.members, doc.as_object_mut()) {
            if !ids.is_empty() {
                let list = ids
                    .iter()
                    .map(|id| serde_json::to_value(MemberRef { id, base, keys }).unwrap_or(Value::Null))
                    .collect();
                obj.insert("members".into(), Value::Array(list));
            }
        }
        doc
    }
}

/// What the answer is: a list (`total`, `startIndex`) or one resource, with its version
/// and location.
pub enum Shape {
    List { total: i64, start_index: i64 },
    One { version: i64, location: String },
}

/// Answers `resources`: written at once when every Group came whole, else sent as its
/// members are read.
pub fn answer(state: &AppState, base: &str, status: StatusCode, shape: Shape, resources: Vec<Resource>) -> Response {
    let streams = resources.iter().any(|r| matches!(r, Resource::Group(g) if g.more()));
    if !streams {
        let mut values: Vec<Value> = resources
            .into_iter()
            .map(|r| match r {
                Resource::Whole(v) => v,
                Resource::Group(g) => g.into_whole(base),
            })
            .collect();
        return match shape {
            Shape::List { total, start_index } => {
                respond(status, render::ListJson::new(total, start_index, values), None)
            }
            Shape::One { version, location } => {
                respond(status, values.pop().unwrap_or(Value::Null), Some((version, location)))
            }
        };
    }
    let mut parts = VecDeque::new();
    let mut text = Vec::new();
    let (head, tail, version) = match shape {
        Shape::List { total, start_index } => {
            let (head, tail) = render::ListJson::around_resources(total, start_index, resources.len());
            (head, tail, None)
        }
        Shape::One { version, location } => (String::new(), String::new(), Some((version, location))),
    };
    text.extend_from_slice(head.as_bytes());
    for (i, r) in resources.into_iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        match r {
            Resource::Whole(v) => {
                let _ = serde_json::to_writer(&mut text, &v);
            }
            Resource::Group(g) => match g.members {
                Some((keys, first, more)) => {
                    let _ = serde_json::to_writer(&mut text, &g.doc);
                    // The object is reopened for its members, then closed again.
                    text.pop();
                    parts.push_back(Part::Text(Bytes::from(std::mem::take(&mut text))));
                    parts.push_back(Part::Members(MembersLeft {
                        group_id: g.group_id,
                        keys,
                        first: Some(first),
                        after: None,
                        more,
                        written: 0,
                    }));
                    text.push(b'}');
                }
                None => {
                    let _ = serde_json::to_writer(&mut text, &g.doc);
                }
            },
        }
    }
    text.extend_from_slice(tail.as_bytes());
    parts.push_back(Part::Text(Bytes::from(text)));
    let sending = Sending {
        store: state.store.clone(),
        base: base.to_string(),
        parts,
    };
    let stream = futures::stream::unfold(sending, |mut s| async move { s.next().await.map(|chunk| (chunk, s)) });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    if let Some((version, location)) = version {
        version_headers(&mut resp, version, &location);
    }
    resp
}

/// A piece of an answer being sent.
enum Part {
    Text(Bytes),
    Members(MembersLeft),
}

/// A Group's members not yet written.
struct MembersLeft {
    group_id: String,
    keys: MemberKeys,
    /// The members read with the Group, until written.
    first: Option<Vec<String>>,
    /// The last member id written.
    after: Option<String>,
    /// Whether the store may hold members after `after`.
    more: bool,
    written: usize,
}

/// The state of an answer being sent.
struct Sending {
    store: Store,
    base: String,
    parts: VecDeque<Part>,
}

/// About the most an answer writes before handing a chunk to the connection.
const CHUNK: usize = 64 * 1024;

impl Sending {
    /// The next chunk of the body: text up to the next page of members to read, or one
    /// page of members. A failed read ends the body early (the client sees a cut
    /// answer, never a wrong one).
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let mut out = Vec::new();
        while let Some(part) = self.parts.pop_front() {
            match part {
                Part::Text(t) => {
                    if out.is_empty() {
                        out = t.into();
                    } else {
                        out.extend_from_slice(&t);
                    }
                }
                Part::Members(mut m) => {
                    let ids = match m.first.take() {
                        Some(first) => first,
                        None => {
                            let (group_id, after) = (m.group_id.clone(), m.after.clone().unwrap_or_default());
                            let page = self
                                .store
                                .read(move |db| {
                                    Box::pin(async move { groups::members_after(db, &group_id, &after).await })
                                })
                                .await;
                            match page {
                                Ok(page) => {
                                    m.more = page.len() >= groups::MEMBER_PAGE;
                                    page
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, group = %m.group_id, "reading a Group's members for an answer failed; the answer is cut short");
                                    return Some(Err(std::io::Error::other("reading members failed")));
                                }
                            }
                        }
                    };
                    for id in &ids {
                        out.extend_from_slice(if m.written == 0 { b",\"members\":[" } else { b"," });
                        let _ = serde_json::to_writer(
                            &mut out,
                            &MemberRef {
                                id,
                                base: &self.base,
                                keys: m.keys,
                            },
                        );
                        m.written += 1;
                    }
                    m.after = ids.last().cloned().or(m.after);
                    if m.more {
                        // Sent before the next page is read.
                        self.parts.push_front(Part::Members(m));
                        return Some(Ok(Bytes::from(out)));
                    }
                    if m.written > 0 {
                        out.push(b']');
                    }
                }
            }
            if out.len() >= CHUNK {
                break;
            }
        }
        (!out.is_empty()).then(|| Ok(Bytes::from(out)))
    }
}
