//! The sign-in planner (spec §3 J1–J10, §4 G1–G3, §6 T1): from a connection, the facts
//! of one sign-in and the directory state they touch, a [`Plan`] — allowed or denied,
//! and the ordered changes that provisioning makes, each with the rule that caused it
//! and the attribute value behind it. Pure: the store applies plans, this only decides.

use crate::signin::{SignInFacts, Warning};
use crate::state::{MembershipState, OrgState, SignInState};
use crate::targets::targets;
use crate::{MemberState, Role, Source};
use serde::Serialize;

/// Browser sessions without `dockerSessionMinutes` or a connection default (T1).
pub const DEFAULT_SESSION_MINUTES: i64 = 24 * 60;

/// Why a sign-in is refused: a stable code and the plain message the person sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub code: &'static str,
    pub message: String,
    /// The spec's message ends with "TraceID: <id>".
    #[serde(skip)]
    pub with_trace: bool,
}

impl Denial {
    pub fn new(code: &'static str, message: impl Into<String>, with_trace: bool) -> Self {
        Self {
            code,
            message: message.into(),
            with_trace,
        }
    }
    /// The message as shown to the person signing in.
    pub fn render(&self, trace_id: &str) -> String {
        if self.with_trace {
            format!("{} TraceID: {trace_id}", self.message)
        } else {
            self.message.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CreateUser,
    UpdateName,
    AcceptInvitation,
    AddMembership,
    CreateTeam,
    AddTeamMembership,
    /// S4: an existing account is linked to the connection's SCIM provisioning.
    LinkAccount,
    /// S6: a SCIM DELETE removes the link; the global account stays.
    UnlinkAccount,
    /// S5: SCIM changes the role.
    SetRole,
    /// S6: `active=false`.
    Deactivate,
    /// S6: `active=true`.
    Reactivate,
    /// S6, T2: the user's sessions for the company end at once.
    EndSessions,
}

/// One change a plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    #[serde(skip)]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The state a new membership starts in (deactivated when SCIM creates it inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<MemberState>,
    #[serde(skip)]
    pub source: Option<Source>,
    #[serde(skip)]
    pub invitation_id: Option<String>,
    /// The spec rule that causes this change (`J2`, `G2`, …).
    pub rule: &'static str,
    /// The attribute value or state behind it, in words.
    pub because: String,
}

impl Change {
    pub(crate) fn new(kind: ChangeKind, rule: &'static str, because: impl Into<String>) -> Self {
        Self {
            kind,
            organization_id: None,
            organization: None,
            team: None,
            role: None,
            state: None,
            source: None,
            invitation_id: None,
            rule,
            because: because.into(),
        }
    }
    pub(crate) fn in_org(mut self, org: &OrgState) -> Self {
        self.organization_id = Some(org.id.clone());
        self.organization = Some(org.name.clone());
        self
    }
    fn team(mut self, team: &str) -> Self {
        self.team = Some(team.to_string());
        self
    }
}

/// The session a successful sign-in gets (T1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionPlan {
    pub minutes: i64,
    pub rule: &'static str,
    pub because: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub allowed: bool,
    pub denial: Option<Denial>,
    pub email: String,
    pub full_name: String,
    #[serde(skip)]
    pub given_name: Option<String>,
    #[serde(skip)]
    pub family_name: Option<String>,
    pub user_exists: bool,
    #[serde(skip)]
    pub user_id: Option<String>,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    pub session: Option<SessionPlan>,
    /// The SCIM User resource a SCIM plan links or unlinks (set by the SCIM server).
    #[serde(skip)]
    pub scim_user_id: Option<String>,
}

impl Plan {
    fn deny(mut self, denial: Denial) -> Self {
        // J2 (deviation) and J10: a denied sign-in changes nothing.
        self.allowed = false;
        self.denial = Some(denial);
        self.changes.clear();
        self.session = None;
        self
    }
}

/// A4's refusal for an email outside the connection's verified domains.
fn domain_not_verified(domain: &str) -> Denial {
    Denial::new(
        "domain_not_verified",
        format!("Domain '{domain}' is not verified for your SSO connection. Contact your company administrator."),
        true,
    )
}

/// J8's refusal.
pub fn not_assigned(email: &str) -> Denial {
    Denial::new(
        "not_assigned",
        format!("User '{email}' is not assigned to this SSO organization. Contact your administrator."),
        true,
    )
}

pub(crate) fn seats_denial(org: &str) -> Denial {
    Denial::new(
        "seat_limit_reached",
        format!("Not enough seats in organization '{org}'. Add more seats or contact your administrator."),
        false,
    )
}

fn deactivated(org: &str) -> Denial {
    Denial::new(
        "membership_deactivated",
        format!("Your access to organization '{org}' has been deactivated. Contact your administrator."),
        true,
    )
}

/// A working copy of the memberships while the plan is built.
pub(crate) struct Model<'a> {
    pub(crate) state: &'a SignInState,
    pub(crate) memberships: Vec<MembershipState>,
    pub(crate) created_teams: Vec<(String, String)>,
    pub(crate) seats_added: Vec<(String, i64)>,
}

impl<'a> Model<'a> {
    pub(crate) fn membership(&self, org_id: &str) -> Option<&MembershipState> {
        self.memberships.iter().find(|m| m.organization_id == org_id)
    }
    fn membership_mut(&mut self, org_id: &str) -> Option<&mut MembershipState> {
        self.memberships.iter_mut().find(|m| m.organization_id == org_id)
    }
    fn team_exists(&self, org: &OrgState, team: &str) -> bool {
        let key = team.to_lowercase();
        org.has_team(team)
            || self
                .created_teams
                .iter()
                .any(|(o, t)| *o == org.id && t.to_lowercase() == key)
    }
    pub(crate) fn seat_free(&self, org: &OrgState) -> bool {
        let added = self
            .seats_added
            .iter()
            .filter(|(o, _)| *o == org.id)
            .map(|(_, n)| n)
            .sum::<i64>();
        org.seat_limit.is_none_or(|limit| org.seats_used + added < limit)
    }
    fn any_active(&self) -> bool {
        self.memberships
            .iter()
            .any(|m| m.state == MemberState::Active && self.state.connection.org(&m.organization_id).is_some())
    }
}

/// Plans one SSO sign-in. `facts` has already passed A1–A3; A4's domain check, A5's
/// organization check and every J/G/T rule happen here.
pub fn plan_sign_in(state: &SignInState, facts: &SignInFacts) -> Plan {
    let conn = &state.connection;
    let email = &facts.email.value;
    let mut plan = Plan {
        allowed: true,
        denial: None,
        email: email.as_str().to_string(),
        full_name: facts.full_name.value.clone(),
        given_name: facts.given_name.clone(),
        family_name: facts.family_name.clone(),
        user_exists: state.user.is_some(),
        user_id: state.user.as_ref().map(|u| u.id.clone()),
        changes: Vec::new(),
        warnings: facts.warnings.clone(),
        session: None,
        scim_user_id: None,
    };

    // A5: a dockerOrg that is not one of the connection's organizations is ignored, with
    // a warning whether or not J4 gets to read it.
    if let Some(o) = facts
        .organization
        .as_ref()
        .filter(|o| conn.org_by_name(&o.value).is_none())
    {
        plan.warnings.push(Warning::new(
            "A5",
            format!(
                "'{}' value '{}' is not an organization of this connection; it is ignored",
                o.attribute, o.value
            ),
        ));
    }

    // A4: the email's domain must be one the connection serves (subdomains included).
    let verified = crate::DomainName::parse(email.domain()).is_ok_and(|d| conn.domains.iter().any(|v| d.is_within(v)));
    if !verified {
        return plan.deny(domain_not_verified(email.domain()));
    }

    let mut model = Model {
        state,
        memberships: state.user.as_ref().map(|u| u.memberships.clone()).unwrap_or_default(),
        created_teams: Vec::new(),
        seats_added: Vec::new(),
    };
    let mut changes = Vec::new();

    // J2 / J8: the account.
    match &state.user {
        None if conn.jit => changes.push(Change::new(
            ChangeKind::CreateUser,
            "J2",
            format!("no account for {email}; JIT is on"),
        )),
        None if !state.invitations.is_empty() => changes.push(Change::new(
            ChangeKind::CreateUser,
            "J8",
            format!("pending invitation for {email}"),
        )),
        None => return plan.deny(not_assigned(email.as_str())),
        Some(user) if conn.jit && user.full_name != facts.full_name.value => changes.push(Change::new(
            ChangeKind::UpdateName,
            "J5",
            format!(
                "{} = '{}' (was '{}')",
                facts.full_name.attribute, facts.full_name.value, user.full_name
            ),
        )),
        Some(_) => {}
    }

    // J3: pending invitations to the connection's organizations are accepted.
    for inv in &state.invitations {
        let Some(org) = conn.org(&inv.organization_id) else {
            continue;
        };
        match model.membership(&org.id).map(|m| m.state) {
            Some(MemberState::Deactivated) => {
                plan.warnings.push(Warning::new(
                    "J7",
                    format!(
                        "the invitation to '{}' is not accepted: the membership is deactivated",
                        org.name
                    ),
                ));
                continue;
            }
            Some(MemberState::Active) => {
                changes.push(
                    Change::new(ChangeKind::AcceptInvitation, "J3", "already a member")
                        .in_org(org)
                        .inv(&inv.id),
                );
            }
            None => {
                // J6: dockerRole first, then the invitation's role. The invitation holds a
                // seat already, so accepting it needs no new one.
                let (role, why) = match &facts.role {
                    Some(r) => (r.value, format!("{} = {}", r.attribute, r.value.as_str())),
                    None => (inv.role, format!("the invitation's role {}", inv.role.as_str())),
                };
                changes.push(
                    Change::new(
                        ChangeKind::AcceptInvitation,
                        "J3",
                        format!("pending invitation to '{}'", org.name),
                    )
                    .in_org(org)
                    .inv(&inv.id),
                );
                let mut add = Change::new(
                    ChangeKind::AddMembership,
                    "J3",
                    format!("invitation accepted; role from {why} (J6)"),
                )
                .in_org(org);
                add.role = Some(role);
                add.source = Some(Source::Invite);
                changes.push(add);
                model.memberships.push(MembershipState {
                    organization_id: org.id.clone(),
                    role,
                    state: MemberState::Active,
                    source: Source::Invite,
                    teams: Vec::new(),
                });
            }
        }
        if let Some(team) = &inv.team {
            add_team(
                &mut model,
                &mut changes,
                org,
                team,
                "J3",
                format!("the invitation's team '{team}'"),
            );
        }
    }

    // J4: target organizations and teams — only when JIT runs (J1).
    let mut seat_refusal: Option<String> = None;
    let mut deactivated_in: Option<String> = None;
    // J7/S6: someone whose every membership in the connection's organizations is
    // deactivated was deprovisioned; JIT gives them nothing new anywhere.
    let deprovisioned = !model.any_active() && model.memberships.iter().any(|m| conn.org(&m.organization_id).is_some());
    if deprovisioned {
        plan.warnings.push(Warning::new(
            "J7",
            "every membership of this connection's organizations is deactivated; JIT adds nothing",
        ));
    }
    if conn.jit && !deprovisioned {
        for target in targets(state, facts, &model, &mut plan.warnings) {
            let org = target.org;
            match model.membership(&org.id).map(|m| m.state) {
                Some(MemberState::Deactivated) => {
                    // J7: never reactivated by JIT.
                    plan.warnings.push(Warning::new(
                        "J7",
                        format!(
                            "the membership of '{}' is deactivated; JIT does not reactivate it",
                            org.name
                        ),
                    ));
                    deactivated_in.get_or_insert_with(|| org.name.clone());
                    continue;
                }
                Some(MemberState::Active) => {}
                None => {
                    if !model.seat_free(org) {
                        // J9: this organization is full; the rest of the sign-in proceeds.
                        plan.warnings.push(Warning::new("J9", seats_denial(&org.name).message));
                        seat_refusal.get_or_insert_with(|| org.name.clone());
                        continue;
                    }
                    // J6: the role is set only now, when JIT first adds the user.
                    let (role, why) = match &facts.role {
                        Some(r) => (r.value, format!("{} = {}", r.attribute, r.value.as_str())),
                        None => (Role::Member, "default role member".to_string()),
                    };
                    let mut add = Change::new(
                        ChangeKind::AddMembership,
                        target.rule,
                        format!("{}; role from {why} (J6)", target.because),
                    )
                    .in_org(org);
                    add.role = Some(role);
                    add.source = Some(Source::Jit);
                    changes.push(add);
                    model.seats_added.push((org.id.clone(), 1));
                    model.memberships.push(MembershipState {
                        organization_id: org.id.clone(),
                        role,
                        state: MemberState::Active,
                        source: Source::Jit,
                        teams: Vec::new(),
                    });
                }
            }
            if let Some(team) = &target.team {
                add_team(&mut model, &mut changes, org, team, target.rule, target.because.clone());
            }
        }
    }

    // Access: the person needs an active membership in one of the connection's
    // organizations once the plan is applied.
    if !model.any_active() {
        let denial = if let Some(org) = seat_refusal {
            seats_denial(&org)
        } else if let Some(org) = deactivated_in.or_else(|| deactivated_org(&model)) {
            deactivated(&org)
        } else {
            not_assigned(email.as_str())
        };
        return plan.deny(denial);
    }

    // T1: session lifetime.
    plan.session = Some(match (&facts.session_minutes, conn.default_session_minutes) {
        (Some(m), _) => SessionPlan {
            minutes: i64::from(m.value),
            rule: "T1",
            because: format!("{} = {}", m.attribute, m.value),
        },
        (None, Some(d)) => SessionPlan {
            minutes: d,
            rule: "T1",
            because: "the connection's default session length".into(),
        },
        (None, None) => SessionPlan {
            minutes: DEFAULT_SESSION_MINUTES,
            rule: "T1",
            because: "browser sessions last 24 hours".into(),
        },
    });
    plan.changes = changes;
    plan
}

fn deactivated_org(model: &Model<'_>) -> Option<String> {
    model
        .memberships
        .iter()
        .find(|m| m.state == MemberState::Deactivated)
        .and_then(|m| model.state.connection.org(&m.organization_id))
        .map(|o| o.name.clone())
}

impl Change {
    fn inv(mut self, id: &str) -> Self {
        self.invitation_id = Some(id.to_string());
        self
    }
}

/// Adds the member to `team` of `org`, creating the team first when it is missing (G2;
/// teams are created on demand). Nothing when they are in it already (J5).
pub(crate) fn add_team(
    model: &mut Model<'_>,
    changes: &mut Vec<Change>,
    org: &OrgState,
    team: &str,
    rule: &'static str,
    because: String,
) {
    if model.membership(&org.id).is_some_and(|m| m.in_team(team)) {
        return;
    }
    if !model.team_exists(org, team) {
        changes.push(
            Change::new(ChangeKind::CreateTeam, rule, because.clone())
                .in_org(org)
                .team(team),
        );
        model.created_teams.push((org.id.clone(), team.to_string()));
    }
    changes.push(
        Change::new(ChangeKind::AddTeamMembership, rule, because)
            .in_org(org)
            .team(team),
    );
    if let Some(m) = model.membership_mut(&org.id) {
        m.teams.push(team.to_string());
    }
}
