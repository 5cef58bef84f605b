//! The directory as an app reads it (`/api/v1/directory`): people with their
//! memberships, organizations and teams, limited to a [`Scope`], keyset-paged by id and
//! filtered by `updated_since`. Read-only; what was deleted shows in the events feed.

use crate::db::{self, Conn};
use crate::StoreError;
use serde::Serialize;
use std::collections::HashMap;

/// What a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (the admin token, an API key without organizations).
    All,
    /// These organizations (ids).
    Organizations(Vec<String>),
    /// One company's organizations (an app's own token).
    Company(String),
}

impl Scope {
    /// Whether an object in `organization_id` of `company_id` is in the scope.
    pub fn sees(&self, organization_id: Option<&str>, company_id: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Organizations(ids) => organization_id.is_some_and(|o| ids.iter().any(|i| i == o)),
            Scope::Company(c) => company_id == Some(c.as_str()),
        }
    }

    /// This scope narrowed to one organization: `None` when it is outside it.
    pub fn narrow(&self, organization_id: &str, company_id: &str) -> Option<Scope> {
        self.sees(Some(organization_id), Some(company_id))
            .then(|| Scope::Organizations(vec![organization_id.to_string()]))
    }

    /// The SQL condition on `{col}` (an organization id) for this scope, its parameters
    /// numbered from `from`.
    fn condition(&self, col: &str, from: usize) -> (String, Vec<String>) {
        match self {
            Scope::All => ("TRUE".into(), vec![]),
            Scope::Organizations(ids) if ids.is_empty() => ("FALSE".into(), vec![]),
            Scope::Organizations(ids) => {
                let ps: Vec<String> = (from..from + ids.len()).map(|i| format!("${i}")).collect();
                (format!("{col} IN ({})", ps.join(", ")), ids.clone())
            }
            Scope::Company(c) => (
                format!("{col} IN (SELECT id FROM organizations WHERE company_id = ${from})"),
                vec![c.clone()],
            ),
        }
    }
}

/// A person's membership of one organization, with their teams there.
#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub organization_id: String,
    pub organization: String,
    pub role: String,
    pub state: String,
    pub source: String,
    pub teams: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person and their memberships within the scope.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub memberships: Vec<Membership>,
}

const PERSON: &str = "u.id, u.email, u.username, u.full_name, u.given_name, u.family_name, u.created_at, u.updated_at";

fn person_from_row(r: &db::Row) -> Result<Person, StoreError> {
    Ok(Person {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        username: r.try_get("username")?,
        full_name: r.try_get("full_name")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        memberships: Vec::new(),
    })
}

/// A page of the people in `scope` ordered by id, after the id `after`; with `since`,
/// only those whose profile or a membership in the scope (its role, state or teams)
/// changed at or after it. A person is in the scope when they have a membership there;
/// with [`Scope::All`], everyone is.
pub async fn people(
    conn: &mut Conn,
    scope: &Scope,
    after: Option<&str>,
    since: Option<i64>,
    limit: i64,
) -> Result<Vec<Person>, StoreError> {
    let (cond, params) = scope.condition("m.organization_id", 4);
    let changed = format!(
        "($2 IS NULL OR u.updated_at >= $2 OR EXISTS (SELECT 1 FROM memberships m \
         WHERE m.user_id = u.id AND {cond} AND m.updated_at >= $2))"
    );
    let sql = if *scope == Scope::All {
        format!("SELECT {PERSON} FROM users u WHERE u.id > $1 AND {changed} ORDER BY u.id LIMIT $3")
    } else {
        // Driven by the memberships of the scope (their primary key leads with the
        // organization), never by a walk over every user.
        format!(
            "SELECT {PERSON} FROM users u WHERE u.id IN (SELECT m.user_id FROM memberships m \
             WHERE {cond} AND m.user_id > $1) AND {changed} ORDER BY u.id LIMIT $3"
        )
    };
    let mut q = db::query(&sql).bind(after.unwrap_or("")).bind(since).bind(limit);
    for p in &params {
        q = q.bind(p);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut people = rows.iter().map(person_from_row).collect::<Result<Vec<_>, _>>()?;
    attach_memberships(conn, scope, &mut people).await?;
    Ok(people)
}

/// One person in `scope`, or `None` when there is no such person there.
pub async fn person(conn: &mut Conn, scope: &Scope, id: &str) -> Result<Option<Person>, StoreError> {
    if !super::is_id(id) {
        return Ok(None);
    }
    let found = db::query(&format!("SELECT {PERSON} FROM users u WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = found else { return Ok(None) };
    let mut people = vec![person_from_row(&row)?];
    attach_memberships(conn, scope, &mut people).await?;
    Ok(people
        .pop()
        .filter(|p| *scope == Scope::All || !p.memberships.is_empty()))
}

/// Fills in the memberships in `scope` of a page of people: two queries over the page's
/// id range, never one per person.
async fn attach_memberships(conn: &mut Conn, scope: &Scope, people: &mut [Person]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (people.first(), people.last()) else {
        return Ok(());
    };
    let (from, to) = (first.id.clone(), last.id.clone());
    let (cond, params) = scope.condition("m.organization_id", 3);
    let sql = format!(
        "SELECT m.user_id, m.organization_id, o.name, m.role, m.state, m.source, m.created_at, m.updated_at \
         FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id >= $1 AND m.user_id <= $2 AND {cond} ORDER BY o.name_key"
    );
    let mut q = db::query(&sql).bind(&from).bind(&to);
    for p in &params {
        q = q.bind(p);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let (tcond, tparams) = scope.condition("t.organization_id", 3);
    let sql = format!(
        "SELECT tm.user_id, t.organization_id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id >= $1 AND tm.user_id <= $2 AND {tcond} ORDER BY t.name_key"
    );
    let mut q = db::query(&sql).bind(&from).bind(&to);
    for p in &tparams {
        q = q.bind(p);
    }
    let mut teams: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        teams
            .entry((r.try_get("user_id")?, r.try_get("organization_id")?))
            .or_default()
            .push(r.try_get("name")?);
    }
    let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
    for r in rows {
        let user_id: String = r.try_get("user_id")?;
        let organization_id: String = r.try_get("organization_id")?;
        let member_teams = teams
            .remove(&(user_id.clone(), organization_id.clone()))
            .unwrap_or_default();
        by_user.entry(user_id).or_default().push(Membership {
            organization_id,
            organization: r.try_get("name")?,
            role: r.try_get("role")?,
            state: r.try_get("state")?,
            source: r.try_get("source")?,
            teams: member_teams,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        });
    }
    for p in people.iter_mut() {
        p.memberships = by_user.remove(&p.id).unwrap_or_default();
    }
    Ok(())
}

/// A team as the directory shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub member_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

db::from_row!(Team {
    id,
    name,
    member_count,
    created_at,
    updated_at
});

/// A page of an organization's teams ordered by id, after `after`; with `since`, those
/// created or renamed at or after it.
pub async fn teams(
    conn: &mut Conn,
    organization_id: &str,
    after: Option<&str>,
    since: Option<i64>,
    limit: i64,
) -> Result<Vec<Team>, StoreError> {
    db::query_as(
        "SELECT t.id, t.name, t.created_at, t.updated_at, \
         (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS member_count FROM teams t \
         WHERE t.organization_id = $1 AND t.id > $2 AND ($3 IS NULL OR t.updated_at >= $3) ORDER BY t.id LIMIT $4",
    )
    .bind(organization_id)
    .bind(after.unwrap_or(""))
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The organizations in `scope`, by name.
pub async fn organizations(
    conn: &mut Conn,
    scope: &Scope,
) -> Result<Vec<super::organizations::Organization>, StoreError> {
    let company = match scope {
        Scope::Company(c) => Some(c.as_str()),
        _ => None,
    };
    let all = super::organizations::list(conn, company).await?;
    Ok(all
        .into_iter()
        .filter(|o| scope.sees(Some(&o.id), Some(&o.company_id)))
        .collect())
}
