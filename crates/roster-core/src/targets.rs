//! J4: which organizations and teams a sign-in targets — mapped groups (G1–G3), then
//! `dockerOrg`/`dockerTeam`, then the connection's defaults for a newcomer.

use crate::model::Model;
use crate::signin::{split_group, SignInFacts, Warning};
use crate::state::{OrgState, SignInState};

pub(crate) struct Target<'s> {
    pub(crate) org: &'s OrgState,
    pub(crate) team: Option<crate::Name>,
    pub(crate) rule: &'static str,
    pub(crate) because: String,
}

/// J4: the first rule that yields targets.
pub(crate) fn targets<'s>(
    state: &'s SignInState,
    facts: &SignInFacts,
    model: &Model<'_>,
    warnings: &mut Vec<Warning>,
) -> Vec<Target<'s>> {
    let connection = &state.connection;

    // J4.1 / G1–G3: mapped groups.
    let mut mapped = Vec::new();
    for group in &facts.groups {
        let Some((org_name, team)) = split_group(group) else {
            warnings.push(Warning::new(
                "G3",
                format!("group '{group}' is ignored: it is not organization:team"),
            ));
            continue;
        };
        match connection.org_by_name(org_name) {
            Some(org) => match crate::Name::parse_team(team) {
                Ok(t) => mapped.push(Target {
                    org,
                    team: Some(t),
                    rule: "G2",
                    because: format!("group '{group}'"),
                }),
                Err(e) => warnings.push(Warning::new("G3", format!("group '{group}' is ignored: {}", e.message))),
            },
            None => warnings.push(Warning::new(
                "G3",
                format!("group '{group}' is ignored: '{org_name}' is not an organization of this connection"),
            )),
        }
    }
    if !mapped.is_empty() {
        return mapped;
    }

    // J4.2: dockerOrg / dockerTeam.
    let org_attr = facts
        .organization
        .as_ref()
        .and_then(|o| connection.org_by_name(&o.value).map(|org| (org, o)));
    if org_attr.is_some() || facts.team.is_some() {
        let Some(org) = org_attr
            .map(|(o, _)| o)
            .or_else(|| connection.org(&connection.default_organization_id))
        else {
            return Vec::new();
        };
        let mut because = Vec::new();
        if let Some((_, o)) = org_attr {
            because.push(format!("{} = {}", o.attribute, o.value));
        }
        if let Some(t) = &facts.team {
            because.push(format!("{} = {}", t.attribute, t.value.as_str()));
        }
        return vec![Target {
            org,
            team: facts.team.as_ref().map(|t| t.value.clone()),
            rule: "J4",
            because: because.join(", "),
        }];
    }

    // J4.3: not yet a member of any of the connection's organizations. A deactivated
    // membership counts: JIT must not let a deprovisioned person back in through the
    // default organization (J7, S6).
    let any_membership = model
        .memberships
        .iter()
        .any(|m| connection.org(&m.organization_id).is_some());
    if !any_membership {
        if let Some(org) = connection.org(&connection.default_organization_id) {
            return vec![Target {
                org,
                team: connection.default_team.clone(),
                rule: "J4",
                because: "not yet a member of the connection's organizations: its default organization and team".into(),
            }];
        }
    }
    // J4.4: nothing new.
    Vec::new()
}
