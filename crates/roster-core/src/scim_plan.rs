//! The SCIM side of provisioning (spec §5, S4–S6) as planner functions: what a SCIM
//! create, update or delete of a user does to the directory. The server reads the
//! request into [`ScimUserFacts`]; these functions decide, the store applies.

use crate::model::{seats_message, Model};
use crate::plan::{Account, Cause, Change, OrgRef, Plan, Refusal, RefusalKind, Subject};
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

/// S6: a new SCIM User is active unless it says otherwise.
pub fn active_on_create(sent: Option<bool>) -> bool {
    sent.unwrap_or(true)
}

/// S6 (deviation): a replacement without `active` (a PUT that leaves it out, a PATCH
/// that removes it) leaves the state as it was.
pub fn active_on_replace(sent: Option<bool>, current: bool) -> bool {
    sent.unwrap_or(current)
}

/// The email's domain is (under) one the connection serves (A4, S1, S4).
pub fn domain_verified(state: &SignInState, email: &Email) -> bool {
    DomainName::parse(email.domain()).is_ok_and(|d| state.connection.domains.iter().any(|v| d.is_within(v)))
}

fn subject(facts: &ScimUserFacts) -> Subject {
    let full_name = facts
        .full_name
        .clone()
        .unwrap_or_else(|| match (&facts.given_name, &facts.family_name) {
            (Some(g), Some(fam)) => format!("{g} {fam}"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => facts.email.as_str().to_string(),
        });
    Subject {
        email: facts.email.clone(),
        full_name,
        given_name: facts.given_name.clone(),
        family_name: facts.family_name.clone(),
    }
}

/// S5: the organization, team and role a SCIM user is provisioned with.
struct Target<'s> {
    org: &'s OrgState,
    team: Option<Name>,
    role: Option<Role>,
}

fn invalid(detail: String) -> Refusal {
    Refusal::new(RefusalKind::InvalidValue, detail)
}

fn target<'s>(state: &'s SignInState, facts: &ScimUserFacts) -> Result<Target<'s>, Refusal> {
    let connection = &state.connection;
    let org = match &facts.organization {
        Some(name) => connection
            .org_by_name(name)
            .ok_or_else(|| invalid(format!("dockerOrg '{name}' is not an organization of this connection")))?,
        None => connection
            .org(&connection.default_organization_id)
            .ok_or_else(|| Refusal::new(RefusalKind::Conflict, "the connection has no default organization"))?,
    };
    let role = facts
        .role
        .as_deref()
        .map(|r| Role::parse(r).map_err(|e| invalid(format!("dockerRole: {}", e.message))))
        .transpose()?;
    let team = match &facts.team {
        Some(t) => Some(Name::parse_team(t).map_err(|e| invalid(format!("dockerTeam: {}", e.message)))?),
        None => connection
            .default_team
            .clone()
            .filter(|_| org.id == connection.default_organization_id),
    };
    Ok(Target { org, team, role })
}

fn no_seat(org: &OrgState) -> Refusal {
    Refusal::new(RefusalKind::Conflict, seats_message(&org.name))
}

fn membership_changes(
    model: &mut Model<'_>,
    changes: &mut Vec<Change>,
    t: &Target<'_>,
    active: Option<bool>,
    creating: bool,
) -> Result<(), Refusal> {
    match model.membership(&t.org.id).map(|m| m.role) {
        None => {
            // Created inactive: it takes no seat (J9) and needs no deactivation after.
            let state = if active == Some(false) {
                MemberState::Deactivated
            } else {
                MemberState::Active
            };
            if state == MemberState::Active && !model.seat_free(t.org) {
                return Err(no_seat(t.org));
            }
            let role = t.role.unwrap_or(Role::Member);
            let why = if creating { "SCIM provisioning" } else { "SCIM update" };
            changes.push(Change::AddMembership {
                org: OrgRef::from(t.org),
                role,
                state,
                source: Source::Scim,
                cause: Cause::new("S5", why),
            });
            model.joined(t.org, MembershipState::new(&t.org.id, role, state, Source::Scim));
        }
        Some(current) => {
            if let Some(role) = t.role.filter(|r| *r != current) {
                // S5: later SCIM updates of dockerRole change the role.
                changes.push(Change::SetRole {
                    org: OrgRef::from(t.org),
                    role,
                    cause: Cause::new(
                        "S5",
                        format!("dockerRole = {} (was {})", role.as_str(), current.as_str()),
                    ),
                });
            }
        }
    }
    if let Some(team) = &t.team {
        let cause = Cause::new("S5", format!("dockerTeam = {team}"));
        model.add_team(changes, t.org, team, Source::Scim, cause);
    }
    Ok(())
}

/// S6: `active` applied to every membership in the connection's organizations.
fn active_changes(
    state: &SignInState,
    model: &Model<'_>,
    changes: &mut Vec<Change>,
    active: Option<bool>,
) -> Result<(), Refusal> {
    let Some(active) = active else { return Ok(()) };
    let mut ended = false;
    for m in &model.memberships {
        let Some(org) = state.connection.org(&m.organization_id) else {
            continue;
        };
        match (active, m.state) {
            (false, MemberState::Active) => {
                changes.push(Change::Deactivate {
                    org: OrgRef::from(org),
                    cause: Cause::new("S6", "SCIM active = false"),
                });
                ended = true;
            }
            (true, MemberState::Deactivated) => {
                if !model.seat_free(org) {
                    return Err(no_seat(org));
                }
                changes.push(Change::Reactivate {
                    org: OrgRef::from(org),
                    cause: Cause::new("S6", "SCIM active = true"),
                });
            }
            _ => {}
        }
    }
    if ended {
        changes.push(Change::EndSessions(Cause::new(
            "S6",
            "deactivated: sessions end at once (T2)",
        )));
    }
    Ok(())
}

/// What SCIM provisioning does with a User resource's account.
#[derive(Debug, Clone)]
pub enum Provisioning {
    /// S1: the resource is kept without an account, for this reason, and provisioned
    /// once its email is in one of the connection's verified domains.
    Hold(String),
    /// The account's changes.
    Apply(Box<Plan>),
}

/// S1: why a resource whose `userName` and `emails` hold no email address has no account.
pub const HOLD_WITHOUT_EMAIL: &str = "neither userName nor emails holds an email address";

/// S1, S4–S6: the account of a SCIM User resource, as it is after a request. `linked`:
/// the resource already provisions an account (an update); otherwise it is a create.
pub fn plan_provisioning(state: &SignInState, facts: &ScimUserFacts, linked: bool) -> Result<Provisioning, Refusal> {
    if linked {
        return plan_update(state, facts).map(|p| Provisioning::Apply(Box::new(p)));
    }
    // S1: accounts are made only in the connection's verified domains; anything else
    // could take over another company's future account.
    if state.user.is_none() && !domain_verified(state, &facts.email) {
        return Ok(Provisioning::Hold(format!(
            "'{}' is not in a verified domain of this connection",
            facts.email.domain()
        )));
    }
    plan_create(state, facts).map(|p| Provisioning::Apply(Box::new(p)))
}

/// SCIM POST /Users (S4, S5, S6).
pub fn plan_create(state: &SignInState, facts: &ScimUserFacts) -> Result<Plan, Refusal> {
    let mut changes = Vec::new();
    let account = match &state.user {
        Some(u) if u.linked => {
            return Err(Refusal::new(
                RefusalKind::Exists,
                format!("User '{}' is already provisioned by this connection", facts.email),
            ));
        }
        Some(u) => {
            // S4: an existing account is linked only when its domain is verified here.
            if !domain_verified(state, &facts.email) {
                return Err(Refusal::new(
                    RefusalKind::Exists,
                    format!(
                        "An account '{}' exists and its domain is not verified for this connection",
                        facts.email
                    ),
                ));
            }
            changes.push(Change::LinkAccount(Cause::new(
                "S4",
                format!("existing account; domain '{}' is verified", facts.email.domain()),
            )));
            Account::Existing { user_id: u.id.clone() }
        }
        None => {
            // S1: one company's SCIM creates accounts only in its own verified domains;
            // anything else could take over another company's future account.
            if !domain_verified(state, &facts.email) {
                return Err(invalid(format!(
                    "'{}' is not in a verified domain of this connection",
                    facts.email
                )));
            }
            changes.push(Change::LinkAccount(Cause::new("S5", "provisioned by SCIM")));
            Account::Create(Cause::new("S5", format!("SCIM userName = {}", facts.email)))
        }
    };
    let t = target(state, facts)?;
    let mut m = Model::new(state);
    membership_changes(&mut m, &mut changes, &t, facts.active, true)?;
    active_changes(state, &m, &mut changes, facts.active)?;
    Ok(Plan {
        subject: subject(facts),
        account,
        changes,
        warnings: Vec::new(),
    })
}

fn not_provisioned(email: &Email) -> Refusal {
    Refusal::new(
        RefusalKind::NotProvisioned,
        format!("User '{email}' is not provisioned by this connection"),
    )
}

/// SCIM PUT/PATCH of a linked user: the resource as it is after the request.
pub fn plan_update(state: &SignInState, facts: &ScimUserFacts) -> Result<Plan, Refusal> {
    let Some(user) = state.user.as_ref().filter(|u| u.linked) else {
        return Err(not_provisioned(&facts.email));
    };
    let subject = subject(facts);
    let account = if user.full_name != subject.full_name {
        Account::Rename {
            user_id: user.id.clone(),
            cause: Cause::new(
                "S3",
                format!("SCIM name '{}' (was '{}')", subject.full_name, user.full_name),
            ),
        }
    } else {
        Account::Existing {
            user_id: user.id.clone(),
        }
    };
    let mut changes = Vec::new();
    let t = target(state, facts)?;
    let mut m = Model::new(state);
    // A deactivated user is not added to new organizations until reactivated.
    if facts.active != Some(false) || m.membership(&t.org.id).is_some() {
        membership_changes(&mut m, &mut changes, &t, facts.active, false)?;
    }
    active_changes(state, &m, &mut changes, facts.active)?;
    Ok(Plan {
        subject,
        account,
        changes,
        warnings: Vec::new(),
    })
}

/// SCIM DELETE: deactivate, end sessions, remove the link; the account stays (S6).
pub fn plan_delete(state: &SignInState, email: &Email) -> Result<Plan, Refusal> {
    let Some(user) = state.user.as_ref().filter(|u| u.linked) else {
        return Err(not_provisioned(email));
    };
    let m = Model::new(state);
    let mut changes = Vec::new();
    active_changes(state, &m, &mut changes, Some(false))?;
    changes.push(Change::UnlinkAccount(Cause::new("S6", "SCIM DELETE")));
    Ok(Plan {
        subject: Subject {
            email: email.clone(),
            full_name: user.full_name.clone(),
            given_name: None,
            family_name: None,
        },
        account: Account::Existing {
            user_id: user.id.clone(),
        },
        changes,
        warnings: Vec::new(),
    })
}
