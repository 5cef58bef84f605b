//! SCIM Users (S1, S3–S6): the resource's row, and its account provisioned through the
//! SCIM planner — load → plan → apply in the caller's transaction.

use roster_core::plan::{Change, Refusal, RefusalKind};
use roster_core::scim_plan::{self, Provisioning, ScimUserFacts};
use roster_core::Email;
use roster_scim::urn;
use roster_store::connections::Connection;
use roster_store::directory::users;
use roster_store::provisioning::{self, ScimLink};
use roster_store::scim::users::{self as rows, EmailRow, ScimUser};
use roster_store::{new_id, Conn, Ctx, StoreError};
use serde_json::{Map, Value};

/// The email a resource provisions: `userName` when it is one (S3), else its primary (or
/// first) email address.
pub fn provisioning_email(doc: &Map<String, Value>) -> Option<Email> {
    if let Some(e) = doc
        .get("userName")
        .and_then(Value::as_str)
        .and_then(|u| Email::parse(u).ok())
    {
        return Some(e);
    }
    let emails = doc.get("emails")?.as_array()?;
    let primary = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
    primary
        .into_iter()
        .chain(emails.iter())
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .find_map(|v| Email::parse(v).ok())
}

/// Every email address of a resource, for filters on emails.
fn email_rows(doc: &Map<String, Value>) -> Vec<EmailRow> {
    let Some(Value::Array(emails)) = doc.get("emails") else {
        return Vec::new();
    };
    let mut rows: Vec<EmailRow> = emails
        .iter()
        .filter_map(|e| {
            Some(EmailRow {
                key: e.get("value")?.as_str()?.trim().to_lowercase(),
                type_key: e.get("type").and_then(Value::as_str).map(str::to_lowercase),
                primary: e.get("primary").and_then(Value::as_bool) == Some(true),
            })
        })
        .filter(|r| !r.key.is_empty())
        .collect();
    rows.dedup();
    rows
}

fn text(doc: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let mut cur = doc.get(*path.first()?)?;
    for p in path.iter().skip(1) {
        cur = cur.get(*p)?;
    }
    cur.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What the resource says, for the planner.
pub(crate) fn facts(doc: &Map<String, Value>, email: Email, active: bool) -> ScimUserFacts {
    ScimUserFacts {
        email,
        external_id: text(doc, &["externalId"]),
        full_name: text(doc, &["name", "formatted"]),
        given_name: text(doc, &["name", "givenName"]),
        family_name: text(doc, &["name", "familyName"]),
        active: Some(active),
        organization: text(doc, &[urn::DOCKER_USER, "dockerOrg"]),
        team: text(doc, &[urn::DOCKER_USER, "dockerTeam"]),
        role: text(doc, &[urn::DOCKER_USER, "dockerRole"]),
    }
}

fn taken(user_name: &str) -> StoreError {
    StoreError::Refused(Refusal::new(
        RefusalKind::Exists,
        format!("userName '{user_name}' is already provisioned"),
    ))
}

/// Whether the resource's row is already in the table when it is provisioned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    Written,
    /// A create: the row is inserted after provisioning, with the account it links.
    Unwritten,
}

/// What a plan needs to know of the resource: the email it provisions.
async fn account_email(conn: &mut Conn, u: &ScimUser) -> Result<Option<Email>, StoreError> {
    Ok(match (&u.user_id, &u.account_email) {
        (Some(_), Some(email)) => Some(Email::parse(email)?),
        (Some(uid), None) => Some(Email::parse(&users::find(conn, uid).await?.email)?),
        (None, _) => provisioning_email(&u.resource),
    })
}

/// Plans this resource's account for its current state and applies the plan.
async fn provision(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    u: &mut ScimUser,
    row: Row,
) -> Result<(), StoreError> {
    let Some(email) = account_email(conn, u).await? else {
        return rows::hold(conn, ctx, u, scim_plan::HOLD_WITHOUT_EMAIL).await;
    };
    let (state, mut known) = provisioning::load(conn, connection, &email, &[], ctx.now).await?;
    known.scim_user = Some(ScimLink {
        id: u.id.clone(),
        row_written: row == Row::Written,
    });
    let facts = facts(&u.resource, email.clone(), u.active);
    let plan = match scim_plan::plan_provisioning(&state, &facts, u.user_id.is_some())? {
        Provisioning::Hold(why) => return rows::hold(conn, ctx, u, &why).await,
        Provisioning::Apply(plan) => *plan,
    };
    let ctx = ctx.via_connection(&connection.id);
    let applied = provisioning::apply_with(conn, &ctx, &plan, connection, known).await?;
    // An unwritten row takes an account only through a link of this plan.
    let links = plan.changes.iter().any(|c| matches!(c, Change::LinkAccount(_)));
    if row == Row::Written || links {
        let uid = applied.user_id;
        // The account's username and email change only when it is (re)linked; the row
        // applying made or read serves when it has one.
        if u.user_id.as_deref() != Some(uid.as_str()) || u.username.is_none() {
            let account = match applied.user {
                Some(a) if a.id == uid => a,
                _ => users::find(conn, &uid).await?,
            };
            u.username = Some(account.username);
            u.account_email = Some(account.email);
        }
        u.user_id = Some(uid);
    }
    Ok(())
}

/// SCIM POST /Users.
pub async fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    doc: Map<String, Value>,
) -> Result<ScimUser, StoreError> {
    let user_name = super::required_name(&doc, "userName")?;
    let active = scim_plan::active_on_create(doc.get("active").and_then(Value::as_bool));
    let mut doc = doc;
    // The stored resource says the state it has, sent or not.
    doc.insert("active".into(), Value::Bool(active));
    let mut u = ScimUser {
        id: new_id(),
        connection_id: connection.id.clone(),
        user_id: None,
        username: None,
        account_email: None,
        user_name,
        external_id: text(&doc, &["externalId"]),
        active,
        resource: doc,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
        groups: Some(Vec::new()),
    };
    rows::record(conn, ctx, &u, "scim_user.create").await?;
    // The row goes in once provisioning has found or made the account it links, so a
    // create writes it once. A userName already provisioned fails the insert, and with
    // it the whole write; when provisioning fails first, that userName is still the
    // answer (409 uniqueness), whatever provisioning said.
    if let Err(e) = provision(conn, ctx, connection, &mut u, Row::Unwritten).await {
        let key = u.user_name.to_lowercase();
        return Err(match rows::user_name_taken(conn, &connection.id, &key, None).await {
            Ok(true) => taken(&u.user_name),
            // On PostgreSQL a failed statement ends the transaction's reads too.
            _ => e,
        });
    }
    let email_key = provisioning_email(&u.resource);
    rows::insert(conn, &u, email_key.as_ref().map(Email::key)).await?;
    rows::write_emails(conn, &u, &email_rows(&u.resource), false).await?;
    Ok(u)
}

/// SCIM PUT or PATCH /Users/{id}: `doc` is the whole resource after the request.
pub async fn replace(
    conn: &mut Conn,
    ctx: &Ctx,
    connection: &Connection,
    current: &ScimUser,
    doc: Map<String, Value>,
) -> Result<ScimUser, StoreError> {
    let user_name = super::required_name(&doc, "userName")?;
    // Only a changed userName can collide with another User's.
    if user_name.to_lowercase() != current.user_name.to_lowercase()
        && rows::user_name_taken(conn, &connection.id, &user_name.to_lowercase(), Some(&current.id)).await?
    {
        return Err(taken(&user_name));
    }
    let active = scim_plan::active_on_replace(doc.get("active").and_then(Value::as_bool), current.active);
    let mut u = ScimUser {
        user_name,
        external_id: text(&doc, &["externalId"]),
        active,
        resource: doc,
        version: current.version + 1,
        updated_at: ctx.now,
        ..current.clone()
    };
    let email_key = provisioning_email(&u.resource);
    rows::update(conn, &u, email_key.as_ref().map(Email::key), current.version).await?;
    // Most changes leave the addresses and the userName as they were: then their rows
    // stay.
    let emails = email_rows(&u.resource);
    if emails != email_rows(&current.resource) || u.user_name.to_lowercase() != current.user_name.to_lowercase() {
        rows::write_emails(conn, &u, &emails, true).await?;
    }
    rows::record(conn, ctx, &u, "scim_user.update").await?;
    provision(conn, ctx, connection, &mut u, Row::Written).await?;
    Ok(u)
}

/// SCIM DELETE /Users/{id}: the account is deactivated here and unlinked, and stays (S6).
pub async fn delete(conn: &mut Conn, ctx: &Ctx, connection: &Connection, current: &ScimUser) -> Result<(), StoreError> {
    let linked = match current.user_id {
        Some(_) => account_email(conn, current).await?,
        None => None,
    };
    if let Some(email) = linked {
        let (state, mut known) = provisioning::load(conn, connection, &email, &[], ctx.now).await?;
        known.scim_user = Some(ScimLink {
            id: current.id.clone(),
            row_written: true,
        });
        let plan = scim_plan::plan_delete(&state, &email)?;
        provisioning::apply_with(conn, &ctx.via_connection(&connection.id), &plan, connection, known).await?;
    }
    rows::delete_row(conn, &current.id).await?;
    rows::record(conn, ctx, current, "scim_user.delete").await
}
