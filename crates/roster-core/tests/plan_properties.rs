//! Properties of the sign-in planner over random directories and assertions:
//! - applying a plan, then planning the same sign-in again, changes nothing (idempotent);
//! - JIT never removes a user, a membership or a team membership, nor changes a role or
//!   a state (J5, J6, J7);
//! - every change carries a rule id and a reason; a denied plan carries no change.

// Test code: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use roster_core::plan::{plan_sign_in, SignIn};
use roster_core::signin::{read_facts, AttributeNames, RawAttributes};
use roster_core::state::{ConnectionState, InvitationState, MembershipState, OrgState, SignInState, UserState};
use roster_core::{DomainName, MemberState, Role, Source};
use std::collections::BTreeMap;

const ORGS: [&str; 3] = ["acme", "beta", "gamma"];
const TEAMS: [&str; 4] = ["eng", "ops", "everyone", "a:b"];
const RULES: [&str; 9] = ["J2", "J3", "J4", "J5", "J6", "J8", "G2", "T1", "A5"];

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Member), Just(Role::Editor), Just(Role::Owner)]
}

fn org_state() -> impl Strategy<Value = (Option<i64>, i64, Vec<usize>)> {
    (
        prop::option::of(0i64..4),
        0i64..4,
        prop::collection::vec(0..TEAMS.len(), 0..3),
    )
}

fn membership() -> impl Strategy<Value = (usize, Role, bool, Vec<usize>)> {
    (
        0..ORGS.len(),
        role(),
        any::<bool>(),
        prop::collection::vec(0..TEAMS.len(), 0..3),
    )
}

prop_compose! {
    fn sign_in_state()(
        jit in any::<bool>(),
        connected in 1usize..=3,
        orgs in prop::collection::vec(org_state(), 3),
        default_team in prop::option::of(0..TEAMS.len()),
        user in prop::option::of((prop::collection::vec(membership(), 0..3), any::<bool>())),
        invitations in prop::collection::vec((0..ORGS.len(), prop::option::of(0..TEAMS.len()), role()), 0..2),
    ) -> SignInState {
        let organizations: Vec<OrgState> = orgs.into_iter().enumerate().take(connected).map(|(i, (limit, used, teams))| OrgState {
            id: format!("o{i}"),
            name: ORGS[i].into(),
            seat_limit: limit,
            seats_used: used,
            teams: teams.into_iter().map(|t| team(TEAMS[t])).collect(),
        }).collect();
        let mut seen = Vec::new();
        let user = user.map(|(ms, same_name)| UserState {
            id: "u1".into(),
            linked: false,
            full_name: if same_name { "Jo".into() } else { "Someone Else".into() },
            memberships: ms.into_iter().filter(|(o, ..)| {
                let fresh = *o < connected && !seen.contains(o);
                seen.push(*o);
                fresh
            }).map(|(o, role, active, teams)| MembershipState {
                organization_id: format!("o{o}"),
                role,
                state: if active { MemberState::Active } else { MemberState::Deactivated },
                source: Source::Scim,
                teams: teams.into_iter().map(|t| team(TEAMS[t])).collect(),
            }).collect(),
        });
        let invitations = invitations.into_iter().enumerate().filter(|(_, (o, ..))| *o < connected).map(|(i, (o, team, role))| InvitationState {
            id: format!("i{i}"),
            organization_id: format!("o{o}"),
            team: team.map(|t| self::team(TEAMS[t])),
            role,
        }).collect();
        SignInState {
            connection: ConnectionState {
                id: "c1".into(),
                name: "okta".into(),
                company_id: "co".into(),
                jit,
                domains: vec![DomainName::parse("example.com").unwrap()],
                organizations,
                default_organization_id: "o0".into(),
                default_team: default_team.map(|t| team(TEAMS[t])),
                default_session_minutes: None,
                attribute_names: AttributeNames::default(),
            },
            user,
            invitations,
        }
    }
}

fn group() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..ORGS.len(), 0..TEAMS.len()).prop_map(|(o, t)| format!("{}:{}", ORGS[o].to_uppercase(), TEAMS[t])),
        Just("plain-group".to_string()),
        Just("nowhere:team".to_string()),
        Just(":".to_string()),
    ]
}

prop_compose! {
    fn attributes()(
        groups in prop::collection::vec(group(), 0..4),
        org in prop::option::of(prop_oneof![Just("acme"), Just("BETA"), Just("unknown")]),
        team in prop::option::of(0..TEAMS.len()),
        role in prop::option::of(prop_oneof![Just("owner"), Just("editor"), Just("root")]),
        minutes in prop::option::of(prop_oneof![Just("60"), Just("0"), Just("x")]),
        email in prop_oneof![Just("jo@example.com"), Just("jo@eu.example.com"), Just("jo@other.test")],
    ) -> RawAttributes {
        let mut values = BTreeMap::new();
        values.insert("name".to_string(), vec!["Jo".to_string()]);
        if !groups.is_empty() { values.insert("groups".to_string(), groups); }
        if let Some(o) = org { values.insert("dockerOrg".into(), vec![o.into()]); }
        if let Some(t) = team { values.insert("dockerTeam".into(), vec![TEAMS[t].into()]); }
        if let Some(r) = role { values.insert("dockerRole".into(), vec![r.into()]); }
        if let Some(m) = minutes { values.insert("dockerSessionMinutes".into(), vec![m.into()]); }
        RawAttributes { values, name_id: Some(email.into()) }
    }
}

fn team(name: &str) -> roster_core::Name {
    roster_core::Name::parse_team(name).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn plans_are_idempotent_additive_and_explained(mut state in sign_in_state(), raw in attributes()) {
        let facts = read_facts(&raw, roster_core::Protocol::Saml, &AttributeNames::default()).unwrap();
        let before = state.clone();
        let outcome = plan_sign_in(&state, &facts);
        // A denied sign-in has no changes by construction (J10).
        let plan = match &outcome {
            SignIn::Allowed(a) => Some(&a.plan),
            SignIn::Denied(_) => None,
        };
        for step in plan.map(|p| serde_json::to_value(p.steps()).unwrap()).iter().flat_map(|v| v.as_array().unwrap().clone()) {
            let rule = step["rule"].as_str().unwrap().to_string();
            prop_assert!(RULES.contains(&rule.as_str()), "unknown rule {}", rule);
            prop_assert!(!step["because"].as_str().unwrap().is_empty());
        }

        // J7/S6: someone deprovisioned (every membership deactivated, no invitation) is
        // never let in.
        let conn_orgs: Vec<&str> = before.connection.organizations.iter().map(|o| o.id.as_str()).collect();
        if let Some(u) = &before.user {
            let mine: Vec<_> = u.memberships.iter().filter(|m| conn_orgs.contains(&m.organization_id.as_str())).collect();
            if !mine.is_empty() && mine.iter().all(|m| m.state == MemberState::Deactivated) && before.invitations.is_empty() {
                prop_assert!(plan.is_none(), "a deprovisioned user got in: {:?}", plan);
            }
        }

        if let Some(p) = plan {
            state.apply(p);
        }

        // Nothing removed, no role or state changed.
        if before.user.is_some() {
            prop_assert!(state.user.is_some());
        }
        if let (Some(b), Some(a)) = (&before.user, &state.user) {
            for m in &b.memberships {
                let now = a.memberships.iter().find(|x| x.organization_id == m.organization_id);
                prop_assert!(now.is_some(), "membership removed");
                let now = now.unwrap();
                prop_assert_eq!(now.role, m.role);
                prop_assert_eq!(now.state, m.state);
                for t in &m.teams {
                    prop_assert!(now.teams.contains(t), "team {} removed", t);
                }
            }
        }

        // The same sign-in again changes nothing.
        match (plan_sign_in(&state, &facts), plan) {
            (SignIn::Allowed(again), Some(_)) => {
                prop_assert!(again.plan.steps().is_empty(), "second plan: {:?}", again.plan.steps());
            }
            (SignIn::Denied(_), None) => {}
            (again, _) => prop_assert!(false, "allowed, then not (or the reverse): {:?}", again),
        }
    }
}
