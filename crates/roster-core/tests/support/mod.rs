//! Fixtures for the sign-in planner's tests: a connection, members and facts, and the
//! planner's answer flattened for assertions.

use roster_core::plan::{Denial, Plan, SessionPlan, SignIn};
use roster_core::signin::{read_facts, AttributeNames, RawAttributes, SignInFacts, Warning};
use roster_core::state::{ConnectionState, MembershipState, OrgState, SignInState, UserState};
use roster_core::{DomainName, MemberState, Name, Protocol, Role, Source};
use serde::Deserialize;

pub const EMAIL: &str = "jo@example.com";

pub fn org(id: &str, name: &str, teams: &[&str]) -> OrgState {
    OrgState {
        id: id.into(),
        name: name.into(),
        seat_limit: None,
        seats_used: 0,
        teams: names(teams),
    }
}

pub fn names(teams: &[&str]) -> Vec<Name> {
    teams.iter().map(|t| Name::parse_team(t).unwrap()).collect()
}

pub fn connection() -> ConnectionState {
    ConnectionState {
        id: "c1".into(),
        name: "okta".into(),
        company_id: "co".into(),
        jit: true,
        domains: vec![DomainName::parse("example.com").unwrap()],
        organizations: vec![org("o1", "acme", &["everyone"]), org("o2", "beta", &[])],
        default_organization_id: "o1".into(),
        default_team: Some(Name::parse_team("everyone").unwrap()),
        default_session_minutes: None,
        attribute_names: AttributeNames::default(),
    }
}

pub fn member(org: &str, role: Role, state: MemberState, source: Source, teams: &[&str]) -> MembershipState {
    MembershipState {
        organization_id: org.into(),
        role,
        state,
        source,
        teams: names(teams),
    }
}

pub fn user(full_name: &str, memberships: Vec<MembershipState>) -> Option<UserState> {
    Some(UserState {
        id: "u1".into(),
        full_name: full_name.into(),
        memberships,
        linked: false,
    })
}

pub fn state(connection: ConnectionState, user: Option<UserState>) -> SignInState {
    SignInState {
        connection,
        user,
        invitations: Vec::new(),
    }
}

pub fn facts_for(email: &str, attrs: &[(&str, &[&str])]) -> SignInFacts {
    let raw = RawAttributes {
        values: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        name_id: Some(email.into()),
    };
    read_facts(&raw, Protocol::Saml, &AttributeNames::default()).unwrap()
}

pub fn facts(attrs: &[(&str, &[&str])]) -> SignInFacts {
    facts_for(EMAIL, attrs)
}

/// One step as the preview lists it.
#[derive(Debug, Deserialize)]
pub struct Step {
    pub kind: String,
    pub organization: Option<String>,
    pub team: Option<String>,
    pub role: Option<Role>,
    pub rule: String,
    pub because: String,
}

/// The planner's answer, flattened for assertions: allowed or denied, and the steps as
/// the preview lists them.
#[derive(Debug)]
pub struct Planned {
    pub allowed: bool,
    pub denial: Option<Denial>,
    pub user_exists: bool,
    pub full_name: String,
    pub changes: Vec<Step>,
    pub warnings: Vec<Warning>,
    pub session: Option<SessionPlan>,
    pub plan: Option<Plan>,
}

impl Planned {
    pub fn plan(&self) -> &Plan {
        self.plan.as_ref().expect("an allowed plan")
    }
}

pub fn plan_sign_in(s: &SignInState, f: &SignInFacts) -> Planned {
    match roster_core::plan::plan_sign_in(s, f) {
        SignIn::Allowed(a) => Planned {
            allowed: true,
            denial: None,
            user_exists: a.plan.account.user_id().is_some(),
            full_name: a.plan.subject.full_name.clone(),
            changes: serde_json::from_value(serde_json::to_value(a.plan.steps()).unwrap()).unwrap(),
            warnings: a.plan.warnings.clone(),
            session: Some(a.session),
            plan: Some(a.plan),
        },
        SignIn::Denied(d) => Planned {
            allowed: false,
            denial: Some(d.denial),
            user_exists: d.user_exists,
            full_name: d.subject.full_name,
            changes: Vec::new(),
            warnings: d.warnings,
            session: None,
            plan: None,
        },
    }
}

/// One line per change: `kind org/team role [rule]`.
pub fn changes(p: &Planned) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let mut s = c.kind.clone();
            if let Some(o) = &c.organization {
                s.push_str(&format!(" {o}"));
                if let Some(t) = &c.team {
                    s.push_str(&format!("/{t}"));
                }
            }
            if let Some(r) = c.role {
                s.push_str(&format!(" {}", r.as_str()));
            }
            s.push_str(&format!(" [{}]", c.rule));
            s
        })
        .collect()
}

pub fn warnings(p: &Planned) -> Vec<String> {
    p.warnings
        .iter()
        .map(|w| format!("{}: {}", w.rule, w.message))
        .collect()
}

pub fn assert_denied(p: &Planned, code: &str, message: &str) {
    assert!(!p.allowed);
    let d = p.denial.as_ref().expect("a denial");
    assert_eq!(d.code, code);
    assert_eq!(d.render("T-1"), message);
    assert!(
        p.changes.is_empty(),
        "a denied sign-in changes nothing: {:?}",
        changes(p)
    );
    assert!(p.session.is_none());
}
