//! Activity per company per UTC day — sign-ins and SCIM changes — rolled up from the
//! audit log for the console's chart. [`roll_up`] reads the log in commit order after
//! its cursor (the events feed's order, so no event is skipped or counted twice) and
//! adds to the day counts and moves the cursor in the caller's transaction. Reading
//! the chart is then a few rows per company, whatever the traffic.

use crate::audit::{self, FeedQuery, Position};
use crate::db::{self, Conn};
use crate::StoreError;
use std::collections::{BTreeMap, HashMap};

pub const DAY_MS: i64 = 86_400_000;

/// One day of one company's activity (or of every company's, summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Day {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub sign_ins: i64,
    pub scim_changes: i64,
}

/// Counts up to `batch` audit events past the cursor; answers how many were read.
pub async fn roll_up(conn: &mut Conn, batch: i64) -> Result<usize, StoreError> {
    // One roll-up at a time, whatever the nodes: the cursor row is locked until this
    // transaction ends (SQLite's single writer serializes them anyway), and a waiting
    // one then reads the cursor the first moved.
    db::query("INSERT INTO activity_cursor (id, tx, seq) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING")
        .execute(&mut *conn)
        .await?;
    let lock = match crate::backend_of(conn) {
        crate::Backend::Postgres => " FOR UPDATE",
        crate::Backend::Sqlite => "",
    };
    let cursor = db::query(&format!("SELECT tx, seq FROM activity_cursor WHERE id = 1{lock}"))
        .fetch_optional(&mut *conn)
        .await?;
    let after = match cursor {
        Some(r) => Position {
            tx: r.try_get("tx")?,
            seq: r.try_get("seq")?,
        },
        None => Position::default(),
    };
    let events = audit::feed(
        conn,
        &FeedQuery {
            after: Some(after),
            since: 0,
            limit: batch,
        },
    )
    .await?;
    let Some((last, _)) = events.last() else { return Ok(0) };
    let last = *last;
    // A SCIM change names its connection; the chart is per company.
    let mut companies: HashMap<String, String> = HashMap::new();
    if events
        .iter()
        .any(|(_, e)| e.company_id.is_none() && e.connection_id.is_some())
    {
        for r in db::query("SELECT id, company_id FROM connections")
            .fetch_all(&mut *conn)
            .await?
        {
            companies.insert(r.try_get("id")?, r.try_get("company_id")?);
        }
    }
    let mut counts: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for (_, e) in &events {
        let sign_in = e.action == "session.start" && e.actor_kind == "sso";
        let scim = e.actor_kind == "scim";
        if !sign_in && !scim {
            continue;
        }
        let company = e
            .company_id
            .clone()
            .or_else(|| e.connection_id.as_ref().and_then(|c| companies.get(c).cloned()));
        let Some(company) = company else { continue };
        let n = counts.entry((company, e.at.div_euclid(DAY_MS))).or_default();
        if sign_in {
            n.0 += 1;
        } else {
            n.1 += 1;
        }
    }
    for ((company, day), (sign_ins, scim_changes)) in counts {
        db::query(
            "INSERT INTO activity_days (company_id, day, sign_ins, scim_changes) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (company_id, day) DO UPDATE SET sign_ins = activity_days.sign_ins + excluded.sign_ins, \
             scim_changes = activity_days.scim_changes + excluded.scim_changes",
        )
        .bind(&company)
        .bind(day)
        .bind(sign_ins)
        .bind(scim_changes)
        .execute(&mut *conn)
        .await?;
    }
    db::query("UPDATE activity_cursor SET tx = $1, seq = $2 WHERE id = 1")
        .bind(last.tx)
        .bind(last.seq)
        .execute(&mut *conn)
        .await?;
    Ok(events.len())
}

/// The activity of `company` (every company's, summed, for `None`) on each day from
/// `first_day` on; days without activity are left out.
pub async fn days(conn: &mut Conn, company: Option<&str>, first_day: i64) -> Result<Vec<Day>, StoreError> {
    let rows = match company {
        Some(c) => db::query(
            "SELECT day, sign_ins, scim_changes FROM activity_days WHERE company_id = $1 AND day >= $2 ORDER BY day",
        )
        .bind(c)
        .bind(first_day)
        .fetch_all(conn)
        .await?,
        None => db::query(
            "SELECT day, CAST(SUM(sign_ins) AS BIGINT) AS sign_ins, CAST(SUM(scim_changes) AS BIGINT) AS scim_changes \
                 FROM activity_days \
WHERE day >= $1 GROUP BY day ORDER BY day",
        )
        .bind(first_day)
        .fetch_all(conn)
        .await?,
    };
    rows.iter()
        .map(|r| {
            Ok(Day {
                day: r.try_get("day")?,
                sign_ins: r.try_get("sign_ins")?,
                scim_changes: r.try_get("scim_changes")?,
            })
        })
        .collect()
}
