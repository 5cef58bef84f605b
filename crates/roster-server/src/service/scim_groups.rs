//! SCIM Groups as teams (G4, G5): a Group named `organization:team` is that team, and
//! its members join and leave the team with the Group. Which team a name maps to, and
//! what joining or leaving does to each member, is decided by roster-core's
//! `group_plan`; this runs load → plan → apply for every member concerned.

use roster_core::group_plan;
use roster_core::plan::{Change, OrgRef};
use roster_core::Name;
use roster_scim::patch::MemberOp;
use roster_store::connections::Connection;
use roster_store::directory::organizations::{self, Organization};
use roster_store::directory::teams::{self, Team};
use roster_store::provisioning::{self, Target};
use roster_store::scim::groups::{self as rows, ScimGroup};
use roster_store::{new_id, Conn, Ctx, StoreError};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// The team a Group is (G4), with its organization's row.
#[derive(Clone)]
struct GroupTeam {
    org: Organization,
    team: Team,
    name: Name,
}

impl GroupTeam {
    fn org_ref(&self) -> OrgRef {
        OrgRef {
            id: self.org.id.clone(),
            name: self.org.name.clone(),
        }
    }

    fn from_rows(org: Organization, team: Team) -> Result<Self, StoreError> {
        // Stored team names were valid when written: one that is not is corrupt data.
        let name = Name::parse_team(&team.name).map_err(StoreError::corrupt)?;
        Ok(Self { org, team, name })
    }
}

/// G4: the team `display_name` maps to, created when missing; `None` for a name that
/// maps nothing.
async fn mapped_team(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    display_name: &str,
) -> Result<Option<GroupTeam>, StoreError> {
    let connected = connection
        .organization_ids
        .iter()
        .map(String::as_str)
        .zip(connection.organizations.iter().map(String::as_str));
    let Some((org_id, team_name)) = group_plan::group_team(display_name, connected) else {
        return Ok(None);
    };
    let org = organizations::find(conn, org_id).await?;
    let team = teams::ensure(
        conn,
        &ctx.because("G4", format!("SCIM Group '{display_name}'")),
        &org,
        &team_name,
    )
    .await?;
    Ok(Some(GroupTeam {
        org,
        team,
        name: team_name,
    }))
}

/// The team a Group was mapped to when it was written, while its organization is still
/// one of the connection's (G1, G4).
async fn stored_team(conn: &mut Conn, connection: &Connection, g: &ScimGroup) -> Result<Option<GroupTeam>, StoreError> {
    let Some(team_id) = &g.team_id else { return Ok(None) };
    match rows::team_by_id(conn, team_id).await? {
        Some((org, team)) if group_plan::still_maps(&org.id, &connection.organization_ids) => {
            Ok(Some(GroupTeam::from_rows(org, team)?))
        }
        _ => Ok(None),
    }
}

/// A Group's members, as they change, with the team the Group is (G4): joining and
/// leaving it for each member concerned.
struct Members<'a> {
    ctx: &'a Ctx,
    connection: &'a Connection,
    group: &'a ScimGroup,
    team: Option<&'a GroupTeam>,
}

impl Members<'_> {
    /// Applies one account's changes, with the rows already read.
    async fn apply_for(
        &self,
        conn: &mut Conn,
        t: &GroupTeam,
        user_id: &str,
        member: bool,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let mut target = Target {
            connection_id: &self.connection.id,
            company_id: &t.org.company_id,
            user_id,
            email: None,
            account: None,
            organizations: [(t.org.id.clone(), t.org.clone())].into_iter().collect(),
            teams: vec![t.team.clone()],
            member_of: if member { vec![t.org.id.clone()] } else { Vec::new() },
            scim_user: None,
        };
        provisioning::apply_changes(conn, self.ctx, &mut target, changes).await
    }

    /// G4: `accounts` join the Group's team.
    async fn join(&self, conn: &mut Conn, accounts: &[String]) -> Result<(), StoreError> {
        let Some(t) = self.team else { return Ok(()) };
        for uid in accounts {
            let joiner = rows::joiner(conn, &self.connection.id, &t.org.id, uid).await?;
            let changes = group_plan::plan_join(&t.org_ref(), &t.name, &self.group.display_name, &joiner);
            self.apply_for(conn, t, uid, joiner.membership.is_some(), &changes)
                .await?;
        }
        Ok(())
    }

    /// G4: `accounts` leave the Group's team, and only it.
    async fn leave(&self, conn: &mut Conn, accounts: &[String]) -> Result<(), StoreError> {
        let Some(t) = self.team else { return Ok(()) };
        let change = [group_plan::plan_leave(&t.org_ref(), &t.name, &self.group.display_name)];
        for uid in accounts {
            self.apply_for(conn, t, uid, false, &change).await?;
        }
        Ok(())
    }

    async fn add(&self, conn: &mut Conn, ids: &[String]) -> Result<(), StoreError> {
        let joined = rows::add_members(conn, self.group, ids).await?;
        self.join(conn, &joined).await
    }

    async fn remove(&self, conn: &mut Conn, ids: &[String]) -> Result<(), StoreError> {
        let left = rows::remove_members(conn, self.group, ids).await?;
        self.leave(conn, &left).await
    }

    async fn apply(&self, conn: &mut Conn, ops: &[MemberOp]) -> Result<(), StoreError> {
        for op in ops {
            match op {
                MemberOp::Add(ids) => self.add(conn, ids).await?,
                MemberOp::Remove(ids) => self.remove(conn, ids).await?,
                MemberOp::RemoveAll => {
                    let all = rows::all_member_ids(conn, &self.group.id).await?;
                    self.remove(conn, &all).await?;
                }
                MemberOp::Replace(ids) => {
                    // Replacing the whole list is inherently as large as the list. An
                    // unknown id is never a member, so adding it fails the write.
                    let current = rows::all_member_ids(conn, &self.group.id).await?;
                    let wanted: HashSet<&String> = ids.iter().collect();
                    let have: HashSet<&String> = current.iter().collect();
                    let gone: Vec<String> = current.iter().filter(|c| !wanted.contains(c)).cloned().collect();
                    let new: Vec<String> = ids.iter().filter(|i| !have.contains(i)).cloned().collect();
                    self.remove(conn, &gone).await?;
                    self.add(conn, &new).await?;
                }
            }
        }
        Ok(())
    }
}

/// SCIM POST /Groups.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    doc: Map<String, Value>,
    member_ids: &[String],
) -> Result<ScimGroup, StoreError> {
    let display_name = super::required_name(&doc, "displayName")?;
    let team = mapped_team(conn, ctx, connection, &display_name).await?;
    let g = ScimGroup {
        id: new_id(),
        connection_id: connection.id.clone(),
        external_id: doc.get("externalId").and_then(Value::as_str).map(str::to_string),
        display_name,
        team_id: team.as_ref().map(|t| t.team.id.clone()),
        resource: doc,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    rows::write_row(conn, &g, true, 0).await?;
    rows::record(conn, ctx, &g, "scim_group.create").await?;
    let members = Members {
        ctx,
        connection,
        group: &g,
        team: team.as_ref(),
    };
    members.add(conn, member_ids).await?;
    Ok(g)
}

/// SCIM PUT/PATCH /Groups/{id}: `doc` is the Group after the request (without members),
/// `member_ops` the member changes in order.
pub async fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimGroup,
    doc: Map<String, Value>,
    member_ops: &[MemberOp],
) -> Result<ScimGroup, StoreError> {
    let display_name = super::required_name(&doc, "displayName")?;
    let old_team = stored_team(conn, connection, current).await?;
    let new_team = if display_name == current.display_name {
        old_team.clone()
    } else {
        mapped_team(conn, ctx, connection, &display_name).await?
    };
    let g = ScimGroup {
        external_id: doc.get("externalId").and_then(Value::as_str).map(str::to_string),
        display_name,
        team_id: new_team.as_ref().map(|t| t.team.id.clone()),
        resource: doc,
        version: current.version + 1,
        updated_at: ctx.now,
        ..current.clone()
    };
    // A rename that changes the mapped team moves the members with it (G4).
    if old_team.as_ref().map(|t| &t.team.id) != new_team.as_ref().map(|t| &t.team.id) {
        let accounts = rows::member_accounts(conn, &g.id).await?;
        let before = Members {
            ctx,
            connection,
            group: current,
            team: old_team.as_ref(),
        };
        before.leave(conn, &accounts).await?;
        let after = Members {
            ctx,
            connection,
            group: &g,
            team: new_team.as_ref(),
        };
        after.join(conn, &accounts).await?;
    }
    rows::write_row(conn, &g, false, current.version).await?;
    rows::record(conn, ctx, &g, "scim_group.update").await?;
    let members = Members {
        ctx,
        connection,
        group: &g,
        team: new_team.as_ref(),
    };
    members.apply(conn, member_ops).await?;
    Ok(g)
}

/// SCIM PATCH /Groups/{id} that only adds or removes the members it names
/// (`patch::only_adds_or_removes_members`), on a Group read with
/// `rows::get_for_member_change`: other such changes of the Group run beside it, and
/// its version moves on last, so the Group's row is held only for that and the commit.
/// `expected`: the version If-Match was checked against, which the Group must still be
/// at when its version moves on (S9).
pub async fn change_members(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimGroup,
    member_ops: &[MemberOp],
    expected: Option<i64>,
) -> Result<ScimGroup, StoreError> {
    if !member_ops
        .iter()
        .all(|op| matches!(op, MemberOp::Add(_) | MemberOp::Remove(_)))
    {
        return Err(StoreError::Misuse(
            "replacing or emptying a Group's members needs the Group to itself",
        ));
    }
    let team = stored_team(conn, connection, current).await?;
    rows::record(conn, ctx, current, "scim_group.update").await?;
    let members = Members {
        ctx,
        connection,
        group: current,
        team: team.as_ref(),
    };
    members.apply(conn, member_ops).await?;
    let (version, updated_at) = rows::bump_version(conn, &current.id, ctx.now, expected).await?;
    Ok(ScimGroup {
        version,
        updated_at,
        ..current.clone()
    })
}

/// SCIM DELETE /Groups/{id}: its members leave its team (G4).
pub async fn delete(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimGroup,
) -> Result<(), StoreError> {
    let team = stored_team(conn, connection, current).await?;
    let all = rows::all_member_ids(conn, &current.id).await?;
    let members = Members {
        ctx,
        connection,
        group: current,
        team: team.as_ref(),
    };
    members.remove(conn, &all).await?;
    rows::delete_row(conn, &current.id).await?;
    rows::record(conn, ctx, current, "scim_group.delete").await
}
