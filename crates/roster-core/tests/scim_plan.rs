//! The SCIM side of provisioning (provisioning.md §5, S4–S6), as planner functions.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use roster_core::plan::{Change, Plan, RefusalKind};
use roster_core::scim_plan::{plan_create, plan_delete, plan_update, ScimUserFacts};
use roster_core::signin::AttributeNames;
use roster_core::state::{ConnectionState, MembershipState, OrgState, SignInState, UserState};
use roster_core::{DomainName, Email, MemberState, Name, Role, Source};

fn connection() -> ConnectionState {
    let org = |id: &str, name: &str| OrgState {
        id: id.into(),
        name: name.into(),
        seat_limit: None,
        seats_used: 0,
        teams: vec![],
    };
    ConnectionState {
        id: "c1".into(),
        name: "okta".into(),
        company_id: "co".into(),
        jit: false,
        domains: vec![DomainName::parse("example.com").unwrap()],
        organizations: vec![org("o1", "acme"), org("o2", "beta")],
        default_organization_id: "o1".into(),
        default_team: Some(Name::parse_team("everyone").unwrap()),
        default_session_minutes: None,
        attribute_names: AttributeNames::default(),
    }
}

fn facts(email: &str) -> ScimUserFacts {
    ScimUserFacts {
        email: Email::parse(email).unwrap(),
        external_id: Some("00u1".into()),
        full_name: Some("Jo Bloggs".into()),
        given_name: Some("Jo".into()),
        family_name: Some("Bloggs".into()),
        active: Some(true),
        organization: None,
        team: None,
        role: None,
    }
}

fn existing(linked: bool, memberships: Vec<MembershipState>) -> Option<UserState> {
    Some(UserState {
        id: "u1".into(),
        full_name: "Jo Bloggs".into(),
        memberships,
        linked,
    })
}

fn member(org: &str, role: Role, state: MemberState, teams: &[&str]) -> MembershipState {
    MembershipState {
        organization_id: org.into(),
        role,
        state,
        source: Source::Scim,
        teams: teams.iter().map(|t| Name::parse_team(t).unwrap()).collect(),
    }
}

fn state(user: Option<UserState>) -> SignInState {
    SignInState {
        connection: connection(),
        user,
        invitations: vec![],
    }
}

/// One line per step, as the preview lists them: `kind org/team role [rule]`.
fn changes(p: &Plan) -> Vec<String> {
    let steps = serde_json::to_value(p.steps()).unwrap();
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let field = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let mut s = field("kind").unwrap();
            if let Some(o) = field("organization") {
                s.push_str(&format!(" {o}"));
            }
            if let Some(t) = field("team") {
                s.push_str(&format!("/{t}"));
            }
            if let Some(r) = field("role") {
                s.push_str(&format!(" {r}"));
            }
            format!("{s} [{}]", field("rule").unwrap())
        })
        .collect()
}

#[test]
fn s5_provisioning_into_default_org_and_team_as_member() {
    let p = plan_create(&state(None), &facts("jo@example.com")).unwrap();
    assert_eq!(
        changes(&p),
        [
            "create_user [S5]",
            "link_account [S5]",
            "add_membership acme member [S5]",
            "create_team acme/everyone [S5]",
            "add_team_membership acme/everyone [S5]"
        ]
    );
}

#[test]
fn s5_docker_extension_steers_org_team_and_role() {
    let mut f = facts("jo@example.com");
    f.organization = Some("BETA".into());
    f.team = Some("ops".into());
    f.role = Some("owner".into());
    let p = plan_create(&state(None), &f).unwrap();
    assert_eq!(
        changes(&p),
        [
            "create_user [S5]",
            "link_account [S5]",
            "add_membership beta owner [S5]",
            "create_team beta/ops [S5]",
            "add_team_membership beta/ops [S5]"
        ]
    );
    f.role = Some("admin".into());
    let e = plan_create(&state(None), &f).unwrap_err();
    assert_eq!(e.kind, RefusalKind::InvalidValue);
    f.role = None;
    f.organization = Some("elsewhere".into());
    let e = plan_create(&state(None), &f).unwrap_err();
    assert_eq!(e.kind, RefusalKind::InvalidValue);
    assert!(e.detail.contains("elsewhere"));
}

#[test]
fn s4_linking_needs_a_verified_domain_and_happens_once() {
    let p = plan_create(&state(existing(false, vec![])), &facts("jo@example.com")).unwrap();
    assert_eq!(changes(&p)[0], "link_account [S4]");
    assert!(!changes(&p).iter().any(|c| c.starts_with("create_user")));
    let e = plan_create(&state(existing(false, vec![])), &facts("jo@elsewhere.test")).unwrap_err();
    assert_eq!(e.kind, RefusalKind::Exists);
    let e = plan_create(&state(existing(true, vec![])), &facts("jo@example.com")).unwrap_err();
    assert_eq!(e.kind, RefusalKind::Exists, "a second POST of a linked user");
}

#[test]
fn s1_accounts_are_created_only_in_verified_domains() {
    let e = plan_create(&state(None), &facts("ceo@other-company.test")).unwrap_err();
    assert_eq!(e.kind, RefusalKind::InvalidValue);
    assert_eq!(
        changes(&plan_create(&state(None), &facts("jo@eu.example.com")).unwrap())[0],
        "create_user [S5]"
    );
}

#[test]
fn s6_created_inactive_takes_no_seat() {
    let mut s = state(None);
    s.connection.organizations[0].seat_limit = Some(0);
    let mut f = facts("jo@example.com");
    f.active = Some(false);
    let p = plan_create(&s, &f).unwrap();
    assert!(matches!(
        p.changes[1],
        Change::AddMembership {
            state: MemberState::Deactivated,
            ..
        }
    ));
    assert!(
        !changes(&p).iter().any(|c| c.starts_with("deactivate")),
        "{:?}",
        changes(&p)
    );
    f.active = Some(true);
    assert_eq!(plan_create(&s, &f).unwrap_err().kind, RefusalKind::Conflict);
}

#[test]
fn s5_later_updates_of_docker_role_change_the_role() {
    let u = existing(
        true,
        vec![member("o1", Role::Member, MemberState::Active, &["everyone"])],
    );
    let mut f = facts("jo@example.com");
    f.role = Some("editor".into());
    let p = plan_update(&state(u.clone()), &f).unwrap();
    assert_eq!(changes(&p), ["set_role acme editor [S5]"]);
    f.role = None;
    assert_eq!(
        changes(&plan_update(&state(u), &f).unwrap()),
        Vec::<String>::new(),
        "nothing to do"
    );
}

#[test]
fn s6_active_false_deactivates_everywhere_and_ends_sessions_keeping_teams() {
    let u = existing(
        true,
        vec![
            member("o1", Role::Member, MemberState::Active, &["everyone"]),
            member("o2", Role::Owner, MemberState::Active, &[]),
        ],
    );
    let mut f = facts("jo@example.com");
    f.active = Some(false);
    let p = plan_update(&state(u), &f).unwrap();
    assert_eq!(
        changes(&p),
        ["deactivate acme [S6]", "deactivate beta [S6]", "end_sessions [S6]"]
    );
    assert!(
        !p.changes.iter().any(|c| matches!(c, Change::AddTeamMembership { .. })),
        "teams are kept, not touched"
    );
}

#[test]
fn s6_active_true_reactivates_and_absent_active_leaves_it() {
    let u = existing(
        true,
        vec![member("o1", Role::Member, MemberState::Deactivated, &["everyone"])],
    );
    let mut f = facts("jo@example.com");
    let p = plan_update(&state(u.clone()), &f).unwrap();
    assert_eq!(changes(&p), ["reactivate acme [S6]"]);
    f.active = None;
    assert_eq!(
        changes(&plan_update(&state(u.clone()), &f).unwrap()),
        Vec::<String>::new(),
        "a PUT without active leaves it"
    );
    // Reactivation takes a seat (J9).
    let mut s = state(u);
    s.connection.organizations[0].seat_limit = Some(1);
    s.connection.organizations[0].seats_used = 1;
    let e = plan_update(&s, &facts("jo@example.com")).unwrap_err();
    assert_eq!(e.kind, RefusalKind::Conflict);
    assert_eq!(
        e.detail,
        "Not enough seats in organization 'acme'. Add more seats or contact your administrator."
    );
}

#[test]
fn s6_delete_deactivates_ends_sessions_and_unlinks() {
    let u = existing(
        true,
        vec![member("o1", Role::Member, MemberState::Active, &["everyone"])],
    );
    let p = plan_delete(&state(u), &Email::parse("jo@example.com").unwrap()).unwrap();
    assert_eq!(
        changes(&p),
        ["deactivate acme [S6]", "end_sessions [S6]", "unlink_account [S6]"]
    );
    let e = plan_delete(
        &state(existing(false, vec![])),
        &Email::parse("jo@example.com").unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.kind, RefusalKind::NotProvisioned);
}

#[test]
fn scim_plans_are_idempotent() {
    let mut s = state(None);
    let mut f = facts("jo@example.com");
    f.role = Some("editor".into());
    let p = plan_create(&s, &f).unwrap();
    s.apply(&p);
    assert_eq!(changes(&plan_update(&s, &f).unwrap()), Vec::<String>::new());
    f.active = Some(false);
    let p = plan_update(&s, &f).unwrap();
    s.apply(&p);
    assert_eq!(changes(&plan_update(&s, &f).unwrap()), Vec::<String>::new());
    assert_eq!(
        s.user.as_ref().unwrap().memberships[0].teams,
        [Name::parse_team("everyone").unwrap()],
        "S6 keeps teams"
    );
}

#[test]
fn s1_a_user_outside_the_verified_domains_is_held_not_refused() {
    use roster_core::scim_plan::{plan_provisioning, Provisioning};
    match plan_provisioning(&state(None), &facts("ceo@other-company.test"), false).unwrap() {
        Provisioning::Hold(why) => assert_eq!(
            why,
            "'other-company.test' is not in a verified domain of this connection"
        ),
        Provisioning::Apply(p) => panic!("an account was planned: {:?}", changes(&p)),
    }
    // In a verified domain it is a create (S5); an existing account elsewhere is S4's
    // to refuse; a linked resource is an update.
    let Provisioning::Apply(p) = plan_provisioning(&state(None), &facts("jo@example.com"), false).unwrap() else {
        panic!("held")
    };
    assert_eq!(changes(&p)[0], "create_user [S5]");
    let e = plan_provisioning(&state(existing(false, vec![])), &facts("jo@elsewhere.test"), false).unwrap_err();
    assert_eq!(e.kind, RefusalKind::Exists);
    let u = existing(
        true,
        vec![member("o1", Role::Member, MemberState::Active, &["everyone"])],
    );
    let Provisioning::Apply(p) = plan_provisioning(&state(u), &facts("jo@example.com"), true).unwrap() else {
        panic!("held")
    };
    assert_eq!(changes(&p), Vec::<String>::new(), "nothing to change");
}
