//! The slice of the directory a sign-in plan depends on, as plain data. The store loads
//! it inside the transaction that will apply the plan; tests build it by hand.

use crate::plan::{Account, Change, Plan};
use crate::signin::AttributeNames;
use crate::{DomainName, MemberState, Name, Role, Source};

#[derive(Debug, Clone)]
pub struct ConnectionState {
    pub id: String,
    pub name: String,
    pub company_id: String,
    pub jit: bool,
    /// Verified domains the connection serves.
    pub domains: Vec<DomainName>,
    /// The connected organizations (the default one included).
    pub organizations: Vec<OrgState>,
    pub default_organization_id: String,
    pub default_team: Option<Name>,
    pub default_session_minutes: Option<i64>,
    pub attribute_names: AttributeNames,
}

impl ConnectionState {
    pub fn org(&self, id: &str) -> Option<&OrgState> {
        self.organizations.iter().find(|o| o.id == id)
    }
    /// G1/A5: organizations are matched by name, case-insensitively.
    pub fn org_by_name(&self, name: &str) -> Option<&OrgState> {
        let key = name.trim().to_lowercase();
        self.organizations.iter().find(|o| o.name.to_lowercase() == key)
    }
}

#[derive(Debug, Clone)]
pub struct OrgState {
    pub id: String,
    pub name: String,
    pub seat_limit: Option<i64>,
    /// Active members plus pending invitations (J9).
    pub seats_used: i64,
    /// The teams of this organization that the sign-in may touch (loaded by name).
    pub teams: Vec<Name>,
}

impl OrgState {
    pub fn has_team(&self, name: &Name) -> bool {
        self.teams.contains(name)
    }
}

#[derive(Debug, Clone)]
pub struct UserState {
    pub id: String,
    pub full_name: String,
    /// Memberships in the connection's organizations.
    pub memberships: Vec<MembershipState>,
    /// The account is linked to this connection's SCIM provisioning (S4).
    pub linked: bool,
}

#[derive(Debug, Clone)]
pub struct MembershipState {
    pub organization_id: String,
    pub role: Role,
    pub state: MemberState,
    pub source: Source,
    /// Team names within the organization.
    pub teams: Vec<Name>,
}

impl MembershipState {
    /// A membership with no team yet.
    pub fn new(organization_id: &str, role: Role, state: MemberState, source: Source) -> Self {
        Self {
            organization_id: organization_id.to_string(),
            role,
            state,
            source,
            teams: Vec::new(),
        }
    }
    pub fn in_team(&self, name: &Name) -> bool {
        self.teams.contains(name)
    }
}

/// A pending, unexpired invitation of the signing-in email to a connected organization.
#[derive(Debug, Clone)]
pub struct InvitationState {
    pub id: String,
    pub organization_id: String,
    pub team: Option<Name>,
    pub role: Role,
}

/// Everything the sign-in planner reads.
#[derive(Debug, Clone)]
pub struct SignInState {
    pub connection: ConnectionState,
    pub user: Option<UserState>,
    pub invitations: Vec<InvitationState>,
}

impl SignInState {
    /// The state after `plan` is applied: what the store does to the database, done to
    /// plain data (for tests and for checking that plans are idempotent).
    pub fn apply(&mut self, plan: &Plan) {
        match &plan.account {
            Account::Create(_) => {
                self.user = Some(UserState {
                    id: format!("user:{}", plan.subject.email),
                    full_name: plan.subject.full_name.clone(),
                    memberships: Vec::new(),
                    linked: false,
                })
            }
            Account::Rename { .. } => {
                if let Some(u) = self.user.as_mut() {
                    u.full_name = plan.subject.full_name.clone();
                }
            }
            Account::Existing { .. } => {}
        }
        for change in &plan.changes {
            let org_id = change.org().map(|o| o.id.clone()).unwrap_or_default();
            let seats = |s: &mut Self, delta: i64| {
                if let Some(o) = s.connection.organizations.iter_mut().find(|o| o.id == org_id) {
                    o.seats_used += delta;
                }
            };
            match change {
                Change::AcceptInvitation { invitation_id, .. } => self.invitations.retain(|i| i.id != *invitation_id),
                Change::AddMembership {
                    role, state, source, ..
                } => {
                    if *source != Source::Invite && *state == MemberState::Active {
                        seats(self, 1);
                    }
                    if let Some(u) = self.user.as_mut() {
                        u.memberships.push(MembershipState {
                            organization_id: org_id.clone(),
                            role: *role,
                            state: *state,
                            source: *source,
                            teams: Vec::new(),
                        });
                    }
                }
                Change::CreateTeam { team, .. } => {
                    if let Some(o) = self.connection.organizations.iter_mut().find(|o| o.id == org_id) {
                        o.teams.push(team.clone());
                    }
                }
                Change::AddTeamMembership { team, .. } => {
                    if let Some(m) = self.membership_mut(&org_id) {
                        m.teams.push(team.clone());
                    }
                }
                Change::RemoveTeamMembership { team, .. } => {
                    if let Some(m) = self.membership_mut(&org_id) {
                        m.teams.retain(|t| t != team);
                    }
                }
                Change::LinkAccount(_) | Change::UnlinkAccount(_) => {
                    if let Some(u) = self.user.as_mut() {
                        u.linked = matches!(change, Change::LinkAccount(_));
                    }
                }
                Change::SetRole { role, .. } => {
                    if let Some(m) = self.membership_mut(&org_id) {
                        m.role = *role;
                    }
                }
                Change::Deactivate { .. } => {
                    if let Some(m) = self.membership_mut(&org_id) {
                        m.state = MemberState::Deactivated;
                    }
                    seats(self, -1);
                }
                Change::Reactivate { .. } => {
                    if let Some(m) = self.membership_mut(&org_id) {
                        m.state = MemberState::Active;
                    }
                    seats(self, 1);
                }
                Change::EndSessions(_) => {}
            }
        }
    }

    fn membership_mut(&mut self, org_id: &str) -> Option<&mut MembershipState> {
        self.user
            .as_mut()
            .and_then(|u| u.memberships.iter_mut().find(|m| m.organization_id == org_id))
    }
}
