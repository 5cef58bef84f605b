//! The working copy of a person's memberships while a plan is built: each planned
//! change is also made here, so later rules see the state the earlier ones leave
//! (a team created once, a seat taken once).

use crate::plan::{Cause, Change, OrgRef};
use crate::state::{MembershipState, OrgState, SignInState};
use crate::{MemberState, Name, Source};

pub(crate) struct Model<'a> {
    pub(crate) state: &'a SignInState,
    pub(crate) memberships: Vec<MembershipState>,
    /// (organization id, team) created by this plan.
    created_teams: Vec<(String, Name)>,
    /// Organization ids, once per seat this plan takes.
    seats_taken: Vec<String>,
}

impl<'a> Model<'a> {
    pub(crate) fn new(state: &'a SignInState) -> Self {
        Self {
            state,
            memberships: state.user.as_ref().map(|u| u.memberships.clone()).unwrap_or_default(),
            created_teams: Vec::new(),
            seats_taken: Vec::new(),
        }
    }

    pub(crate) fn membership(&self, org_id: &str) -> Option<&MembershipState> {
        self.memberships.iter().find(|m| m.organization_id == org_id)
    }

    fn team_exists(&self, org: &OrgState, team: &Name) -> bool {
        org.has_team(team) || self.created_teams.iter().any(|(o, t)| *o == org.id && t == team)
    }

    /// J9: whether `org` has a seat left, counting those this plan took.
    pub(crate) fn seat_free(&self, org: &OrgState) -> bool {
        let taken = self.seats_taken.iter().filter(|o| **o == org.id).count();
        let taken = i64::try_from(taken).unwrap_or(i64::MAX);
        org.seat_limit
            .is_none_or(|limit| org.seats_used.saturating_add(taken) < limit)
    }

    /// An active membership in one of the connection's organizations.
    pub(crate) fn any_active(&self) -> bool {
        self.memberships
            .iter()
            .any(|m| m.state == MemberState::Active && self.state.connection.org(&m.organization_id).is_some())
    }

    /// Records a membership this plan adds; an active one takes a seat unless an
    /// invitation already holds it (J9).
    pub(crate) fn joined(&mut self, org: &OrgState, membership: MembershipState) {
        if membership.state == MemberState::Active && membership.source != Source::Invite {
            self.seats_taken.push(org.id.clone());
        }
        self.memberships.push(membership);
    }

    /// Adds the member to `team` of `org`, creating the team first when it is missing
    /// (G2; teams are created on demand). Nothing when they are in it already (J5).
    pub(crate) fn add_team(
        &mut self,
        changes: &mut Vec<Change>,
        org: &OrgState,
        team: &Name,
        source: Source,
        cause: Cause,
    ) {
        if self.membership(&org.id).is_some_and(|m| m.in_team(team)) {
            return;
        }
        if !self.team_exists(org, team) {
            changes.push(Change::CreateTeam {
                org: OrgRef::from(org),
                team: team.clone(),
                cause: cause.clone(),
            });
            self.created_teams.push((org.id.clone(), team.clone()));
        }
        changes.push(Change::AddTeamMembership {
            org: OrgRef::from(org),
            team: team.clone(),
            source,
            cause,
        });
        if let Some(m) = self.memberships.iter_mut().find(|m| m.organization_id == org.id) {
            m.teams.push(team.clone());
        }
    }
}

/// J9's refusal, as the person reads it.
pub(crate) fn seats_message(org: &str) -> String {
    format!("Not enough seats in organization '{org}'. Add more seats or contact your administrator.")
}
