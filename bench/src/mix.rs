//! `okta-mix`: the SCIM traffic an IdP such as Okta sends to a directory it keeps in
//! sync, over seeded users `u0…` (`--users`): in the proportions 30:10:15:15:10:10,
//! - a `userName eq` lookup of an existing user (it must find exactly one);
//! - a `GET /Users/{id}`;
//! - a create as Okta sends it: a `userName eq` lookup that finds nothing, then the
//!   `POST` (one operation, two requests);
//! - an `active` toggle, `{"op":"replace","value":{"active":false|true}}`, which
//!   deactivates and reactivates a person's memberships;
//! - a `name.givenName` replace;
//! - a single-member add or remove on one Group (`--group`), removes addressed as
//!   `members[value eq "…"]`, of users outside it (the patch scenarios' targets).
//!
//! Every answer is checked, so a server that answers fast but wrong shows errors.

use crate::{rand_index, Shared};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the mix picks from, found before the clock starts.
pub(crate) struct Mix {
    /// SCIM ids of the seeded users `u0…`, by index.
    seeded: Vec<String>,
    toggles: AtomicU64,
    group_ops: AtomicU64,
}

/// Looks up the SCIM ids of the seeded users, `--concurrency` at a time.
pub(crate) async fn setup(shared: &Shared) -> Result<Mix, String> {
    let a = &shared.args;
    let next = std::sync::Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (client, scim, token, domain, next, users) = (
            shared.client.clone(),
            shared.scim.clone(),
            a.scim_token.clone(),
            a.domain.clone(),
            next.clone(),
            a.users,
        );
        tasks.push(tokio::spawn(async move {
            let mut found = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users {
                    return Ok::<_, String>(found);
                }
                let v = lookup(&client, &scim, &token, &format!("u{i}@{domain}")).await?;
                let id = first_id(&v).ok_or_else(|| format!("u{i}@{domain} is not seeded: {v}"))?;
                found.push((i, id));
            }
        }));
    }
    let mut seeded = vec![String::new(); a.users as usize];
    for t in tasks {
        for (i, id) in t.await.map_err(|e| e.to_string())?? {
            if let Some(slot) = seeded.get_mut(i as usize) {
                *slot = id;
            }
        }
    }
    Ok(Mix {
        seeded,
        toggles: AtomicU64::new(0),
        group_ops: AtomicU64::new(0),
    })
}

async fn lookup(client: &reqwest::Client, scim: &str, token: &str, user_name: &str) -> Result<Value, String> {
    let r = client
        .get(format!("{scim}/Users"))
        .query(&[("filter", format!("userName eq \"{user_name}\""))])
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("lookup: {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("lookup: {e}"))
}

fn first_id(list: &Value) -> Option<String> {
    if list["totalResults"].as_u64() != Some(1) {
        return None;
    }
    list["Resources"][0]["id"].as_str().map(str::to_string)
}

/// One operation of the mix: request number `n`.
pub(crate) async fn one(shared: &Shared, n: u64) -> Result<(), String> {
    let a = &shared.args;
    let mix = shared.mix.as_ref().ok_or("no mix")?;
    let scim = &shared.scim;
    let pick = |salt: u64| -> Result<&String, String> {
        mix.seeded
            .get(rand_index(mix.seeded.len() as u64, n ^ salt) as usize)
            .ok_or_else(|| "no seeded users".to_string())
    };
    let patch = |path: String, op: Value| {
        shared
            .client
            .patch(format!("{scim}{path}"))
            .bearer_auth(&a.scim_token)
            .json(&json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op] }))
            .send()
    };
    let resp = match rand_index(90, n.wrapping_mul(31).wrapping_add(7)) {
        0..30 => {
            let i = rand_index(a.users, n);
            let v = lookup(&shared.client, scim, &a.scim_token, &format!("u{i}@{}", a.domain)).await?;
            return first_id(&v).map(drop).ok_or_else(|| format!("u{i} not found: {v}"));
        }
        30..40 => {
            let id = pick(1)?;
            shared
                .client
                .get(format!("{scim}/Users/{id}"))
                .bearer_auth(&a.scim_token)
                .send()
                .await
        }
        40..55 => {
            let user_name = format!("okta-{}-{n}@{}", std::process::id(), a.domain);
            let v = lookup(&shared.client, scim, &a.scim_token, &user_name).await?;
            if v["totalResults"].as_u64() != Some(0) {
                return Err(format!("{user_name} exists before it is made: {v}"));
            }
            shared
                .client
                .post(format!("{scim}/Users"))
                .bearer_auth(&a.scim_token)
                .json(
                    &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
                               "name": { "givenName": "New", "familyName": "Person" },
                               "emails": [{ "value": user_name, "type": "work", "primary": true }], "active": true }),
                )
                .send()
                .await
        }
        55..70 => {
            // Each user goes off, then on again.
            let t = mix.toggles.fetch_add(1, Ordering::Relaxed);
            let id = mix
                .seeded
                .get(((t / 2) % mix.seeded.len().max(1) as u64) as usize)
                .ok_or("no seeded users")?;
            patch(
                format!("/Users/{id}"),
                json!({ "op": "replace", "value": { "active": t % 2 == 1 } }),
            )
            .await
        }
        70..80 => {
            let id = pick(2)?;
            patch(
                format!("/Users/{id}"),
                json!({ "op": "replace", "path": "name.givenName", "value": format!("G{n}") }),
            )
            .await
        }
        _ => {
            // A user outside the group is added, then removed again.
            let g = mix.group_ops.fetch_add(1, Ordering::Relaxed);
            let id = shared
                .ids
                .get(((g / 2) % shared.ids.len().max(1) as u64) as usize)
                .ok_or("no users outside the group")?;
            let op = if g % 2 == 0 {
                json!({ "op": "add", "path": "members", "value": [{ "value": id }] })
            } else {
                json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") })
            };
            patch(format!("/Groups/{}", a.group), op).await
        }
    }
    .map_err(|e| e.to_string())?;
    crate::succeeded(resp).await
}
