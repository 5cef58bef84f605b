//! "Why does this person have this access?": a member's membership, role, state and
//! teams, each with the recorded change that set it, read from the audit trail. Asked
//! by the admin API (`explain`) and the console.

use crate::routes::ts;
use crate::state::AppState;
use roster_store::audit::{self, Event, Query};
use roster_store::directory::{members, organizations, users};
use roster_store::StoreError;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;

/// One event in an explanation.
#[derive(Serialize, ToSchema, Clone)]
pub struct Why {
    pub at: String,
    pub action: String,
    /// `admin`, `scim`, `sso` or `system`.
    pub actor: String,
    pub actor_id: Option<String>,
    /// The provisioning rule that caused it (`J4`, `G2`, `S5`, …), if a rule did.
    pub rule: Option<String>,
    /// The attribute value, group or request behind it.
    pub because: Option<String>,
    pub connection_id: Option<String>,
    pub trace_id: String,
}

impl From<&Event> for Why {
    fn from(e: &Event) -> Self {
        Self {
            at: ts(e.at),
            action: e.action.clone(),
            actor: e.actor_kind.clone(),
            actor_id: e.actor_id.clone(),
            rule: e.rule.clone(),
            because: e.reason.clone(),
            connection_id: e.connection_id.clone(),
            trace_id: e.trace_id.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MembershipWhy {
    pub role: String,
    pub state: String,
    pub source: String,
    /// The event that added the membership.
    pub added: Option<Why>,
    /// The event that set the current role.
    pub role_set: Option<Why>,
    /// The event that set the current state.
    pub state_set: Option<Why>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamWhy {
    pub team: String,
    pub added: Option<Why>,
}

#[derive(Serialize, ToSchema)]
pub struct Explanation {
    pub organization: String,
    pub user_id: String,
    pub email: String,
    pub membership: MembershipWhy,
    pub teams: Vec<TeamWhy>,
    /// Every recorded change of this membership and its teams, oldest first.
    pub history: Vec<Why>,
}

/// Most events one explanation reads.
const MAX_HISTORY: usize = 10_000;

/// Why `user` has their membership of `org` (ids or names) as it is; with `company`,
/// only within that company (another company's organization is not found).
pub async fn explain(
    state: &AppState,
    org: String,
    user: String,
    company: Option<String>,
) -> Result<Explanation, StoreError> {
    state
        .store
        .read(move |db| {
            Box::pin(async move {
                let org = organizations::find(db, &org).await?;
                if company.as_ref().is_some_and(|c| *c != org.company_id) {
                    return Err(StoreError::not_found("organization", org.name));
                }
                let user = users::find(db, &user).await?;
                let member = members::find(db, &org, &user.id).await?;
                let teams = members::teams_with_ids(db, &org, &user.id).await?;
                // Newest first from the log, read page by page, then replayed oldest first.
                let mut events = Vec::new();
                let mut before_seq = None;
                loop {
                    let q = Query {
                        organization_id: Some(org.id.clone()),
                        user_id: Some(user.id.clone()),
                        before_seq,
                        limit: 1000,
                        ..Default::default()
                    };
                    let page = audit::list(db, &q).await?;
                    let done = page.len() < 1000 || events.len() + page.len() >= MAX_HISTORY;
                    before_seq = page.last().map(|e| e.seq);
                    events.extend(page);
                    if done {
                        break;
                    }
                }
                events.reverse();
                Ok((org, user, member, teams, events))
            })
        })
        .await
        .map(|(org, user, member, teams, events)| {
            let (mut added, mut role_set, mut state_set) = (None, None, None);
            let mut team_added: HashMap<String, Why> = HashMap::new();
            for e in &events {
                let why = Why::from(e);
                let field = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v.get(k)).cloned();
                match e.action.as_str() {
                    "membership.add" => {
                        added = Some(why.clone());
                        role_set = Some(why.clone());
                        state_set = Some(why);
                    }
                    "membership.update" => {
                        if field(&e.before, "role") != field(&e.after, "role") {
                            role_set = Some(why.clone());
                        }
                        if field(&e.before, "state") != field(&e.after, "state") {
                            state_set = Some(why);
                        }
                    }
                    "membership.remove" => {
                        (added, role_set, state_set) = (None, None, None);
                        team_added.clear();
                    }
                    "team_member.add" => {
                        team_added.insert(e.object_id.clone(), why);
                    }
                    "team_member.remove" => {
                        team_added.remove(&e.object_id);
                    }
                    _ => {}
                }
            }
            Explanation {
                organization: org.name,
                user_id: user.id,
                email: user.email,
                membership: MembershipWhy {
                    role: member.role.as_str().into(),
                    state: member.state.as_str().into(),
                    source: member.source.as_str().into(),
                    added,
                    role_set,
                    state_set,
                },
                teams: teams
                    .into_iter()
                    .map(|(id, name)| TeamWhy {
                        team: name,
                        added: team_added.remove(&id),
                    })
                    .collect(),
                history: events.iter().map(Why::from).collect(),
            }
        })
}
