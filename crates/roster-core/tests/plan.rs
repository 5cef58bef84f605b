//! The sign-in planner, rule by rule (provisioning.md §2–§4, §6). Each case asserts the
//! whole plan: allowed or the exact denial, every change with its rule, the warnings and
//! the session.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use roster_core::state::InvitationState;
use roster_core::{MemberState, Name, Role, Source};
use support::*;

#[test]
fn j2_j4_3_first_sign_in_creates_account_in_default_org_and_team() {
    let p = plan_sign_in(&state(connection(), None), &facts(&[("name", &["Jo Bloggs"])]));
    assert!(p.allowed);
    assert!(!p.user_exists);
    assert_eq!(p.full_name, "Jo Bloggs");
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [J4]",
            "add_team_membership acme/everyone [J4]"
        ]
    );
    assert!(p.changes.iter().all(|c| !c.because.is_empty()));
    assert!(p.warnings.is_empty());
    let s = p.session.unwrap();
    assert_eq!((s.minutes, s.rule), (1440, "T1"));
}

#[test]
fn j4_4_returning_member_gets_nothing_new_and_j5_name_is_overwritten() {
    let u = user(
        "Old Name",
        vec![member(
            "o1",
            Role::Member,
            MemberState::Active,
            Source::Jit,
            &["everyone"],
        )],
    );
    let p = plan_sign_in(&state(connection(), u.clone()), &facts(&[("name", &["Old Name"])]));
    assert!(p.allowed);
    assert_eq!(changes(&p), Vec::<String>::new());
    let p = plan_sign_in(&state(connection(), u), &facts(&[("name", &["New Name"])]));
    assert_eq!(changes(&p), ["update_name [J5]"]);
    assert!(p.changes[0].because.contains("'New Name'") && p.changes[0].because.contains("'Old Name'"));
}

#[test]
fn a4_domain_must_be_verified_subdomains_included() {
    let p = plan_sign_in(&state(connection(), None), &facts_for("jo@evil.test", &[]));
    assert_denied(
        &p,
        "domain_not_verified",
        "Domain 'evil.test' is not verified for your SSO connection. Contact your company administrator. TraceID: T-1",
    );
    let p = plan_sign_in(&state(connection(), None), &facts_for("jo@eu.example.com", &[]));
    assert!(p.allowed, "{:?}", p.denial);
    let p = plan_sign_in(&state(connection(), None), &facts_for("jo@notexample.com", &[]));
    assert!(!p.allowed);
}

#[test]
fn g1_g2_groups_map_across_a_company_connections_organizations() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("groups", &["ACME:eng", "beta:ops", "acme:everyone"])]),
    );
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [G2]",
            "create_team acme/eng [G2]",
            "add_team_membership acme/eng [G2]",
            "add_membership beta member [G2]",
            "create_team beta/ops [G2]",
            "add_team_membership beta/ops [G2]",
            "add_team_membership acme/everyone [G2]",
        ]
    );
    assert!(p.changes[2].because.contains("'ACME:eng'"));
}

#[test]
fn g3_bad_groups_are_ignored_one_by_one() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("groups", &["acme:eng", "developers", "other:team", ":x", "acme:"])]),
    );
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [G2]",
            "create_team acme/eng [G2]",
            "add_team_membership acme/eng [G2]"
        ]
    );
    assert_eq!(
        warnings(&p),
        [
            "G3: group 'developers' is ignored: it is not organization:team",
            "G3: group 'other:team' is ignored: 'other' is not an organization of this connection",
            "G3: group ':x' is ignored: it is not organization:team",
            "G3: group 'acme:' is ignored: it is not organization:team",
        ]
    );
    // None valid: J4 falls through to the next rule.
    let p = plan_sign_in(&state(connection(), None), &facts(&[("groups", &["developers"])]));
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [J4]",
            "add_team_membership acme/everyone [J4]"
        ]
    );
}

#[test]
fn j4_2_docker_org_and_team() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[
            ("dockerOrg", &["Beta"]),
            ("dockerTeam", &["ops"]),
            ("dockerRole", &["editor"]),
        ]),
    );
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership beta editor [J4]",
            "create_team beta/ops [J4]",
            "add_team_membership beta/ops [J4]"
        ]
    );
    assert!(p.changes[1].because.contains("dockerOrg = Beta") && p.changes[1].because.contains("dockerRole = editor"));
    // dockerTeam alone: the default organization.
    let p = plan_sign_in(&state(connection(), None), &facts(&[("dockerTeam", &["ops"])]));
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [J4]",
            "create_team acme/ops [J4]",
            "add_team_membership acme/ops [J4]"
        ]
    );
    // Groups win over dockerOrg (J4.1 before J4.2).
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("groups", &["beta:x"]), ("dockerOrg", &["acme"])]),
    );
    assert_eq!(changes(&p)[1], "add_membership beta member [G2]");
}

#[test]
fn a5_docker_org_of_an_unconnected_org_is_ignored() {
    let p = plan_sign_in(&state(connection(), None), &facts(&[("dockerOrg", &["stranger"])]));
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [J4]",
            "add_team_membership acme/everyone [J4]"
        ]
    );
    assert_eq!(
        warnings(&p),
        ["A5: 'dockerOrg' value 'stranger' is not an organization of this connection; it is ignored"]
    );
}

#[test]
fn j6_role_only_on_first_add() {
    let u = user(
        "Jo",
        vec![member("o1", Role::Member, MemberState::Active, Source::Jit, &[])],
    );
    let p = plan_sign_in(
        &state(connection(), u),
        &facts(&[
            ("name", &["Jo"]),
            ("dockerRole", &["owner"]),
            ("groups", &["acme:eng", "beta:ops"]),
        ]),
    );
    assert_eq!(
        changes(&p),
        [
            "create_team acme/eng [G2]",
            "add_team_membership acme/eng [G2]",
            "add_membership beta owner [G2]",
            "create_team beta/ops [G2]",
            "add_team_membership beta/ops [G2]",
        ],
        "the existing acme role stays member; the new beta membership takes dockerRole"
    );
}

#[test]
fn j5_teams_are_added_never_removed() {
    let u = user(
        "Jo",
        vec![member("o1", Role::Editor, MemberState::Active, Source::Jit, &["old"])],
    );
    let mut s = state(connection(), u);
    let p = plan_sign_in(&s, &facts(&[("name", &["Jo"]), ("groups", &["acme:new"])]));
    assert_eq!(
        changes(&p),
        ["create_team acme/new [G2]", "add_team_membership acme/new [G2]"]
    );
    s.apply(p.plan());
    let m = &s.user.as_ref().unwrap().memberships[0];
    assert_eq!(m.teams, names(&["old", "new"]));
    assert_eq!(m.role, Role::Editor);
}

#[test]
fn j7_deactivated_membership_is_not_revived() {
    let u = user(
        "Jo",
        vec![member(
            "o1",
            Role::Member,
            MemberState::Deactivated,
            Source::Scim,
            &["everyone"],
        )],
    );
    for groups in [&["acme:eng"][..], &[], &["acme:eng", "beta:ops"]] {
        // Deprovisioned (every membership deactivated): JIT adds nothing, anywhere.
        let p = plan_sign_in(
            &state(connection(), u.clone()),
            &facts(&[("name", &["Jo"]), ("groups", groups)]),
        );
        assert_denied(
            &p,
            "membership_deactivated",
            "Your access to organization 'acme' has been deactivated. Contact your administrator. TraceID: T-1",
        );
        assert_eq!(
            warnings(&p)[0],
            "J7: every membership of this connection's organizations is deactivated; JIT adds nothing"
        );
    }
    // Active in beta, deactivated in acme: beta is provisioned, acme is not revived.
    let u = user(
        "Jo",
        vec![
            member("o1", Role::Member, MemberState::Deactivated, Source::Scim, &[]),
            member("o2", Role::Member, MemberState::Active, Source::Jit, &[]),
        ],
    );
    let p = plan_sign_in(
        &state(connection(), u),
        &facts(&[("name", &["Jo"]), ("groups", &["acme:eng", "beta:ops"])]),
    );
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        ["create_team beta/ops [G2]", "add_team_membership beta/ops [G2]"]
    );
    assert_eq!(
        warnings(&p),
        ["J7: the membership of 'acme' is deactivated; JIT does not reactivate it"]
    );
}

#[test]
fn j7_deactivated_elsewhere_is_not_let_in_through_the_default_org() {
    // Deactivated by SCIM in beta (not the default organization): J4.3 must not add acme.
    let u = user(
        "Jo",
        vec![member("o2", Role::Member, MemberState::Deactivated, Source::Scim, &[])],
    );
    let p = plan_sign_in(&state(connection(), u), &facts(&[("name", &["Jo"])]));
    assert_denied(
        &p,
        "membership_deactivated",
        "Your access to organization 'beta' has been deactivated. Contact your administrator. TraceID: T-1",
    );
}

#[test]
fn a5_unconnected_docker_org_warns_even_when_groups_map_or_jit_is_off() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("groups", &["acme:eng"]), ("dockerOrg", &["stranger"])]),
    );
    assert!(
        warnings(&p)
            .iter()
            .any(|w| w.starts_with("A5: 'dockerOrg' value 'stranger'")),
        "{:?}",
        warnings(&p)
    );
    let mut c = connection();
    c.jit = false;
    let u = user(
        "Jo",
        vec![member("o1", Role::Member, MemberState::Active, Source::Scim, &[])],
    );
    let p = plan_sign_in(&state(c, u), &facts(&[("name", &["Jo"]), ("dockerOrg", &["stranger"])]));
    assert_eq!(
        warnings(&p),
        ["A5: 'dockerOrg' value 'stranger' is not an organization of this connection; it is ignored"]
    );
}

#[test]
fn j8_jit_off() {
    let mut c = connection();
    c.jit = false;
    // A stranger is refused and nothing is created.
    let p = plan_sign_in(&state(c.clone(), None), &facts(&[("groups", &["acme:eng"])]));
    assert_denied(
        &p,
        "not_assigned",
        "User 'jo@example.com' is not assigned to this SSO organization. Contact your administrator. TraceID: T-1",
    );
    // An account without membership (e.g. SCIM-unlinked) is refused too.
    let p = plan_sign_in(&state(c.clone(), user("Jo", vec![])), &facts(&[]));
    assert_eq!(p.denial.unwrap().code, "not_assigned");
    // An active member (here provisioned by SCIM) signs in; JIT changes nothing.
    let u = user(
        "Old",
        vec![member("o1", Role::Member, MemberState::Active, Source::Scim, &[])],
    );
    let p = plan_sign_in(
        &state(c.clone(), u),
        &facts(&[("name", &["New"]), ("groups", &["acme:eng"])]),
    );
    assert!(p.allowed);
    assert_eq!(changes(&p), Vec::<String>::new());
    // An invitee: the account is created and the invitation accepted.
    let mut s = state(c, None);
    s.invitations.push(InvitationState {
        id: "i1".into(),
        organization_id: "o2".into(),
        team: Some(Name::parse_team("ops").unwrap()),
        role: Role::Editor,
    });
    let p = plan_sign_in(&s, &facts(&[]));
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J8]",
            "accept_invitation beta [J3]",
            "add_membership beta editor [J3]",
            "create_team beta/ops [J3]",
            "add_team_membership beta/ops [J3]"
        ]
    );
}

#[test]
fn j3_j6_invitations_accepted_with_docker_role_first() {
    let mut s = state(connection(), None);
    s.invitations.push(InvitationState {
        id: "i1".into(),
        organization_id: "o2".into(),
        team: None,
        role: Role::Editor,
    });
    let p = plan_sign_in(&s, &facts(&[]));
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "accept_invitation beta [J3]",
            "add_membership beta editor [J3]"
        ],
        "an invitee is a member: J4.3 adds nothing"
    );
    let p = plan_sign_in(&s, &facts(&[("dockerRole", &["owner"])]));
    assert_eq!(changes(&p)[2], "add_membership beta owner [J3]");
}

#[test]
fn j9_seats() {
    let mut c = connection();
    c.organizations[0].seat_limit = Some(2);
    c.organizations[0].seats_used = 2; // active members and pending invitations, as the store counts them
    let p = plan_sign_in(&state(c.clone(), None), &facts(&[]));
    assert_denied(
        &p,
        "seat_limit_reached",
        "Not enough seats in organization 'acme'. Add more seats or contact your administrator.",
    );
    assert_eq!(
        warnings(&p),
        ["J9: Not enough seats in organization 'acme'. Add more seats or contact your administrator."]
    );
    // A full organization is skipped; the rest of the sign-in proceeds.
    let p = plan_sign_in(
        &state(c.clone(), None),
        &facts(&[("groups", &["acme:eng", "beta:ops"])]),
    );
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership beta member [G2]",
            "create_team beta/ops [G2]",
            "add_team_membership beta/ops [G2]"
        ]
    );
    // An invitation already holds its seat.
    let mut s = state(c, None);
    s.invitations.push(InvitationState {
        id: "i1".into(),
        organization_id: "o1".into(),
        team: None,
        role: Role::Member,
    });
    let p = plan_sign_in(&s, &facts(&[]));
    assert!(p.allowed);
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "accept_invitation acme [J3]",
            "add_membership acme member [J3]"
        ]
    );
}

#[test]
fn t1_session_minutes() {
    let p = plan_sign_in(&state(connection(), None), &facts(&[("dockerSessionMinutes", &["90"])]));
    assert_eq!(p.session.unwrap().minutes, 90);
    let mut c = connection();
    c.default_session_minutes = Some(480);
    let p = plan_sign_in(&state(c.clone(), None), &facts(&[]));
    assert_eq!(p.session.unwrap().minutes, 480);
    for bad in ["0", "-5", "abc", "1.5"] {
        let p = plan_sign_in(&state(c.clone(), None), &facts(&[("dockerSessionMinutes", &[bad])]));
        let s = p.session.as_ref().unwrap();
        assert_eq!(s.minutes, 480, "{bad}: the invalid value is ignored (A5)");
        assert_eq!(warnings(&p), [format!("A5: 'dockerSessionMinutes' value '{bad}' is not a whole number of minutes greater than 0; it is ignored")]);
    }
}

#[test]
fn t1_no_session_lasts_longer_than_90_days() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("dockerSessionMinutes", &["129601"])]),
    );
    let s = p.session.unwrap();
    assert_eq!(s.minutes, 129_600);
    assert_eq!(
        s.because,
        "dockerSessionMinutes = 129601, cut to the longest session, 90 days"
    );
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("dockerSessionMinutes", &["129600"])]),
    );
    assert_eq!(p.session.unwrap().minutes, 129_600);
}

#[test]
fn applying_a_plan_makes_the_next_one_empty() {
    let mut s = state(connection(), None);
    s.invitations.push(InvitationState {
        id: "i1".into(),
        organization_id: "o2".into(),
        team: Some(Name::parse_team("ops").unwrap()),
        role: Role::Editor,
    });
    let f = facts(&[("groups", &["acme:eng"]), ("name", &["Jo"])]);
    let first = plan_sign_in(&s, &f);
    assert!(!first.changes.is_empty());
    s.apply(first.plan());
    let second = plan_sign_in(&s, &f);
    assert!(second.allowed);
    assert_eq!(changes(&second), Vec::<String>::new());
}

#[test]
fn g5_role_is_never_taken_from_the_team_name() {
    let p = plan_sign_in(
        &state(connection(), None),
        &facts(&[("groups", &["acme:owner", "beta:editors"])]),
    );
    assert_eq!(
        changes(&p),
        [
            "create_user [J2]",
            "add_membership acme member [G2]",
            "create_team acme/owner [G2]",
            "add_team_membership acme/owner [G2]",
            "add_membership beta member [G2]",
            "create_team beta/editors [G2]",
            "add_team_membership beta/editors [G2]",
        ]
    );
}
