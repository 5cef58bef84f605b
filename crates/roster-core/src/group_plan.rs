//! SCIM Groups as teams (spec G4, G5): which team a Group is, and what joining or
//! leaving that team through the Group does to one member. Pure: the server loads each
//! member's state, these functions decide, the store applies.

use crate::plan::{Cause, Change, OrgRef};
use crate::signin::split_group;
use crate::{MemberState, Name, Role, Source};

/// G1, G4: a Group named `organization:team`, whose organization is one of the
/// connection's (`organizations`: (id, name) pairs, matched by name, case-insensitively),
/// is that team: the organization's id and the team's name. `None` for a name that maps
/// nothing: such a Group is kept and returned but gives no team. The organization is
/// resolved among the connection's own, never by looking a name up as an id.
pub fn group_team<'a>(
    display_name: &str,
    organizations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<(&'a str, Name)> {
    let (org_name, team_name) = split_group(display_name)?;
    let (org_id, _) = organizations
        .into_iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(org_name))?;
    let team = Name::parse_team(team_name).ok()?;
    Some((org_id, team))
}

/// G1, G4: a Group feeds its team only while the team's organization is one of the
/// connection's; after the organization is disconnected, the Group maps nothing.
pub fn still_maps(team_organization_id: &str, connected: &[String]) -> bool {
    connected.iter().any(|id| id == team_organization_id)
}

/// What joining a team through a Group depends on, for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joiner {
    pub user_id: String,
    /// Their membership of the team's organization, if any.
    pub membership: Option<MemberState>,
    /// Whether the connection's SCIM User for this account is active; `None` when no
    /// SCIM User of the connection links it.
    pub scim_active: Option<bool>,
}

/// G4: `joiner` joins `team` of `org` as a member of the Group `group`. Someone not yet
/// in the organization joins it too, as a `member` (G5: the role never comes from the
/// team name); someone the connection deactivated joins deactivated, taking no seat, so
/// that a Group cannot let them back in (S6).
pub fn plan_join(org: &OrgRef, team: &Name, group: &str, joiner: &Joiner) -> Vec<Change> {
    let cause = Cause::new("G4", format!("member of SCIM Group '{group}'"));
    let mut changes = Vec::with_capacity(2);
    if joiner.membership.is_none() {
        // S6: only someone the connection deactivated joins deactivated.
        let state = if joiner.scim_active == Some(false) {
            MemberState::Deactivated
        } else {
            MemberState::Active
        };
        changes.push(Change::AddMembership {
            org: org.clone(),
            role: Role::Member,
            state,
            source: Source::Scim,
            cause: cause.clone(),
        });
    }
    changes.push(Change::AddTeamMembership {
        org: org.clone(),
        team: team.clone(),
        source: Source::Scim,
        cause,
    });
    changes
}

/// G4: a removal from the Group (or the Group's deletion or rename) takes the member out
/// of that team only: memberships and other teams stay.
pub fn plan_leave(org: &OrgRef, team: &Name, group: &str) -> Change {
    Change::RemoveTeamMembership {
        org: org.clone(),
        team: team.clone(),
        cause: Cause::new("G4", format!("removed from SCIM Group '{group}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs() -> Vec<(&'static str, &'static str)> {
        vec![("o1", "Acme"), ("o2", "beta")]
    }

    fn acme() -> OrgRef {
        OrgRef {
            id: "o1".into(),
            name: "Acme".into(),
        }
    }

    fn team(name: &str) -> Name {
        Name::parse_team(name).unwrap()
    }

    #[test]
    fn g1_g4_group_names_map_to_a_connected_organization_and_team() {
        let orgs = orgs();
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("acme:engineering", Some(("o1", "engineering"))),
            ("ACME:Engineering", Some(("o1", "Engineering"))),
            // G1: split at the first ':' only.
            ("beta:ops:oncall", Some(("o2", "ops:oncall"))),
            // G4: names that map nothing; an organization's id is not its name.
            ("gamma:ops", None),
            ("o1:ops", None),
            ("acme:", None),
            (":ops", None),
            ("Everyone", None),
            ("acme:a/b", None),
        ];
        for (name, want) in cases {
            let got = group_team(name, orgs.iter().copied()).map(|(o, t)| (o.to_string(), t.as_str().to_string()));
            let want = want.map(|(o, t)| (o.to_string(), t.to_string()));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn g1_g4_a_group_maps_only_while_its_organization_is_connected() {
        let connected = vec!["o1".to_string(), "o2".to_string()];
        assert!(still_maps("o1", &connected));
        assert!(!still_maps("o3", &connected));
        assert!(!still_maps("o1", &[]));
    }

    #[test]
    fn g4_g5_a_newcomer_joins_the_organization_as_member_then_the_team() {
        let joiner = Joiner {
            user_id: "u1".into(),
            membership: None,
            scim_active: Some(true),
        };
        let changes = plan_join(&acme(), &team("eng"), "acme:eng", &joiner);
        assert_eq!(changes.len(), 2);
        match &changes[0] {
            Change::AddMembership {
                role,
                state,
                source,
                cause,
                ..
            } => {
                assert_eq!(*role, Role::Member, "G5: never from the team name");
                assert_eq!(*state, MemberState::Active);
                assert_eq!(*source, Source::Scim);
                assert_eq!(cause.rule, "G4");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&changes[1], Change::AddTeamMembership { team: t, .. } if t.as_str() == "eng"));
    }

    #[test]
    fn g4_s6_someone_the_connection_deactivated_joins_deactivated() {
        let joiner = Joiner {
            user_id: "u1".into(),
            membership: None,
            scim_active: Some(false),
        };
        let changes = plan_join(&acme(), &team("eng"), "acme:eng", &joiner);
        assert!(matches!(
            &changes[0],
            Change::AddMembership {
                state: MemberState::Deactivated,
                ..
            }
        ));
    }

    #[test]
    fn g4_s6_an_account_no_scim_user_links_joins_active() {
        let joiner = Joiner {
            user_id: "u1".into(),
            membership: None,
            scim_active: None,
        };
        let changes = plan_join(&acme(), &team("eng"), "acme:eng", &joiner);
        assert!(matches!(
            &changes[0],
            Change::AddMembership {
                state: MemberState::Active,
                ..
            }
        ));
    }

    #[test]
    fn g4_a_member_only_joins_the_team_whatever_their_state() {
        for state in [MemberState::Active, MemberState::Deactivated] {
            let joiner = Joiner {
                user_id: "u1".into(),
                membership: Some(state),
                scim_active: Some(true),
            };
            let changes = plan_join(&acme(), &team("eng"), "acme:eng", &joiner);
            assert_eq!(changes.len(), 1, "{state:?}");
            assert!(matches!(&changes[0], Change::AddTeamMembership { .. }));
        }
    }

    #[test]
    fn g4_leaving_takes_the_member_out_of_that_team_only() {
        let change = plan_leave(&acme(), &team("eng"), "acme:eng");
        match change {
            Change::RemoveTeamMembership { org, team, cause } => {
                assert_eq!(org.id, "o1");
                assert_eq!(team.as_str(), "eng");
                assert_eq!(cause.rule, "G4");
                assert_eq!(cause.because, "removed from SCIM Group 'acme:eng'");
            }
            other => panic!("{other:?}"),
        }
    }
}
