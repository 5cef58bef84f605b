//! The SCIM side of provisioning (spec §5, S4–S6) as planner functions: what a SCIM
//! create, update or delete of a user does to the directory. The SCIM server parses the
//! request into [`ScimUserFacts`]; these functions decide, the store applies.

use crate::plan::{add_team, seats_denial, Change, ChangeKind, Model, Plan};
use crate::signin::Warning;
use crate::state::{MembershipState, OrgState, SignInState};
use crate::{DomainName, Email, MemberState, Name, Role, Source};

/// What a SCIM User resource says, once parsed.
#[derive(Debug, Clone)]
pub struct ScimUserFacts {
    /// `userName` (S3: the email).
    pub email: Email,
    pub external_id: Option<String>,
    pub full_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `None` leaves the state as it is (S6 deviation: a PUT without `active`).
    pub active: Option<bool>,
    /// The docker extension's raw values.
    pub organization: Option<String>,
    pub team: Option<String>,
    pub role: Option<String>,
}

/// A SCIM request the directory refuses, in SCIM error terms (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimRefusal {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimRefusal {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
}

fn empty_plan(state: &SignInState, facts: &ScimUserFacts) -> Plan {
    Plan {
        allowed: true,
        denial: None,
        email: facts.email.as_str().to_string(),
        full_name: display_name(facts),
        given_name: facts.given_name.clone(),
        family_name: facts.family_name.clone(),
        user_exists: state.user.is_some(),
        user_id: state.user.as_ref().map(|u| u.id.clone()),
        changes: Vec::new(),
        warnings: Vec::new(),
        session: None,
        scim_user_id: None,
    }
}

fn display_name(f: &ScimUserFacts) -> String {
    f.full_name
        .clone()
        .unwrap_or_else(|| match (&f.given_name, &f.family_name) {
            (Some(g), Some(fam)) => format!("{g} {fam}"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => f.email.as_str().to_string(),
        })
}

/// S5: the organization, team and role a SCIM user is provisioned with.
struct Target<'s> {
    org: &'s OrgState,
    team: Option<String>,
    role: Option<Role>,
}

fn target<'s>(state: &'s SignInState, facts: &ScimUserFacts) -> Result<Target<'s>, ScimRefusal> {
    let conn = &state.connection;
    let org = match &facts.organization {
        Some(name) => conn.org_by_name(name).ok_or_else(|| {
            ScimRefusal::new(
                400,
                Some("invalidValue"),
                format!("dockerOrg '{name}' is not an organization of this connection"),
            )
        })?,
        None => conn
            .org(&conn.default_organization_id)
            .ok_or_else(|| ScimRefusal::new(409, None, "the connection has no default organization"))?,
    };
    let role = facts
        .role
        .as_deref()
        .map(|r| {
            Role::parse(r)
                .map_err(|e| ScimRefusal::new(400, Some("invalidValue"), format!("dockerRole: {}", e.message)))
        })
        .transpose()?;
    let team = match &facts.team {
        Some(t) => Some(
            Name::parse_team(t)
                .map_err(|e| ScimRefusal::new(400, Some("invalidValue"), format!("dockerTeam: {}", e.message)))?
                .as_str()
                .to_string(),
        ),
        None => conn
            .default_team
            .clone()
            .filter(|_| org.id == conn.default_organization_id),
    };
    Ok(Target { org, team, role })
}

fn membership_changes(
    model: &mut Model<'_>,
    changes: &mut Vec<Change>,
    t: &Target<'_>,
    active: Option<bool>,
    creating: bool,
) -> Result<(), ScimRefusal> {
    let why = |what: &str| format!("SCIM {what}");
    match model.membership(&t.org.id).map(|m| (m.state, m.role)) {
        None => {
            let deactivated = active == Some(false);
            if !deactivated && !model.seat_free(t.org) {
                return Err(ScimRefusal::new(409, None, seats_denial(&t.org.name).message));
            }
            let role = t.role.unwrap_or(Role::Member);
            let mut add = Change::new(
                ChangeKind::AddMembership,
                "S5",
                why(if creating { "provisioning" } else { "update" }),
            )
            .in_org(t.org);
            add.role = Some(role);
            add.source = Some(Source::Scim);
            // Created inactive: it takes no seat (J9) and needs no deactivation after.
            let state = if deactivated {
                MemberState::Deactivated
            } else {
                MemberState::Active
            };
            add.state = Some(state);
            changes.push(add);
            if !deactivated {
                model.seats_added.push((t.org.id.clone(), 1));
            }
            model.memberships.push(MembershipState {
                organization_id: t.org.id.clone(),
                role,
                state,
                source: Source::Scim,
                teams: Vec::new(),
            });
        }
        Some((_, current)) => {
            if let Some(role) = t.role.filter(|r| *r != current) {
                // S5: later SCIM updates of dockerRole change the role.
                let mut c = Change::new(
                    ChangeKind::SetRole,
                    "S5",
                    format!("dockerRole = {} (was {})", role.as_str(), current.as_str()),
                )
                .in_org(t.org);
                c.role = Some(role);
                changes.push(c);
            }
        }
    }
    if let Some(team) = &t.team {
        add_team(model, changes, t.org, team, "S5", format!("dockerTeam = {team}"));
    }
    Ok(())
}

/// S6: `active` applied to every membership in the connection's organizations.
fn active_changes(
    state: &SignInState,
    model: &Model<'_>,
    changes: &mut Vec<Change>,
    active: Option<bool>,
) -> Result<(), ScimRefusal> {
    let Some(active) = active else { return Ok(()) };
    let mut ended = false;
    for m in &model.memberships {
        let Some(org) = state.connection.org(&m.organization_id) else {
            continue;
        };
        match (active, m.state) {
            (false, MemberState::Active) => {
                changes.push(Change::new(ChangeKind::Deactivate, "S6", "SCIM active = false").in_org(org));
                ended = true;
            }
            (true, MemberState::Deactivated) => {
                if !model.seat_free(org) {
                    return Err(ScimRefusal::new(409, None, seats_denial(&org.name).message));
                }
                changes.push(Change::new(ChangeKind::Reactivate, "S6", "SCIM active = true").in_org(org));
            }
            _ => {}
        }
    }
    if ended {
        changes.push(Change::new(
            ChangeKind::EndSessions,
            "S6",
            "deactivated: sessions end at once (T2)",
        ));
    }
    Ok(())
}

/// The email's domain is (under) one the connection serves.
pub fn domain_verified(state: &SignInState, email: &Email) -> bool {
    DomainName::parse(email.domain()).is_ok_and(|d| state.connection.domains.iter().any(|v| d.is_within(v)))
}

fn model(state: &SignInState) -> Model<'_> {
    Model {
        state,
        memberships: state.user.as_ref().map(|u| u.memberships.clone()).unwrap_or_default(),
        created_teams: Vec::new(),
        seats_added: Vec::new(),
    }
}

/// SCIM POST /Users (S4, S5, S6).
pub fn plan_create(state: &SignInState, facts: &ScimUserFacts) -> Result<Plan, ScimRefusal> {
    let mut plan = empty_plan(state, facts);
    let mut changes = Vec::new();
    match &state.user {
        Some(u) if u.linked => {
            return Err(ScimRefusal::new(
                409,
                Some("uniqueness"),
                format!("User '{}' is already provisioned by this connection", facts.email),
            ));
        }
        Some(_) => {
            // S4: an existing account is linked only when its domain is verified here.
            if !domain_verified(state, &facts.email) {
                return Err(ScimRefusal::new(
                    409,
                    Some("uniqueness"),
                    format!(
                        "An account '{}' exists and its domain is not verified for this connection",
                        facts.email
                    ),
                ));
            }
            changes.push(Change::new(
                ChangeKind::LinkAccount,
                "S4",
                format!("existing account; domain '{}' is verified", facts.email.domain()),
            ));
        }
        None => {
            // S1: one company's SCIM creates accounts only in its own verified domains;
            // anything else could take over another company's future account.
            if !domain_verified(state, &facts.email) {
                return Err(ScimRefusal::new(
                    400,
                    Some("invalidValue"),
                    format!("'{}' is not in a verified domain of this connection", facts.email),
                ));
            }
            changes.push(Change::new(
                ChangeKind::CreateUser,
                "S5",
                format!("SCIM userName = {}", facts.email),
            ));
            changes.push(Change::new(ChangeKind::LinkAccount, "S5", "provisioned by SCIM"));
        }
    }
    let t = target(state, facts)?;
    let mut m = model(state);
    membership_changes(&mut m, &mut changes, &t, facts.active, true)?;
    active_changes(state, &m, &mut changes, facts.active)?;
    plan.changes = changes;
    Ok(plan)
}

/// SCIM PUT/PATCH of a linked user: the resource as it is after the request.
pub fn plan_update(state: &SignInState, facts: &ScimUserFacts) -> Result<Plan, ScimRefusal> {
    let mut plan = empty_plan(state, facts);
    let Some(user) = state.user.as_ref().filter(|u| u.linked) else {
        return Err(ScimRefusal::new(
            404,
            None,
            format!("User '{}' is not provisioned by this connection", facts.email),
        ));
    };
    let mut changes = Vec::new();
    if user.full_name != plan.full_name {
        changes.push(Change::new(
            ChangeKind::UpdateName,
            "S3",
            format!("SCIM name '{}' (was '{}')", plan.full_name, user.full_name),
        ));
    }
    let t = target(state, facts)?;
    let mut m = model(state);
    // A deactivated user is not added to new organizations until reactivated.
    if facts.active != Some(false) || m.membership(&t.org.id).is_some() {
        membership_changes(&mut m, &mut changes, &t, facts.active, false)?;
    }
    active_changes(state, &m, &mut changes, facts.active)?;
    plan.changes = changes;
    plan.warnings = Vec::<Warning>::new();
    Ok(plan)
}

/// SCIM DELETE: deactivate, end sessions, remove the link; the account stays (S6).
pub fn plan_delete(state: &SignInState, email: &Email) -> Result<Plan, ScimRefusal> {
    let facts = ScimUserFacts {
        email: email.clone(),
        external_id: None,
        full_name: state.user.as_ref().map(|u| u.full_name.clone()),
        given_name: None,
        family_name: None,
        active: Some(false),
        organization: None,
        team: None,
        role: None,
    };
    let mut plan = empty_plan(state, &facts);
    if !state.user.as_ref().is_some_and(|u| u.linked) {
        return Err(ScimRefusal::new(
            404,
            None,
            format!("User '{email}' is not provisioned by this connection"),
        ));
    }
    let m = model(state);
    let mut changes = Vec::new();
    active_changes(state, &m, &mut changes, Some(false))?;
    changes.push(Change::new(ChangeKind::UnlinkAccount, "S6", "SCIM DELETE"));
    plan.changes = changes;
    Ok(plan)
}
