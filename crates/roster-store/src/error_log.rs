//! E1: the error log of each connection — failed sign-ins and SCIM requests, with the
//! request, the reason and the trace id the person or IdP was shown.

use crate::db::{self, Conn};
use crate::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(skip)]
    pub seq: i64,
    pub at: i64,
    /// `scim` or `sso`.
    pub kind: String,
    /// What was asked, e.g. `PATCH /scim/v2/Users/…`.
    pub request: String,
    pub status: i64,
    /// A machine code (`scimType`, denial code) when there is one.
    pub code: Option<String>,
    pub detail: String,
    pub trace_id: String,
}

/// Longest request summary or detail kept.
const MAX_TEXT: usize = 2000;

fn clip(s: &str) -> String {
    s.chars().take(MAX_TEXT).collect()
}

pub async fn record(conn: &mut Conn, connection_id: &str, e: &Entry) -> Result<(), StoreError> {
    db::query(
        "INSERT INTO error_log (connection_id, at, kind, request, status, code, detail, trace_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(connection_id)
    .bind(e.at)
    .bind(&e.kind)
    .bind(clip(&e.request))
    .bind(e.status)
    .bind(e.code.as_deref())
    .bind(clip(&e.detail))
    .bind(&e.trace_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Newest first, before the sequence number `before` when given.
pub async fn list(
    conn: &mut Conn,
    connection_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    let rows = match before {
        Some(b) => {
            db::query("SELECT seq, at, kind, request, status, code, detail, trace_id FROM error_log WHERE connection_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3")
                .bind(connection_id)
                .bind(b)
                .bind(limit)
                .fetch_all(conn)
                .await?
        }
        None => {
            db::query("SELECT seq, at, kind, request, status, code, detail, trace_id FROM error_log WHERE connection_id = $1 ORDER BY seq DESC LIMIT $2")
                .bind(connection_id)
                .bind(limit)
                .fetch_all(conn)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(Entry {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                request: r.try_get("request")?,
                status: r.try_get("status")?,
                code: r.try_get("code")?,
                detail: r.try_get("detail")?,
                trace_id: r.try_get("trace_id")?,
            })
        })
        .collect()
}
