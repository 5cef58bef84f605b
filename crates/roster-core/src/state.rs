//! The slice of the directory a sign-in plan depends on, as plain data. The store loads
//! it inside the transaction that will apply the plan; tests build it by hand.

use crate::plan::{ChangeKind, Plan};
use crate::signin::AttributeNames;
use crate::{DomainName, MemberState, Role, Source};

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
    pub default_team: Option<String>,
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
    pub teams: Vec<String>,
}

impl OrgState {
    pub fn has_team(&self, name: &str) -> bool {
        let key = name.to_lowercase();
        self.teams.iter().any(|t| t.to_lowercase() == key)
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
    pub teams: Vec<String>,
}

impl MembershipState {
    pub fn in_team(&self, name: &str) -> bool {
        let key = name.to_lowercase();
        self.teams.iter().any(|t| t.to_lowercase() == key)
    }
}

/// A pending, unexpired invitation of the signing-in email to a connected organization.
#[derive(Debug, Clone)]
pub struct InvitationState {
    pub id: String,
    pub organization_id: String,
    pub team: Option<String>,
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
        for change in &plan.changes {
            let org_id = change.organization_id.clone().unwrap_or_default();
            match change.kind {
                ChangeKind::CreateUser => {
                    self.user = Some(UserState {
                        id: format!("user:{}", plan.email),
                        full_name: plan.full_name.clone(),
                        memberships: Vec::new(),
                        linked: false,
                    })
                }
                ChangeKind::UpdateName => {
                    if let Some(u) = self.user.as_mut() {
                        u.full_name = plan.full_name.clone();
                    }
                }
                ChangeKind::AcceptInvitation => self
                    .invitations
                    .retain(|i| Some(&i.id) != change.invitation_id.as_ref()),
                ChangeKind::AddMembership => {
                    let source = change.source.unwrap_or(Source::Jit);
                    let member_state = change.state.unwrap_or(MemberState::Active);
                    if source != Source::Invite && member_state == MemberState::Active {
                        if let Some(o) = self.connection.organizations.iter_mut().find(|o| o.id == org_id) {
                            o.seats_used += 1;
                        }
                    }
                    if let Some(u) = self.user.as_mut() {
                        u.memberships.push(MembershipState {
                            organization_id: org_id,
                            role: change.role.unwrap_or(Role::Member),
                            state: member_state,
                            source,
                            teams: Vec::new(),
                        });
                    }
                }
                ChangeKind::CreateTeam => {
                    if let Some(o) = self.connection.organizations.iter_mut().find(|o| o.id == org_id) {
                        o.teams.push(change.team.clone().unwrap_or_default());
                    }
                }
                ChangeKind::LinkAccount | ChangeKind::UnlinkAccount => {
                    if let Some(u) = self.user.as_mut() {
                        u.linked = change.kind == ChangeKind::LinkAccount;
                    }
                }
                ChangeKind::SetRole | ChangeKind::Deactivate | ChangeKind::Reactivate => {
                    if let Some(m) = self
                        .user
                        .as_mut()
                        .and_then(|u| u.memberships.iter_mut().find(|m| m.organization_id == org_id))
                    {
                        match change.kind {
                            ChangeKind::SetRole => m.role = change.role.unwrap_or(m.role),
                            ChangeKind::Deactivate => m.state = MemberState::Deactivated,
                            _ => m.state = MemberState::Active,
                        }
                    }
                    let delta = match change.kind {
                        ChangeKind::Deactivate => -1,
                        ChangeKind::Reactivate => 1,
                        _ => 0,
                    };
                    if let Some(o) = self.connection.organizations.iter_mut().find(|o| o.id == org_id) {
                        o.seats_used += delta;
                    }
                }
                ChangeKind::EndSessions => {}
                ChangeKind::AddTeamMembership => {
                    if let Some(m) = self
                        .user
                        .as_mut()
                        .and_then(|u| u.memberships.iter_mut().find(|m| m.organization_id == org_id))
                    {
                        m.teams.push(change.team.clone().unwrap_or_default());
                    }
                }
            }
        }
    }
}
