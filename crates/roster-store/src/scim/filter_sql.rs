//! SCIM filter AST → SQL `WHERE` text with bound values, evaluated by the database.
//!
//! Attributes that clients filter on (`userName`, `externalId`, `id`, `active`,
//! `emails.value`, `meta.*`, a Group's `displayName` and `members.value`) are columns with
//! indexes; other single-valued attributes of the resource (`name.givenName`,
//! `title`, extension attributes by URN, …) are read from the stored JSON, within the
//! connection's rows. Only names resolved through the schema definitions reach the SQL
//! text; every value is a bound parameter.

use crate::Backend;
use crate::StoreError;
use roster_scim::filter::{CompareOp, Filter};
use roster_scim::path::AttrPath;
use roster_scim::schema::{self, Type};
use roster_scim::urn;
use serde_json::Value;

/// A filter this store cannot run (RFC 7644 `invalidFilter`).
fn invalid(detail: impl Into<String>) -> StoreError {
    StoreError::InvalidFilter(detail.into())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Users,
    Groups,
}

/// How an attribute is read, and how its values compare.
enum Column {
    /// A column holding lower-cased text: compare lower-cased values.
    Folded(&'static str),
    /// A column holding text compared exactly.
    Exact(&'static str),
    Bool(&'static str),
    /// Milliseconds; filter values are RFC 3339 timestamps.
    Time(&'static str),
    /// A Group member (by User id).
    Member,
    /// A text value inside the stored JSON, compared case-insensitively.
    Json(String),
}

pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
    backend: Backend,
}

impl Sql {
    pub fn new(backend: Backend, first_param: usize) -> Self {
        Self {
            text: String::new(),
            binds: Vec::with_capacity(first_param.saturating_sub(1)),
            backend,
        }
        .offset(first_param)
    }
    fn offset(mut self, first: usize) -> Self {
        // Placeholders before ours belong to the caller's query; pad with markers that
        // are never bound (they are replaced by the caller's own binds).
        for _ in 1..first {
            self.binds.push(Bind::Int(0));
        }
        self
    }
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }
    /// The caller's leading binds are its own; these are the filter's.
    pub fn filter_binds(&self, first_param: usize) -> &[Bind] {
        self.binds.get(first_param.saturating_sub(1)..).unwrap_or(&[])
    }
}

fn json_expr(backend: Backend, container: Option<&str>, attr: &str, sub: Option<&str>) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(c) = container {
        parts.push(c);
    }
    parts.push(attr);
    if let Some(s) = sub {
        parts.push(s);
    }
    match backend {
        Backend::Sqlite => {
            let path: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
            format!("json_extract(resource, '$.{}')", path.join("."))
        }
        Backend::Postgres => {
            let path: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
            format!("(resource::jsonb #>> '{{{}}}')", path.join(","))
        }
    }
}

fn column(
    resource: Resource,
    backend: Backend,
    path: &AttrPath,
    value_path_of: Option<&AttrPath>,
) -> Result<Column, StoreError> {
    let unsupported = || invalid(format!("filtering on '{path}' is not supported"));
    // Inside `attr[...]`, the path names a sub-attribute of `attr`.
    let (schema_urn, attr_name, sub_name) = match value_path_of {
        Some(outer) => (outer.schema.clone(), outer.attr.clone(), Some(path.attr.clone())),
        None => (path.schema.clone(), path.attr.clone(), path.sub.clone()),
    };
    let core = match resource {
        Resource::Users => urn::USER,
        Resource::Groups => urn::GROUP,
    };
    let container = match &schema_urn {
        None => None,
        Some(s) if s.eq_ignore_ascii_case(core) => None,
        Some(s)
            if resource == Resource::Users
                && (s.eq_ignore_ascii_case(urn::ENTERPRISE_USER) || s.eq_ignore_ascii_case(urn::DOCKER_USER)) =>
        {
            Some(if s.eq_ignore_ascii_case(urn::DOCKER_USER) {
                urn::DOCKER_USER
            } else {
                urn::ENTERPRISE_USER
            })
        }
        Some(_) => return Err(unsupported()),
    };
    let is = |name: &str| attr_name.eq_ignore_ascii_case(name);
    let sub_is = |name: &str| sub_name.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(name));
    if container.is_none() {
        if is("id") && sub_name.is_none() {
            return Ok(Column::Exact("r.id"));
        }
        if is("externalId") && sub_name.is_none() {
            return Ok(Column::Exact("r.external_id"));
        }
        if is("meta") && sub_is("created") {
            return Ok(Column::Time("r.created_at"));
        }
        if is("meta") && sub_is("lastModified") {
            return Ok(Column::Time("r.updated_at"));
        }
        match resource {
            Resource::Users if is("userName") && sub_name.is_none() => return Ok(Column::Folded("r.user_name_key")),
            Resource::Users if is("active") && sub_name.is_none() => return Ok(Column::Bool("r.active")),
            // Every address of a User is in scim_user_emails (aliased `e`): a condition
            // on emails runs there, one value at a time (see `walk`).
            Resource::Users if is("emails") && (sub_name.is_none() || sub_is("value")) => {
                return Ok(Column::Folded("e.email_key"))
            }
            Resource::Users if is("emails") && sub_is("type") => return Ok(Column::Folded("e.type_key")),
            Resource::Users if is("emails") && sub_is("primary") => return Ok(Column::Bool("e.is_primary")),
            Resource::Groups if is("displayName") && sub_name.is_none() => {
                return Ok(Column::Folded("r.display_name_key"))
            }
            Resource::Groups if is("members") && (sub_name.is_none() || sub_is("value")) => return Ok(Column::Member),
            _ => {}
        }
    }
    // Any other single-valued string attribute of the schema, from the stored resource.
    let attrs = schema::attrs_of(container.unwrap_or(core)).ok_or_else(unsupported)?;
    let attr = schema::find(attrs, &attr_name).ok_or_else(unsupported)?;
    if attr.multi {
        return Err(unsupported());
    }
    let sub = match &sub_name {
        Some(s) => Some(attr.find_sub(s).ok_or_else(unsupported)?),
        None => None,
    };
    let leaf = sub.unwrap_or(attr);
    if !matches!(leaf.kind, Type::String) || (attr.kind == Type::Complex && sub.is_none()) {
        return Err(unsupported());
    }
    Ok(Column::Json(json_expr(
        backend,
        container,
        attr.name,
        sub.map(|s| s.name),
    )))
}

/// Whether an index narrows `filter` to a few rows: an `eq` on `userName`, `externalId`,
/// `id`, `emails.value` or a Group's `displayName`, alone or in an `and`. Other filters
/// may read every resource of the connection (and so may counting their matches).
pub fn narrows(filter: &Filter, resource: Resource) -> bool {
    let indexed = |path: &AttrPath, of: Option<&AttrPath>| {
        matches!(
            column(resource, Backend::Sqlite, path, of),
            Ok(Column::Folded(c) | Column::Exact(c)) if c != "e.type_key"
        )
    };
    // `eq null` asks for the resources without a value: not an index lookup.
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => !value.is_null() && indexed(path, None),
        Filter::ValuePath { path, filter } => value_path_narrows(filter, path, &indexed),
        Filter::And(a, b) => narrows(a, resource) || narrows(b, resource),
        _ => false,
    }
}

fn like_pattern(s: &str, op: CompareOp) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    match op {
        CompareOp::Co => format!("%{escaped}%"),
        CompareOp::Sw => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

fn parse_time(v: &Value) -> Result<i64, StoreError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid("meta dates compare with RFC 3339 strings"))?;
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid(format!("'{s}' is not an RFC 3339 date-time")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        _ => "<=",
    }
}

fn compare(sql: &mut Sql, col: Column, op: CompareOp, value: &Value) -> Result<String, StoreError> {
    let text = |v: &Value| -> Result<String, StoreError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(invalid("compare text attributes with a string")),
        }
    };
    let like = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    Ok(match col {
        Column::Member => {
            if op != CompareOp::Eq {
                return Err(invalid("members compare with 'eq' only"));
            }
            let p = sql.bind(Bind::Text(text(value)?));
            format!("EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.group_id = r.id AND gm.scim_user_id = {p})")
        }
        Column::Bool(c) => {
            let b = match value {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(invalid("'active' compares with true or false")),
            };
            let p = sql.bind(Bind::Bool(b));
            match op {
                CompareOp::Eq => format!("{c} = {p}"),
                CompareOp::Ne => format!("{c} <> {p}"),
                _ => return Err(invalid("booleans compare with 'eq' or 'ne'")),
            }
        }
        Column::Time(c) => {
            if like {
                return Err(invalid("dates compare with eq, ne, gt, ge, lt or le"));
            }
            let p = sql.bind(Bind::Int(parse_time(value)?));
            format!("{c} {} {p}", sql_op(op))
        }
        Column::Folded(c) | Column::Exact(c) => {
            let folded = matches!(col, Column::Folded(_));
            let v = text(value)?;
            let v = if folded { v.to_lowercase() } else { v };
            if like {
                let p = sql.bind(Bind::Text(like_pattern(&v, op)));
                format!("{c} LIKE {p} ESCAPE '\\'")
            } else if op == CompareOp::Ne {
                let p = sql.bind(Bind::Text(v));
                format!("({c} IS NULL OR {c} <> {p})")
            } else {
                let p = sql.bind(Bind::Text(v));
                format!("{c} {} {p}", sql_op(op))
            }
        }
        Column::Json(expr) => {
            let v = text(value)?.to_lowercase();
            if like {
                let p = sql.bind(Bind::Text(like_pattern(&v, op)));
                format!("LOWER({expr}) LIKE {p} ESCAPE '\\'")
            } else if op == CompareOp::Ne {
                let p = sql.bind(Bind::Text(v));
                format!("({expr} IS NULL OR LOWER({expr}) <> {p})")
            } else {
                let p = sql.bind(Bind::Text(v));
                format!("LOWER({expr}) {} {p}", sql_op(op))
            }
        }
    })
}

fn present(col: Column) -> String {
    match col {
        Column::Member => "EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.group_id = r.id)".into(),
        Column::Bool(_) => "1 = 1".into(),
        Column::Time(c) => format!("{c} IS NOT NULL"),
        Column::Folded(c) | Column::Exact(c) => format!("({c} IS NOT NULL AND {c} <> '')"),
        Column::Json(e) => format!("({e} IS NOT NULL AND {e} <> '')"),
    }
}

/// Inside `attr[…]`: an `eq` on an indexed sub-attribute, alone or in an `and`.
fn value_path_narrows(f: &Filter, outer: &AttrPath, indexed: &dyn Fn(&AttrPath, Option<&AttrPath>) -> bool) -> bool {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => !value.is_null() && indexed(path, Some(outer)),
        Filter::And(a, b) => value_path_narrows(a, outer, indexed) || value_path_narrows(b, outer, indexed),
        _ => false,
    }
}

/// Whether `path` (inside `outer`, if any) names a User's emails, whose values are rows
/// of scim_user_emails.
fn is_emails(resource: Resource, path: &AttrPath) -> bool {
    resource == Resource::Users
        && path.attr.eq_ignore_ascii_case("emails")
        && path.schema.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(urn::USER))
}

/// `condition` over one email value (`e`) of the User: some value matches. The connection
/// is the query's first parameter; the User is found by its unique (connection, userName
/// key), one index probe per matching address.
fn some_email(condition: &str) -> String {
    format!(
        "r.user_name_key IN (SELECT e.user_name_key FROM scim_user_emails e WHERE e.connection_id = $1 AND {condition})"
    )
}

fn walk(sql: &mut Sql, resource: Resource, f: &Filter, outer: Option<&AttrPath>) -> Result<String, StoreError> {
    let backend = sql.backend;
    // A condition on emails outside `emails[…]` is about one value: `emails.value eq x`
    // is `emails[value eq x]`.
    if outer.is_none() {
        let on_emails = match f {
            Filter::Compare { path, value, .. } if !value.is_null() => is_emails(resource, path),
            Filter::Present(path) => is_emails(resource, path),
            _ => false,
        };
        if on_emails {
            let (Filter::Compare { path, .. } | Filter::Present(path)) = f else {
                return Err(invalid("a condition on emails"));
            };
            let whole = AttrPath::parse("emails").map_err(|e| invalid(e.detail))?;
            let one = match &path.sub {
                Some(sub) => AttrPath::parse(sub).map_err(|e| invalid(e.detail))?,
                None => AttrPath::parse("value").map_err(|e| invalid(e.detail))?,
            };
            let inner = match f {
                Filter::Compare { op, value, .. } => {
                    compare(sql, column(resource, backend, &one, Some(&whole))?, *op, value)?
                }
                _ => present(column(resource, backend, &one, Some(&whole))?),
            };
            return Ok(some_email(&inner));
        }
        if let Filter::Compare {
            path,
            op,
            value: Value::Null,
        } = f
        {
            if is_emails(resource, path) {
                // `emails eq null`: no value at all.
                let any = some_email("1 = 1");
                return match op {
                    CompareOp::Eq => Ok(format!("NOT {any}")),
                    CompareOp::Ne => Ok(any),
                    _ => Err(invalid("null compares with 'eq' or 'ne' only")),
                };
            }
        }
    }
    Ok(match f {
        Filter::Compare { path, op, value } => {
            if value.is_null() {
                // `attr eq null` asks for absence (RFC 7644 §3.4.2.2 treats null as unassigned).
                let col = column(resource, backend, path, outer)?;
                return Ok(match op {
                    CompareOp::Eq => format!("NOT {}", present(col)),
                    CompareOp::Ne => present(col),
                    _ => return Err(invalid("null compares with 'eq' or 'ne' only")),
                });
            }
            let col = column(resource, backend, path, outer)?;
            compare(sql, col, *op, value)?
        }
        Filter::Present(path) => present(column(resource, backend, path, outer)?),
        Filter::And(a, b) => format!(
            "({} AND {})",
            walk(sql, resource, a, outer)?,
            walk(sql, resource, b, outer)?
        ),
        Filter::Or(a, b) => format!(
            "({} OR {})",
            walk(sql, resource, a, outer)?,
            walk(sql, resource, b, outer)?
        ),
        Filter::Not(a) => format!("(NOT {})", walk(sql, resource, a, outer)?),
        Filter::ValuePath { path, filter } => {
            if outer.is_some() {
                return Err(invalid("value paths do not nest"));
            }
            let inner = walk(sql, resource, filter, Some(path))?;
            if is_emails(resource, path) {
                // Every condition inside holds for one and the same value.
                some_email(&inner)
            } else {
                inner
            }
        }
    })
}

/// The SQL condition for `filter` over rows aliased `r`; its placeholders start at
/// `first_param`.
pub fn translate(filter: &Filter, resource: Resource, backend: Backend, first_param: usize) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(backend, first_param);
    sql.text = walk(&mut sql, resource, filter, None)?;
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_scim::filter::parse;

    fn t(f: &str, r: Resource, b: Backend) -> Result<(String, Vec<Bind>), StoreError> {
        let sql = translate(&parse(f).map_err(|e| StoreError::InvalidFilter(e.detail))?, r, b, 2)?;
        Ok((sql.text.clone(), sql.filter_binds(2).to_vec()))
    }

    #[test]
    fn indexed_columns() {
        let (text, binds) = t(r#"userName eq "Jo@Example.com""#, Resource::Users, Backend::Sqlite).unwrap();
        assert_eq!(text, "r.user_name_key = $2");
        assert_eq!(binds, [Bind::Text("jo@example.com".into())]);
        let (text, binds) = t(
            r#"externalId eq "00u1" and not (active eq true)"#,
            Resource::Users,
            Backend::Postgres,
        )
        .unwrap();
        assert_eq!(text, "(r.external_id = $2 AND (NOT r.active = $3))");
        assert_eq!(binds, [Bind::Text("00u1".into()), Bind::Bool(true)]);
        // Emails: every address, one value at a time, from scim_user_emails.
        let (text, binds) = t(r#"emails[value sw "a_b"]"#, Resource::Users, Backend::Sqlite).unwrap();
        assert_eq!(
            text,
            r"r.user_name_key IN (SELECT e.user_name_key FROM scim_user_emails e WHERE e.connection_id = $1 AND e.email_key LIKE $2 ESCAPE '\')"
        );
        assert_eq!(binds, [Bind::Text(r"a\_b%".into())]);
        let (text, binds) = t(
            r#"emails[type eq "Work"].value eq "Jo@Acme.example""#,
            Resource::Users,
            Backend::Postgres,
        )
        .unwrap();
        assert_eq!(
            text,
            "r.user_name_key IN (SELECT e.user_name_key FROM scim_user_emails e WHERE e.connection_id = $1 AND (e.type_key = $2 AND e.email_key = $3))"
        );
        assert_eq!(binds, [Bind::Text("work".into()), Bind::Text("jo@acme.example".into())]);
        let (text, _) = t(r#"emails.type eq "work""#, Resource::Users, Backend::Sqlite).unwrap();
        assert_eq!(
            text,
            "r.user_name_key IN (SELECT e.user_name_key FROM scim_user_emails e WHERE e.connection_id = $1 AND e.type_key = $2)"
        );
        let (text, _) = t(
            r#"members[value eq "u1"] or displayName eq "acme:eng""#,
            Resource::Groups,
            Backend::Sqlite,
        )
        .unwrap();
        assert_eq!(
            text,
            "(EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.group_id = r.id AND gm.scim_user_id = $2) OR r.display_name_key = $3)"
        );
        let (_, binds) = t(
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            Resource::Users,
            Backend::Sqlite,
        )
        .unwrap();
        assert_eq!(binds, [Bind::Int(1_767_225_600_000)]);
    }

    #[test]
    fn other_attributes_read_the_stored_json_per_engine() {
        let f = r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#;
        let (text, _) = t(f, Resource::Users, Backend::Sqlite).unwrap();
        assert_eq!(
            text,
            r#"LOWER(json_extract(resource, '$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"."department"')) = $2"#
        );
        let (text, _) = t(r#"NAME.GIVENNAME pr"#, Resource::Users, Backend::Postgres).unwrap();
        assert_eq!(
            text,
            r#"((resource::jsonb #>> '{"name","givenName"}') IS NOT NULL AND (resource::jsonb #>> '{"name","givenName"}') <> '')"#
        );
    }

    #[test]
    fn only_eq_on_an_indexed_column_narrows() {
        let n = |f: &str, r: Resource| narrows(&parse(f).unwrap(), r);
        assert!(n(r#"userName eq "jo@example.com""#, Resource::Users));
        assert!(n(r#"emails[value eq "jo@example.com"]"#, Resource::Users));
        assert!(n(
            r#"emails[type eq "work"].value eq "jo@example.com""#,
            Resource::Users
        ));
        assert!(n(r#"emails.value eq "jo@example.com""#, Resource::Users));
        assert!(!n(r#"emails[type eq "work"]"#, Resource::Users));
        assert!(n(r#"active eq true and externalId eq "00u1""#, Resource::Users));
        assert!(n(r#"displayName eq "acme:eng""#, Resource::Groups));
        for f in [
            r#"userName co "jo""#,
            r#"userName ne "jo@example.com""#,
            r#"title eq "x""#,
            r#"active eq true"#,
            r#"userName eq "a@x.test" or userName eq "b@x.test""#,
            r#"not (userName eq "jo@example.com")"#,
            r#"meta.created gt "2026-01-01T00:00:00Z""#,
            r#"userName pr"#,
            r#"externalId eq null"#,
            r#"active eq true and externalId eq null"#,
        ] {
            assert!(!n(f, Resource::Users), "{f}");
        }
        assert!(!n(r#"members[value eq "u1"]"#, Resource::Groups));
        assert!(!n(r#"displayName sw "acme:""#, Resource::Groups));
    }

    #[test]
    fn unsupported_filters_are_invalid_filter() {
        for f in [
            r#"emails.display eq "work""#,
            r#"nosuch eq "x""#,
            r#"urn:example:ext:foo eq "x""#,
            r#"active gt "2020""#,
            r#"groups.value eq "g""#,
            r#"meta.created eq "yesterday""#,
        ] {
            let e = t(f, Resource::Users, Backend::Sqlite).unwrap_err();
            assert!(matches!(e, StoreError::InvalidFilter(_)), "{f}");
        }
    }
}
