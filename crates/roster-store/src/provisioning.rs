//! Provisioning's two store steps: [`load`] reads the [`SignInState`] a plan depends on,
//! [`apply_with`] applies the [`Plan`] made from it — both inside the caller's
//! transaction, so that the plan is decided on the state it changes (J10). The planning
//! between them is roster-core's; this module decides nothing. One audit event per
//! change, carrying the change's rule and reason.

use crate::audit::{self, NewEvent};
use crate::connections;
use crate::db::{self, Conn, FromRow};
use crate::directory::deprovision::Receipt;
use crate::directory::organizations::{self, Organization};
use crate::directory::users::{self, Profile};
use crate::directory::{members, teams};
use crate::{Ctx, StoreError};
use roster_core::plan::{Account, Change, Plan};
use roster_core::state::{ConnectionState, InvitationState, MembershipState, OrgState, SignInState, UserState};
use roster_core::{DomainName, Email, MemberState, Name, Role, Source};
use serde_json::json;
use std::collections::HashMap;

/// A stored team name: valid when it was written, else our data is corrupt.
fn team_name(raw: &str) -> Result<Name, StoreError> {
    Name::parse_team(raw).map_err(crate::error::corrupt)
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Loads what planning a sign-in of `email` through `connection` reads: the connection
/// and its organizations (seats, and the teams named in `team_names`), the account and
/// its memberships there, and its pending invitations there.
pub async fn load_state(
    conn: &mut Conn,
    connection: &connections::Connection,
    email: &Email,
    team_names: &[String],
    now: i64,
) -> Result<SignInState, StoreError> {
    Ok(load(conn, connection, email, team_names, now).await?.0)
}

/// The rows behind a [`SignInState`], as [`load`] read them: applying the plan made from
/// it uses them rather than reading them again ([`apply_with`]).
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub account: Option<users::User>,
    pub organizations: Vec<Organization>,
    /// The teams of those organizations that the state names.
    pub teams: Vec<teams::Team>,
    /// The SCIM User a SCIM plan links or unlinks.
    pub scim_user: Option<ScimLink>,
}

/// The SCIM User resource whose account a plan links or unlinks (S4–S6).
#[derive(Debug, Clone)]
pub struct ScimLink {
    pub id: String,
    /// A SCIM create writes the resource's row after applying, with the account it
    /// links: the link is recorded here but not written (one insert instead of an
    /// insert and an update).
    pub row_written: bool,
}

/// [`load_state`], with the rows it read.
pub async fn load(
    conn: &mut Conn,
    connection: &connections::Connection,
    email: &Email,
    team_names: &[String],
    now: i64,
) -> Result<(SignInState, Known), StoreError> {
    let cid = connection.id.as_str();
    let backend = crate::backend_of(conn);
    // Each organization of the connection in one row, with its seats, the pending
    // invitations of this email there, and those of its teams this sign-in can name
    // (from the attributes, the default team, or an invitation): never a whole
    // organization's teams.
    let mut names: Vec<String> = team_names.iter().map(|t| t.to_lowercase()).collect();
    names.extend(connection.default_team.iter().map(|t| t.to_lowercase()));
    names.sort();
    names.dedup();
    const OPEN_INVITATION: &str = "i.organization_id = o.id AND i.email_key = $3 AND i.accepted_at IS NULL \
                                   AND i.revoked_at IS NULL AND i.expires_at > $2";
    // The teams named here, by the (organization, name) index. Teams of open
    // invitations come with the invitations. Neither ever walks an organization's teams.
    let named = if names.is_empty() {
        "FALSE".to_string()
    } else {
        format!("t.name_key IN ({})", placeholders(4, names.len()))
    };
    let teams = crate::json_rows(
        backend,
        "t.id, t.name, t.created_at",
        &format!("FROM teams t WHERE t.organization_id = o.id AND {named}"),
    );
    let invitations = crate::json_rows(
        backend,
        "i.id, t.name, i.role, i.created_at, t.id, t.created_at",
        &format!("FROM invitations i LEFT JOIN teams t ON t.id = i.team_id WHERE {OPEN_INVITATION}"),
    );
    let sql = format!(
        // Seats are counted only for organizations with a limit: without one the count
        // would cost O(members) on every sign-in for nothing.
        "SELECT o.id, o.name, o.company_id, c.name AS company, o.created_at, o.updated_at, o.seat_limit, \
         CASE WHEN o.seat_limit IS NULL THEN 0 ELSE \
         (SELECT COUNT(*) FROM memberships m WHERE m.organization_id = o.id AND m.state = 'active') + \
         (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = o.id AND i.accepted_at IS NULL \
          AND i.revoked_at IS NULL AND i.expires_at > $2) END AS seats_used, {teams} AS teams, \
         {invitations} AS invitations \
         FROM connection_organizations co JOIN organizations o ON o.id = co.organization_id \
         JOIN companies c ON c.id = o.company_id WHERE co.connection_id = $1 ORDER BY o.name_key"
    );
    let mut q = db::query(&sql).bind(cid).bind(now).bind(email.key());
    for n in &names {
        q = q.bind(n);
    }
    let org_rows = q.fetch_all(&mut *conn).await?;
    let mut known = Known::default();
    let mut organizations = Vec::with_capacity(org_rows.len());
    // (created_at, id, state): ordered oldest first across organizations.
    let mut open: Vec<(i64, String, InvitationState)> = Vec::new();
    for r in &org_rows {
        let org = Organization::from_row(r)?;
        let mut named: Vec<(String, String, i64)> = crate::from_json_list(r, "teams")?;
        type InvitationRow = (String, Option<String>, String, i64, Option<String>, Option<i64>);
        let rows: Vec<InvitationRow> = crate::from_json_list(r, "invitations")?;
        for (invitation, team, role, created_at, team_id, team_created_at) in rows {
            if let (Some(name), Some(id), Some(at)) = (&team, team_id, team_created_at) {
                if !named.iter().any(|(t, _, _)| *t == id) {
                    named.push((id, name.clone(), at));
                }
            }
            let state = InvitationState {
                id: invitation.clone(),
                organization_id: org.id.clone(),
                team: team.as_deref().map(team_name).transpose()?,
                role: Role::parse(&role).map_err(crate::error::corrupt)?,
            };
            open.push((created_at, invitation, state));
        }
        // By name, as the (organization, name) index gives them.
        named.sort_by_cached_key(|(_, name, _)| name.to_lowercase());
        organizations.push(OrgState {
            id: org.id.clone(),
            name: org.name.clone(),
            seat_limit: org.seat_limit,
            seats_used: r.try_get("seats_used")?,
            teams: named
                .iter()
                .map(|(_, name, _)| team_name(name))
                .collect::<Result<_, _>>()?,
        });
        known
            .teams
            .extend(named.into_iter().map(|(team_id, name, created_at)| teams::Team {
                id: team_id,
                organization_id: org.id.clone(),
                name,
                created_at,
                member_count: 0,
            }));
        known.organizations.push(org);
    }
    open.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let invitations: Vec<InvitationState> = open.into_iter().map(|(_, _, i)| i).collect();

    // The account, whether a SCIM User of this connection links it, and its memberships
    // in the connection's organizations, each with its team names: one query, a row per
    // membership (one row with no membership when it has none).
    let teams = crate::json_list(
        backend,
        "t.name",
        "FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id = m.user_id AND t.organization_id = m.organization_id",
    );
    let rows = db::query(&format!(
        "SELECT u.id, u.email, u.username, u.full_name, u.given_name, u.family_name, u.created_at, u.updated_at, \
         EXISTS (SELECT 1 FROM scim_users s WHERE s.connection_id = $1 AND s.user_id = u.id) AS linked, \
         m.organization_id, m.role, m.state, m.source, {teams} AS teams FROM users u \
         LEFT JOIN memberships m ON m.user_id = u.id AND EXISTS (SELECT 1 FROM connection_organizations co \
         WHERE co.connection_id = $1 AND co.organization_id = m.organization_id) \
         WHERE u.email_key = $2"
    ))
    .bind(cid)
    .bind(email.key())
    .fetch_all(&mut *conn)
    .await?;
    let user = match rows.first() {
        None => None,
        Some(a) => {
            let mut memberships = Vec::with_capacity(rows.len());
            for r in &rows {
                let Some(organization_id) = r.try_get::<Option<String>, _>("organization_id")? else {
                    continue;
                };
                memberships.push(MembershipState {
                    organization_id,
                    role: Role::parse(&r.try_get::<String, _>("role")?).map_err(crate::error::corrupt)?,
                    state: MemberState::parse(&r.try_get::<String, _>("state")?).map_err(crate::error::corrupt)?,
                    source: Source::parse(&r.try_get::<String, _>("source")?).map_err(crate::error::corrupt)?,
                    teams: crate::from_json_list::<Vec<String>>(r, "teams")?
                        .iter()
                        .map(|t| team_name(t))
                        .collect::<Result<_, _>>()?,
                });
            }
            let account = users::User::from_row(a)?;
            let state = UserState {
                id: account.id.clone(),
                full_name: account.full_name.clone(),
                memberships,
                linked: a.try_get::<bool, _>("linked")?,
            };
            known.account = Some(account);
            Some(state)
        }
    };

    let state = SignInState {
        connection: ConnectionState {
            id: connection.id.clone(),
            name: connection.name.clone(),
            company_id: connection.company_id.clone(),
            jit: connection.jit,
            domains: connection
                .domains
                .iter()
                .filter_map(|d| DomainName::parse(d).ok())
                .collect(),
            organizations,
            default_organization_id: connection.default_organization_id.clone(),
            default_team: connection.default_team.as_deref().map(team_name).transpose()?,
            default_session_minutes: connection.default_session_minutes,
            attribute_names: connection.attribute_names.clone(),
        },
        user,
        invitations,
    };
    Ok((state, known))
}

/// What applying a plan did to the account.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The account's id (created or existing).
    pub user_id: String,
    /// The account's row, when applying made or read it (so callers need not read it
    /// again).
    pub user: Option<users::User>,
}

fn profile(plan: &Plan) -> Profile {
    Profile {
        full_name: Some(plan.subject.full_name.clone()),
        given_name: plan.subject.given_name.clone(),
        family_name: plan.subject.family_name.clone(),
    }
}

/// Applies a plan made from what [`load`] read in this transaction, using the rows it
/// read instead of reading them again.
pub async fn apply_with(
    conn: &mut Conn,
    ctx: &Ctx,
    plan: &Plan,
    connection: &connections::Connection,
    known: Known,
) -> Result<Applied, StoreError> {
    let mut account = known.account;
    let user_id = match &plan.account {
        Account::Create(cause) => {
            // The plan was made in this transaction and found no account.
            let ctx = ctx.because(cause.rule, cause.because.clone());
            let (u, _) = users::create_new(conn, &ctx, &plan.subject.email, &profile(plan)).await?;
            let id = u.id.clone();
            account = Some(u);
            id
        }
        Account::Existing { user_id } => user_id.clone(),
        Account::Rename { user_id, cause } => {
            let before = match account.take() {
                Some(u) if u.id == *user_id => u,
                _ => users::find(conn, user_id).await?,
            };
            let ctx = ctx.because(cause.rule, cause.because.clone());
            account = Some(users::update_profile_from(conn, &ctx, before, &profile(plan)).await?);
            user_id.clone()
        }
    };
    let mut target = Target {
        connection_id: &connection.id,
        company_id: &connection.company_id,
        user_id: &user_id,
        email: Some(plan.subject.email.as_str()),
        account: account.filter(|a| a.id == user_id),
        organizations: known.organizations.into_iter().map(|o| (o.id.clone(), o)).collect(),
        teams: known.teams,
        member_of: Vec::new(),
        scim_user: known.scim_user,
    };
    apply_changes(conn, ctx, &mut target, &plan.changes).await?;
    Ok(Applied {
        user_id: user_id.clone(),
        user: target.account,
    })
}

/// The account a list of changes applies to, and the rows applying has read or made,
/// so that none is read twice.
pub struct Target<'a> {
    pub connection_id: &'a str,
    pub company_id: &'a str,
    pub user_id: &'a str,
    /// The account's email, for the audit events that name it.
    pub email: Option<&'a str>,
    pub account: Option<users::User>,
    pub organizations: HashMap<String, Organization>,
    pub teams: Vec<teams::Team>,
    /// Organizations whose membership of the account is known to exist in this
    /// transaction (made by these changes, or read by the caller).
    pub member_of: Vec<String>,
    pub scim_user: Option<ScimLink>,
}

impl Target<'_> {
    async fn organization(&mut self, conn: &mut Conn, id: &str) -> Result<Organization, StoreError> {
        if let Some(o) = self.organizations.get(id) {
            return Ok(o.clone());
        }
        let o = organizations::find(conn, id).await?;
        self.organizations.insert(id.to_string(), o.clone());
        Ok(o)
    }

    /// The receipt being gathered, begun under the context of the first change that
    /// deprovisions.
    fn receipt<'r>(&self, receipt: &'r mut Option<(Receipt, Ctx)>, ctx: &Ctx) -> &'r mut Receipt {
        &mut receipt
            .get_or_insert_with(|| {
                (
                    Receipt::new(self.company_id, self.user_id, Some(self.connection_id)),
                    ctx.clone(),
                )
            })
            .0
    }

    async fn account(&mut self, conn: &mut Conn) -> Result<users::User, StoreError> {
        match self.account.take() {
            Some(u) if u.id == self.user_id => Ok(u),
            _ => users::find(conn, self.user_id).await,
        }
    }

    async fn team(&mut self, conn: &mut Conn, org: &Organization, name: &Name) -> Result<teams::Team, StoreError> {
        let read = self
            .teams
            .iter()
            .find(|t| t.organization_id == org.id && t.name.to_lowercase() == name.key())
            .cloned();
        match read {
            Some(t) => Ok(t),
            None => teams::find(conn, org, name.as_str()).await,
        }
    }
}

/// Applies `changes` to `target`'s account, in order, each with its audit event.
pub async fn apply_changes(
    conn: &mut Conn,
    ctx: &Ctx,
    target: &mut Target<'_>,
    changes: &[Change],
) -> Result<(), StoreError> {
    let uid = target.user_id;
    // Deactivations and ended sessions gather into one deprovisioning receipt.
    let mut receipt: Option<(Receipt, Ctx)> = None;
    for change in changes {
        let cause = change.cause();
        let ctx = ctx.because(cause.rule, cause.because.clone());
        match change {
            Change::AcceptInvitation { org, invitation_id, .. } => {
                let org = target.organization(conn, &org.id).await?;
                let accepted = db::query(
                    "UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
                )
                .bind(ctx.now)
                .bind(invitation_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if accepted == 0 {
                    return Err(StoreError::conflict(
                        "invitation_closed",
                        "the invitation was accepted or revoked meanwhile",
                    ));
                }
                audit::record(
                    conn,
                    &ctx,
                    NewEvent {
                        action: "invitation.accept",
                        object_kind: "invitation",
                        object_id: invitation_id,
                        company_id: Some(&org.company_id),
                        organization_id: Some(&org.id),
                        connection_id: Some(target.connection_id),
                        user_id: Some(uid),
                        after: target.email.map(|e| json!({ "email": e })),
                        ..Default::default()
                    },
                )
                .await?;
            }
            Change::AddMembership {
                org,
                role,
                state,
                source,
                ..
            } => {
                let org = target.organization(conn, &org.id).await?;
                let account = target.account(conn).await?;
                target.member_of.push(org.id.clone());
                members::insert(conn, &ctx, &org, &account, *role, *state, *source).await?;
                target.account = Some(account);
            }
            Change::CreateTeam { org, team, .. } => {
                let org = target.organization(conn, &org.id).await?;
                // A concurrent sign-in may have created it since the plan was made.
                let team = teams::ensure(conn, &ctx, &org, team).await?;
                target.teams.push(team);
            }
            Change::AddTeamMembership { org, team, source, .. } => {
                let org = target.organization(conn, &org.id).await?;
                let team = target.team(conn, &org, team).await?;
                if target.member_of.contains(&org.id) {
                    // The membership is known to exist in this transaction.
                    teams::add_known_member(conn, &ctx, &org, &team, uid, source.as_str()).await?;
                } else {
                    teams::add_member(conn, &ctx, &org, &team, uid, source.as_str()).await?;
                }
            }
            Change::RemoveTeamMembership { org, team, .. } => {
                let org = target.organization(conn, &org.id).await?;
                let team = target.team(conn, &org, team).await?;
                teams::take_out(conn, &ctx, &org, &team, uid).await?;
            }
            Change::LinkAccount(_) | Change::UnlinkAccount(_) => {
                let link = matches!(change, Change::LinkAccount(_));
                let scim = target
                    .scim_user
                    .as_ref()
                    .ok_or(StoreError::Misuse("a SCIM link applied without its SCIM resource"))?;
                if scim.row_written {
                    db::query("UPDATE scim_users SET user_id = $1 WHERE id = $2 AND connection_id = $3")
                        .bind(if link { Some(uid) } else { None })
                        .bind(&scim.id)
                        .bind(target.connection_id)
                        .execute(&mut *conn)
                        .await?;
                }
                audit::record(
                    conn,
                    &ctx,
                    NewEvent {
                        action: if link { "scim_user.link" } else { "scim_user.unlink" },
                        object_kind: "user",
                        object_id: uid,
                        company_id: Some(target.company_id),
                        connection_id: Some(target.connection_id),
                        user_id: Some(uid),
                        ..Default::default()
                    },
                )
                .await?;
            }
            Change::SetRole { org, .. } | Change::Deactivate { org, .. } | Change::Reactivate { org, .. } => {
                let org = target.organization(conn, &org.id).await?;
                let current = members::find(conn, &org, uid).await?;
                let (role, state) = match change {
                    Change::SetRole { role, .. } => (*role, current.state),
                    Change::Deactivate { .. } => (current.role, MemberState::Deactivated),
                    _ => (current.role, MemberState::Active),
                };
                if matches!(change, Change::Reactivate { .. }) {
                    organizations::require_seat(conn, &org, ctx.now).await?;
                }
                if let Some(revoked) = members::set(conn, &ctx, &org, &current, role, state).await? {
                    let r = target.receipt(&mut receipt, &ctx);
                    r.membership(&org, "deactivated");
                    r.revoked(revoked);
                }
            }
            Change::EndSessions(_) => {
                let revoked = members::end_sessions(conn, uid, target.company_id, ctx.now).await?;
                target.receipt(&mut receipt, &ctx).revoked(revoked);
            }
        }
    }
    if let Some((receipt, ctx)) = receipt {
        receipt.record(conn, &ctx).await?;
    }
    Ok(())
}
