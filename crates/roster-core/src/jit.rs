//! The sign-in planner (spec §3 J1–J10, §4 G1–G3, §6 T1): from a connection, the facts
//! of one sign-in and the directory state they touch, a [`SignIn`] — denied, or allowed
//! with the ordered changes that provisioning makes and the session it starts.

use crate::model::{seats_message, Model};
use crate::plan::{
    Account, Cause, Change, Denial, Denied, OrgRef, Plan, SessionPlan, SignIn, SignInPlan, Subject,
    DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES,
};
use crate::signin::{SignInFacts, Warning};
use crate::state::{MembershipState, SignInState};
use crate::targets::targets;
use crate::{MemberState, Role, Source};

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

fn seats_denial(org: &str) -> Denial {
    Denial::new("seat_limit_reached", seats_message(org), false)
}

fn deactivated(org: &str) -> Denial {
    Denial::new(
        "membership_deactivated",
        format!("Your access to organization '{org}' has been deactivated. Contact your administrator."),
        true,
    )
}

/// Plans one SSO sign-in. `facts` has already passed A1–A3; A4's domain check, A5's
/// organization check and every J/G/T rule happen here.
pub fn plan_sign_in(state: &SignInState, facts: &SignInFacts) -> SignIn {
    let connection = &state.connection;
    let email = &facts.email.value;
    let subject = Subject {
        email: email.clone(),
        full_name: facts.full_name.value.clone(),
        given_name: facts.given_name.clone(),
        family_name: facts.family_name.clone(),
    };
    let mut warnings = facts.warnings.clone();
    // J2 (deviation) and J10: a denied sign-in changes nothing.
    let deny = |denial: Denial, warnings: Vec<Warning>| {
        SignIn::Denied(Denied {
            denial,
            subject: subject.clone(),
            user_exists: state.user.is_some(),
            warnings,
        })
    };

    // A5: a dockerOrg that is not one of the connection's organizations is ignored, with
    // a warning whether or not J4 gets to read it.
    if let Some(o) = facts
        .organization
        .as_ref()
        .filter(|o| connection.org_by_name(&o.value).is_none())
    {
        warnings.push(Warning::new(
            "A5",
            format!(
                "'{}' value '{}' is not an organization of this connection; it is ignored",
                o.attribute, o.value
            ),
        ));
    }

    // A4: the email's domain must be one the connection serves (subdomains included).
    if !crate::scim_plan::domain_verified(state, email) {
        return deny(domain_not_verified(email.domain()), warnings);
    }

    let mut model = Model::new(state);
    let mut changes = Vec::new();

    // J2 / J8: the account.
    let account = match &state.user {
        None if connection.jit => Account::Create(Cause::new("J2", format!("no account for {email}; JIT is on"))),
        None if !state.invitations.is_empty() => {
            Account::Create(Cause::new("J8", format!("pending invitation for {email}")))
        }
        None => return deny(not_assigned(email.as_str()), warnings),
        Some(user) if connection.jit && user.full_name != facts.full_name.value => Account::Rename {
            user_id: user.id.clone(),
            cause: Cause::new(
                "J5",
                format!(
                    "{} = '{}' (was '{}')",
                    facts.full_name.attribute, facts.full_name.value, user.full_name
                ),
            ),
        },
        Some(user) => Account::Existing {
            user_id: user.id.clone(),
        },
    };

    // J3: pending invitations to the connection's organizations are accepted.
    for inv in &state.invitations {
        let Some(org) = connection.org(&inv.organization_id) else {
            continue;
        };
        match model.membership(&org.id).map(|m| m.state) {
            Some(MemberState::Deactivated) => {
                warnings.push(Warning::new(
                    "J7",
                    format!(
                        "the invitation to '{}' is not accepted: the membership is deactivated",
                        org.name
                    ),
                ));
                continue;
            }
            Some(MemberState::Active) => changes.push(Change::AcceptInvitation {
                org: OrgRef::from(org),
                invitation_id: inv.id.clone(),
                cause: Cause::new("J3", "already a member"),
            }),
            None => {
                // J6: dockerRole first, then the invitation's role. The invitation holds a
                // seat already, so accepting it needs no new one.
                let (role, why) = match &facts.role {
                    Some(r) => (r.value, format!("{} = {}", r.attribute, r.value.as_str())),
                    None => (inv.role, format!("the invitation's role {}", inv.role.as_str())),
                };
                changes.push(Change::AcceptInvitation {
                    org: OrgRef::from(org),
                    invitation_id: inv.id.clone(),
                    cause: Cause::new("J3", format!("pending invitation to '{}'", org.name)),
                });
                changes.push(Change::AddMembership {
                    org: OrgRef::from(org),
                    role,
                    state: MemberState::Active,
                    source: Source::Invite,
                    cause: Cause::new("J3", format!("invitation accepted; role from {why} (J6)")),
                });
                model.joined(
                    org,
                    MembershipState::new(&org.id, role, MemberState::Active, Source::Invite),
                );
            }
        }
        if let Some(team) = &inv.team {
            let cause = Cause::new("J3", format!("the invitation's team '{team}'"));
            model.add_team(&mut changes, org, team, Source::Invite, cause);
        }
    }

    // J4: target organizations and teams — only when JIT runs (J1).
    let mut seat_refusal: Option<String> = None;
    let mut deactivated_in: Option<String> = None;
    // J7/S6: someone whose every membership in the connection's organizations is
    // deactivated was deprovisioned; JIT gives them nothing new anywhere.
    let deprovisioned = !model.any_active()
        && model
            .memberships
            .iter()
            .any(|m| connection.org(&m.organization_id).is_some());
    if deprovisioned {
        warnings.push(Warning::new(
            "J7",
            "every membership of this connection's organizations is deactivated; JIT adds nothing",
        ));
    }
    if connection.jit && !deprovisioned {
        for target in targets(state, facts, &model, &mut warnings) {
            let org = target.org;
            match model.membership(&org.id).map(|m| m.state) {
                Some(MemberState::Deactivated) => {
                    // J7: never reactivated by JIT.
                    warnings.push(Warning::new(
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
                        warnings.push(Warning::new("J9", seats_message(&org.name)));
                        seat_refusal.get_or_insert_with(|| org.name.clone());
                        continue;
                    }
                    // J6: the role is set only now, when JIT first adds the user.
                    let (role, why) = match &facts.role {
                        Some(r) => (r.value, format!("{} = {}", r.attribute, r.value.as_str())),
                        None => (Role::Member, "default role member".to_string()),
                    };
                    changes.push(Change::AddMembership {
                        org: OrgRef::from(org),
                        role,
                        state: MemberState::Active,
                        source: Source::Jit,
                        cause: Cause::new(target.rule, format!("{}; role from {why} (J6)", target.because)),
                    });
                    model.joined(
                        org,
                        MembershipState::new(&org.id, role, MemberState::Active, Source::Jit),
                    );
                }
            }
            if let Some(team) = &target.team {
                let cause = Cause::new(target.rule, target.because.clone());
                model.add_team(&mut changes, org, team, Source::Jit, cause);
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
        return deny(denial, warnings);
    }

    SignIn::Allowed(SignInPlan {
        session: session(facts, connection.default_session_minutes),
        plan: Plan {
            subject,
            account,
            changes,
            warnings,
        },
    })
}

/// T1: `dockerSessionMinutes`, else the connection's default, else 24 hours; never
/// longer than 90 days.
fn session(facts: &SignInFacts, connection_default: Option<i64>) -> SessionPlan {
    let capped = |minutes: i64, because: String| {
        if minutes > MAX_SESSION_MINUTES {
            SessionPlan {
                minutes: MAX_SESSION_MINUTES,
                rule: "T1",
                because: format!("{because}, cut to the longest session, 90 days"),
            }
        } else {
            SessionPlan {
                minutes,
                rule: "T1",
                because,
            }
        }
    };
    match (&facts.session_minutes, connection_default) {
        (Some(m), _) => capped(i64::from(m.value), format!("{} = {}", m.attribute, m.value)),
        (None, Some(d)) => capped(d, "the connection's default session length".into()),
        (None, None) => SessionPlan {
            minutes: DEFAULT_SESSION_MINUTES,
            rule: "T1",
            because: "browser sessions last 24 hours".into(),
        },
    }
}

fn deactivated_org(model: &Model<'_>) -> Option<String> {
    model
        .memberships
        .iter()
        .find(|m| m.state == MemberState::Deactivated)
        .and_then(|m| model.state.connection.org(&m.organization_id))
        .map(|o| o.name.clone())
}
