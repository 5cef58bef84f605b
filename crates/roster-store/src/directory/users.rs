use super::is_id;
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use roster_core::{rules, Email};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

db::from_row!(User {
    id,
    email,
    username,
    full_name,
    given_name,
    family_name,
    created_at,
    updated_at
});

const COLS: &str = "id, email, username, full_name, given_name, family_name, created_at, updated_at";

/// Finds a user by id, email (case-insensitive) or username.
pub async fn find(conn: &mut Conn, ident: &str) -> Result<User, StoreError> {
    find_optional(conn, ident)
        .await?
        .ok_or_else(|| StoreError::not_found("user", ident))
}

pub async fn find_optional(conn: &mut Conn, ident: &str) -> Result<Option<User>, StoreError> {
    let (col, key) = if is_id(ident) {
        ("id", ident.to_string())
    } else if ident.contains('@') {
        ("email_key", ident.to_lowercase())
    } else {
        ("username", ident.to_lowercase())
    };
    db::query_as(&format!("SELECT {COLS} FROM users WHERE {col} = $1"))
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// Users by email prefix (case-insensitive), keyset-paged by email.
pub async fn list(
    conn: &mut Conn,
    email_prefix: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, StoreError> {
    let prefix = email_prefix.map(|p| format!("{}%", escape_like(&p.to_lowercase())));
    db::query_as(&format!(
        "SELECT {COLS} FROM users WHERE ($1 IS NULL OR email_key LIKE $1 ESCAPE '\\') AND ($2 IS NULL OR email_key > $2) \
         ORDER BY email_key LIMIT $3"
    ))
    .bind(prefix)
    .bind(after.map(str::to_lowercase))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub full_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// Finds the account of `email`, creating it (with a generated unique username) when
/// there is none. Returns the user and whether it was created.
pub async fn get_or_create(
    conn: &mut Conn,
    ctx: &Ctx,
    email: &Email,
    profile: &Profile,
) -> Result<(User, bool), StoreError> {
    if let Some(user) = find_optional(conn, email.key()).await? {
        return Ok((user, false));
    }
    create_new(conn, ctx, email, profile).await
}

/// Creates the account of `email`, which the caller has just found missing (a plan made
/// in this transaction); should it exist after all (a concurrent sign-in on
/// PostgreSQL), returns that one. Returns the user and whether it was created.
pub async fn create_new(
    conn: &mut Conn,
    ctx: &Ctx,
    email: &Email,
    profile: &Profile,
) -> Result<(User, bool), StoreError> {
    let full_name = profile.full_name.clone().unwrap_or_else(|| email.as_str().to_string());
    let id = new_id();
    // Concurrent sign-ins of one person, or of two people with the same local part, race
    // here on PostgreSQL: a conflicting insert does nothing, and we look again.
    // The first candidate is usually free: it is tried at once, the insert saying whether
    // it was; only after a conflict are free ones looked up.
    let mut first = rules::username_candidates(email).next();
    let mut username = String::new();
    for _ in 0..5 {
        username = match first.take() {
            Some(candidate) => candidate,
            None => free_username(conn, email).await?,
        };
        let inserted = db::query(
            "INSERT INTO users (id, email, email_key, username, full_name, given_name, family_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(email.as_str())
        .bind(email.key())
        .bind(&username)
        .bind(&full_name)
        .bind(profile.given_name.as_deref())
        .bind(profile.family_name.as_deref())
        .bind(ctx.now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            break;
        }
        if let Some(user) = find_optional(conn, email.key()).await? {
            return Ok((user, false));
        }
        username.clear();
    }
    if username.is_empty() {
        return Err(StoreError::conflict(
            "username_taken",
            "could not find a free username; try again",
        ));
    }
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "user.create",
            object_kind: "user",
            object_id: &id,
            user_id: Some(&id),
            after: Some(json!({ "email": email.as_str(), "username": username, "full_name": full_name })),
            ..Default::default()
        },
    )
    .await?;
    // The row as inserted: no need to read it back.
    let user = User {
        id,
        email: email.as_str().to_string(),
        username,
        full_name,
        given_name: profile.given_name.clone(),
        family_name: profile.family_name.clone(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    Ok((user, true))
}

/// The first of `email`'s username candidates no account has, asked in runs.
async fn free_username(conn: &mut Conn, email: &Email) -> Result<String, StoreError> {
    const RUN: usize = 16;
    let mut candidates = rules::username_candidates(email);
    loop {
        let chunk: Vec<String> = candidates.by_ref().take(RUN).collect();
        if chunk.is_empty() {
            return Err(StoreError::conflict("username_exhausted", "no free username"));
        }
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT username FROM users WHERE username IN ({})",
            placeholders.join(", ")
        );
        let mut query = db::query_scalar::<String>(&sql);
        for c in &chunk {
            query = query.bind(c);
        }
        let taken = query.fetch_all(&mut *conn).await?;
        if let Some(free) = chunk.into_iter().find(|c| !taken.contains(c)) {
            return Ok(free);
        }
    }
}

pub async fn update_profile(conn: &mut Conn, ctx: &Ctx, ident: &str, p: &Profile) -> Result<User, StoreError> {
    let before = find(conn, ident).await?;
    update_profile_from(conn, ctx, before, p).await
}

/// [`update_profile`] of an account the caller has read in this transaction.
pub async fn update_profile_from(conn: &mut Conn, ctx: &Ctx, before: User, p: &Profile) -> Result<User, StoreError> {
    let full_name = p.full_name.clone().unwrap_or_else(|| before.full_name.clone());
    let given = p.given_name.clone().or_else(|| before.given_name.clone());
    let family = p.family_name.clone().or_else(|| before.family_name.clone());
    db::query("UPDATE users SET full_name = $1, given_name = $2, family_name = $3, updated_at = $4 WHERE id = $5")
        .bind(&full_name)
        .bind(&given)
        .bind(&family)
        .bind(ctx.now)
        .bind(&before.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "user.update",
            object_kind: "user",
            object_id: &before.id,
            user_id: Some(&before.id),
            before: Some(json!({ "full_name": before.full_name, "given_name": before.given_name, "family_name": before.family_name })),
            after: Some(json!({ "full_name": full_name, "given_name": given, "family_name": family })),
            ..Default::default()
        },
    )
    .await?;
    Ok(User {
        full_name,
        given_name: given,
        family_name: family,
        updated_at: ctx.now,
        ..before
    })
}

/// Deletes the global account. Refused while it is the last active owner of an
/// organization.
pub async fn delete(conn: &mut Conn, ctx: &Ctx, ident: &str) -> Result<(), StoreError> {
    let user = find(conn, ident).await?;
    let owned: Vec<String> = db::query_scalar(
        "SELECT organization_id FROM memberships WHERE user_id = $1 AND role = 'owner' AND state = 'active'",
    )
    .bind(&user.id)
    .fetch_all(&mut *conn)
    .await?;
    for org_id in &owned {
        super::organizations::lock(conn, org_id).await?;
    }
    let sole: Vec<String> = db::query_scalar(
        "SELECT o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = $1 AND m.role = 'owner' AND m.state = 'active' AND \
         (SELECT COUNT(*) FROM memberships x WHERE x.organization_id = m.organization_id AND x.role = 'owner' AND x.state = 'active') = 1",
    )
    .bind(&user.id)
    .fetch_all(&mut *conn)
    .await?;
    roster_core::rules::check_account_deletion(&user.email, &sole)?;
    db::query("DELETE FROM users WHERE id = $1")
        .bind(&user.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "user.delete",
            object_kind: "user",
            object_id: &user.id,
            user_id: Some(&user.id),
            before: Some(json!({ "email": user.email, "username": user.username, "full_name": user.full_name })),
            ..Default::default()
        },
    )
    .await
}
