use super::is_id;
use crate::audit::{self, NewEvent};
use crate::db::{self, Conn};
use crate::{new_id, Ctx, StoreError};
use roster_core::Name;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

db::from_row!(Company { id, name, created_at });

const COLS: &str = "id, name, created_at";

pub async fn find(conn: &mut Conn, ident: &str) -> Result<Company, StoreError> {
    let sql = if is_id(ident) {
        format!("SELECT {COLS} FROM companies WHERE id = $1")
    } else {
        format!("SELECT {COLS} FROM companies WHERE name_key = $1")
    };
    let key = if is_id(ident) {
        ident.to_string()
    } else {
        ident.to_lowercase()
    };
    db::query_as(&sql)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::not_found("company", ident))
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Company>, StoreError> {
    db::query_as(&format!("SELECT {COLS} FROM companies ORDER BY name_key"))
        .fetch_all(conn)
        .await
}

pub async fn create(conn: &mut Conn, ctx: &Ctx, name: &Name) -> Result<Company, StoreError> {
    let taken: Option<String> = db::query_scalar("SELECT id FROM companies WHERE name_key = $1")
        .bind(name.key())
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Err(StoreError::conflict(
            "company_exists",
            format!("a company named '{}' already exists", name.as_str()),
        ));
    }
    let company = Company {
        id: new_id(),
        name: name.as_str().to_string(),
        created_at: ctx.now,
    };
    db::query("INSERT INTO companies (id, name, name_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&company.id)
        .bind(&company.name)
        .bind(name.key())
        .bind(company.created_at)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "company.create",
            object_kind: "company",
            object_id: &company.id,
            company_id: Some(&company.id),
            after: Some(json!({ "name": company.name })),
            ..Default::default()
        },
    )
    .await?;
    Ok(company)
}

/// Deletes a company that no longer has organizations or connections.
pub async fn delete(conn: &mut Conn, ctx: &Ctx, ident: &str) -> Result<(), StoreError> {
    let company = find(conn, ident).await?;
    let orgs: i64 = db::query_scalar("SELECT COUNT(*) FROM organizations WHERE company_id = $1")
        .bind(&company.id)
        .fetch_one(&mut *conn)
        .await?;
    let conns: i64 = db::query_scalar("SELECT COUNT(*) FROM connections WHERE company_id = $1")
        .bind(&company.id)
        .fetch_one(&mut *conn)
        .await?;
    if orgs > 0 || conns > 0 {
        return Err(StoreError::conflict(
            "company_in_use",
            format!(
                "company '{}' still has {orgs} organization(s) and {conns} connection(s); delete them first",
                company.name
            ),
        ));
    }
    db::query("DELETE FROM companies WHERE id = $1")
        .bind(&company.id)
        .execute(&mut *conn)
        .await?;
    audit::record(
        conn,
        ctx,
        NewEvent {
            action: "company.delete",
            object_kind: "company",
            object_id: &company.id,
            company_id: Some(&company.id),
            before: Some(json!({ "name": company.name })),
            ..Default::default()
        },
    )
    .await
}
