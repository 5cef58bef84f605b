//! `roster-load`: drives a running Roster server on a single thread and prints
//! throughput and latency percentiles. By default the load is a closed loop: `--concurrency`
//! requests in flight, each sent as soon as the one before it is answered, which measures
//! the most the server does at that concurrency (its latency is then that concurrency
//! divided by the throughput). With `--rate R` the load is an open loop: requests are
//! sent on a fixed schedule of R per second whether or not earlier ones were answered,
//! and each request's latency runs from when the schedule said to send it, so a stalled
//! server is charged for every request it delayed. That measures the latency at a given
//! throughput.
//!
//! Scenarios:
//! - `admin-writes`: `POST /api/v1/organizations/{org}/teams` with fresh names (every
//!   request is one durable write and its audit event);
//! - `admin-reads`: `GET /api/v1/organizations/{org}/teams/{team}` (an indexed read
//!   plus admin-token check).
//! - `scim-seed`: creates `--users` SCIM Users (`u<n>@<domain>`) and two Groups holding
//!   the first 1,000 and all of them (`acme:small`, `acme:big`); prints the group ids.
//! - `scim-create`: `POST /scim/v2/Users` of new people (each provisions an account,
//!   a membership and a team membership, with their audit events).
//! - `scim-filter`: `GET /scim/v2/Users?filter=userName eq "…"` among the seeded users.
//! - `scim-patch-user`: `PATCH /scim/v2/Users/{id}` replacing `title`.
//! - `scim-group-patch`: single-member `PATCH` (add, then remove) on `--group`.
//! - `saml-acs`: IdP-initiated SAML sign-ins through `POST /sso/saml/{id}/acs`, end to
//!   end (verify, replay cache, JIT provisioning of `--users` people, session). The
//!   `--max-requests` responses (Okta's and Entra's shapes, signed by xmlsec1 through
//!   the test IdP) are made before the clock starts; each is used once.
//! - `okta-mix`: the traffic an IdP keeping a directory in sync sends (see [`mix`]).
//! - `oauth2-code`: an app signing in a person who has a session at the OpenID
//!   Provider: the authorization endpoint (`prompt=none`: a code at once) then the token
//!   endpoint (the code exchanged with its PKCE verifier, an RS256 ID token signed); one
//!   request counts both. Against Roster (`--base`), the person signs in once through
//!   the SAML ACS before the clock starts; against another provider (`--op-issuer`),
//!   the caller passes the session cookie and the client.

mod cpu;
mod drive;
mod mix;
mod oauth;
mod saml;

use clap::{Parser, ValueEnum};
use drive::{closed_loop, open_loop};
use oauth::{oauth_setup, OAuth, PKCE_CHALLENGE, PKCE_VERIFIER};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Scenario {
    AdminWrites,
    AdminReads,
    ScimSeed,
    ScimCreate,
    ScimFilter,
    ScimPatchUser,
    ScimGroupPatch,
    SamlAcs,
    Oauth2Code,
    OktaMix,
    /// `GET /healthz`: a request that does no work, through every layer of the server.
    /// The ceiling that HTTP, the layers and the machine leave to the others.
    HttpFloor,
}

#[derive(Parser)]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Admin bearer token.
    #[arg(long, env = "ROSTER_ADMIN_TOKEN")]
    token: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Requests in flight at once (with `--rate`: at most, and connections opened).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Requests per second on a fixed schedule (an open loop), instead of a closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to run (after a warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Upper bound on requests, whatever the time.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// A label printed with the results.
    #[arg(long, default_value = "")]
    label: String,
    /// Processes whose CPU time per request to report: the server's.
    #[arg(long)]
    cpu_pid: Vec<u32>,
    /// The database server's processes by name (`postgres`), for its CPU per request.
    #[arg(long)]
    cpu_comm: Option<String>,
    /// The SCIM base URL, when not `<base>/scim/v2` (another server's).
    #[arg(long)]
    scim_base: Option<String>,
    /// SCIM bearer token (SCIM scenarios).
    #[arg(long, env = "ROSTER_SCIM_TOKEN", default_value = "")]
    scim_token: String,
    /// How many seeded users the SCIM scenarios pick from.
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// The verified email domain of the SCIM users.
    #[arg(long, default_value = "bench.test")]
    domain: String,
    /// Group id for `scim-group-patch` and `okta-mix`.
    #[arg(long, default_value = "")]
    group: String,
    /// For the PATCH scenarios: a file of the Users they patch, one id per line. Read
    /// when it exists; otherwise the Users are created and their ids written there, so
    /// that a later run does not create them again.
    #[arg(long)]
    targets: Option<std::path::PathBuf>,
    /// `oauth2-code` against another OpenID Provider: its issuer, the browser's
    /// session cookie there, and the client (id, secret, redirect URI).
    #[arg(long)]
    op_issuer: Option<String>,
    #[arg(long, default_value = "")]
    op_cookie: String,
    #[arg(long, default_value = "")]
    client_id: String,
    #[arg(long, default_value = "")]
    client_secret: String,
    #[arg(long, default_value = "https://app.bench.test/callback")]
    redirect_uri: String,
}

struct Shared {
    client: reqwest::Client,
    args: Args,
    org: String,
    issued: AtomicU64,
    /// SCIM ids of the seeded users, by index (filled by a lookup for patch scenarios).
    ids: Vec<String>,
    /// `saml-acs`: the ACS path and the form bodies to post, one per request.
    acs: Option<(String, Vec<String>)>,
    /// `oauth2-code`: what it drives.
    oauth: Option<OAuth>,
    /// The SCIM base URL.
    scim: String,
    /// `okta-mix`: the seeded users.
    mix: Option<mix::Mix>,
}

fn rand_index(n: u64, salt: u64) -> u64 {
    // A cheap, deterministic spread over 0..n (xorshift of the request number).
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    x % n.max(1)
}

async fn one(shared: &Shared, n: u64) -> Result<(), String> {
    let a = &shared.args;
    let scim = &shared.scim;
    let resp = match a.scenario {
        Scenario::AdminWrites => {
            shared
                .client
                .post(format!("{}/api/v1/organizations/{}/teams", a.base, shared.org))
                .bearer_auth(&a.token)
                .json(&json!({ "name": format!("load-{n}") }))
                .send()
                .await
        }
        Scenario::AdminReads => {
            shared.client.get(format!("{}/api/v1/organizations/{}/teams/reader", a.base, shared.org)).bearer_auth(&a.token).send().await
        }
        Scenario::ScimSeed => return Err("scim-seed is not a timed scenario".into()),
        Scenario::HttpFloor => shared.client.get(format!("{}/healthz", a.base)).send().await,
        Scenario::OktaMix => return mix::one(shared, n).await,
        Scenario::SamlAcs => {
            let (path, forms) = shared.acs.as_ref().ok_or("no responses")?;
            let form = forms.get(n as usize).ok_or("out of responses")?;
            let r = shared
                .client
                .post(format!("{}{path}", a.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let _ = r.bytes().await;
            return if status == reqwest::StatusCode::SEE_OTHER {
                Ok(())
            } else {
                Err(format!("status {status}"))
            };
        }
        Scenario::Oauth2Code => {
            let o = shared.oauth.as_ref().ok_or("no session")?;
            let r = shared
                .client
                .get(&o.authorize)
                .query(&[
                    ("client_id", o.client_id.as_str()),
                    ("redirect_uri", o.redirect_uri.as_str()),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("prompt", "none"),
                    ("nonce", "bench"),
                    ("code_challenge", PKCE_CHALLENGE),
                    ("code_challenge_method", "S256"),
                ])
                .header("cookie", &o.cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let code = url::Url::parse(&location)
                .ok()
                .and_then(|u| u.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()))
                .ok_or_else(|| format!("no code: {} {location}", r.status()))?;
            let t = shared
                .client
                .post(&o.token)
                .basic_auth(&o.client_id, Some(&o.secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", o.redirect_uri.as_str()),
                    ("code_verifier", PKCE_VERIFIER),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = t.status();
            let body = t.bytes().await.unwrap_or_default();
            return if status.is_success() && body.windows(8).any(|w| w == b"id_token") {
                Ok(())
            } else {
                Err(format!("token: {status} {}", String::from_utf8_lossy(&body)))
            };
        }
        Scenario::ScimCreate => {
            shared
                .client
                .post(format!("{scim}/Users"))
                .bearer_auth(&a.scim_token)
                .json(&json!({ "userName": format!("new-{}-{n}@{}", std::process::id(), a.domain), "name": { "givenName": "New", "familyName": "Person" } }))
                .send()
                .await
        }
        Scenario::ScimFilter => {
            let i = rand_index(a.users, n);
            shared
                .client
                .get(format!("{scim}/Users"))
                .query(&[("filter", format!("userName eq \"u{i}@{}\"", a.domain))])
                .bearer_auth(&a.scim_token)
                .send()
                .await
        }
        Scenario::ScimPatchUser => {
            let id = shared.ids.get(rand_index(shared.ids.len() as u64, n) as usize).ok_or("no users")?;
            shared
                .client
                .patch(format!("{scim}/Users/{id}"))
                .bearer_auth(&a.scim_token)
                .json(&json!({ "Operations": [{ "op": "replace", "path": "title", "value": format!("t{n}") }] }))
                .send()
                .await
        }
        Scenario::ScimGroupPatch => {
            // Even requests add a member outside the group, odd ones remove it again.
            let id = shared.ids.get(((n / 2) % shared.ids.len().max(1) as u64) as usize).ok_or("no users")?;
            let op = if n.is_multiple_of(2) {
                json!({ "op": "add", "path": "members", "value": [{ "value": id }] })
            } else {
                json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") })
            };
            shared
                .client
                .patch(format!("{scim}/Groups/{}?excludedAttributes=members", a.group))
                .bearer_auth(&a.scim_token)
                .json(&json!({ "Operations": [op] }))
                .send()
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    succeeded(resp).await
}

/// Reads an answer to its end: an error unless its status is a success.
async fn succeeded(resp: reqwest::Response) -> Result<(), String> {
    let status = resp.status();
    let _ = resp.bytes().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

/// Creates the users and the two groups of the SCIM scenarios; prints the group ids.
async fn seed(shared: &Shared) -> Result<(), String> {
    let a = &shared.args;
    let scim = &shared.scim;
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); a.users as usize]));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (client, scim, token, domain, next, ids, users) = (
            shared.client.clone(),
            scim.clone(),
            a.scim_token.clone(),
            a.domain.clone(),
            next.clone(),
            ids.clone(),
            a.users,
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users {
                    return Ok::<(), String>(());
                }
                let r = client
                    .post(format!("{scim}/Users"))
                    .bearer_auth(&token)
                    .json(&json!({ "userName": format!("u{i}@{domain}"), "externalId": format!("x{i}") }))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("seeding u{i}: {}", r.status()));
                }
                let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
                if let (Some(id), Ok(mut all)) = (v["id"].as_str(), ids.lock()) {
                    all[i as usize] = id.to_string();
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} users in {secs:.1}s ({:.0}/s)",
        a.users,
        a.users as f64 / secs
    );
    let ids = ids.lock().map_err(|e| e.to_string())?.clone();
    for (name, size) in [("acme:small", 1000usize.min(ids.len())), ("acme:big", ids.len())] {
        let r = shared
            .client
            .post(format!("{scim}/Groups"))
            .bearer_auth(&a.scim_token)
            .json(&json!({ "displayName": name }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        let gid = v["id"].as_str().ok_or("no group id")?.to_string();
        for chunk in ids[..size].chunks(1000) {
            let members: Vec<serde_json::Value> = chunk.iter().map(|id| json!({ "value": id })).collect();
            let r = shared
                .client
                .patch(format!("{scim}/Groups/{gid}?excludedAttributes=members"))
                .bearer_auth(&a.scim_token)
                .json(&json!({ "Operations": [{ "op": "add", "path": "members", "value": members }] }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("filling {name}: {}", r.status()));
            }
        }
        println!("{name}={gid}");
    }
    Ok(())
}

/// The SCIM ids of users outside the groups (for the patch scenarios): a page of new
/// ones created for the purpose.
async fn patch_targets(shared: &Shared) -> Result<Vec<String>, String> {
    let a = &shared.args;
    let mut out = Vec::new();
    for i in 0..200 {
        let r = shared
            .client
            .post(format!("{}/Users", shared.scim))
            .bearer_auth(&a.scim_token)
            .json(&json!({ "userName": format!("p{}-{i}@{}", std::process::id(), a.domain) }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        out.push(v["id"].as_str().ok_or("no id")?.to_string());
    }
    Ok(out)
}

async fn setup(shared: &Shared) -> Result<(), String> {
    let a = &shared.args;
    let post = |path: String, body: serde_json::Value| {
        shared
            .client
            .post(format!("{}{path}", a.base))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
    };
    let r = post("/api/v1/organizations".into(), json!({ "name": shared.org }))
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("creating the organization: {}", r.status()));
    }
    let r = post(
        format!("/api/v1/organizations/{}/teams", shared.org),
        json!({ "name": "reader" }),
    )
    .await
    .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("creating the team: {}", r.status()));
    }
    Ok(())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let org = format!("load-{}", std::process::id());
        // Redirects are answers to measure (the ACS answers 303), not to follow.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .redirect(reqwest::redirect::Policy::none())
            .build().map_err(|e| e.to_string())?;
        let admin_scenario = matches!(args.scenario, Scenario::AdminWrites | Scenario::AdminReads);
        let scim = args.scim_base.clone().unwrap_or_else(|| format!("{}/scim/v2", args.base));
        let mut shared = Shared { client, args, org, issued: AtomicU64::new(0), ids: Vec::new(), acs: None, oauth: None, scim, mix: None };
        if matches!(shared.args.scenario, Scenario::ScimSeed) {
            return seed(&shared).await;
        }
        if matches!(shared.args.scenario, Scenario::SamlAcs) {
            let (path, forms) = saml::saml_setup(&shared, shared.args.max_requests).await?;
            shared.args.max_requests = forms.len() as u64;
            shared.acs = Some((path, forms));
        } else if matches!(shared.args.scenario, Scenario::Oauth2Code) {
            shared.oauth = Some(oauth_setup(&shared).await?);
        } else if admin_scenario {
            setup(&shared).await?;
        } else if matches!(shared.args.scenario, Scenario::ScimPatchUser | Scenario::ScimGroupPatch | Scenario::OktaMix) {
                shared.ids = match shared.args.targets.as_deref().map(std::fs::read_to_string) {
                    Some(Ok(text)) => text.lines().map(str::to_string).collect(),
                    _ => {
                        let ids = patch_targets(&shared).await?;
                        if let Some(path) = &shared.args.targets {
                            std::fs::write(path, ids.join("\n")).map_err(|e| e.to_string())?;
                        }
                        ids
                    }
                };
        }
        if matches!(shared.args.scenario, Scenario::OktaMix) {
            shared.mix = Some(mix::setup(&shared).await?);
        }
        let shared = Arc::new(shared);
        // A one-second warm-up; a quarter of that where every request is made in advance.
        let warmup = if shared.acs.is_some() { Duration::from_millis(250) } else { Duration::from_secs(1) };
        let warmup_end = Instant::now() + warmup;
        let end = warmup_end + Duration::from_secs(shared.args.seconds);
        let (pids, comm) = (shared.args.cpu_pid.clone(), shared.args.cpu_comm.clone());
        let cpu_start = tokio::spawn(async move {
            tokio::time::sleep_until(warmup_end.into()).await;
            cpu::read(&pids, comm.as_deref())
        });
        let (mut all, errors, last_done, first_error) = match shared.args.rate {
            Some(rate) if rate > 0.0 => open_loop(&shared, rate, warmup_end, end).await?,
            Some(_) => return Err("--rate must be above 0".into()),
            None => closed_loop(&shared, warmup_end, end).await?,
        };
        let cpu_end = cpu::read(&shared.args.cpu_pid, shared.args.cpu_comm.as_deref());
        let cpu_start = cpu_start.await.map_err(|e| e.to_string())?;
        all.sort_unstable();
        // A bounded scenario may run out of requests before the time is up; an open loop
        // whose server fell behind answers after it, and that time counts too.
        let elapsed = last_done.saturating_duration_since(warmup_end).as_secs_f64().max(0.001);
        let secs = if shared.args.rate.is_some() { elapsed } else { elapsed.min(shared.args.seconds as f64) };
        let offered = shared.args.rate.map_or(String::new(), |r| format!("rate={r:.0}/s "));
        println!(
            "{:<28} {:>14?} {offered}conc={:<4} ok={:<8} err={:<5} {:>9.0} req/s  p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            shared.args.label,
            shared.args.scenario,
            shared.args.concurrency,
            all.len(),
            errors,
            all.len() as f64 / secs,
            percentile(&all, 0.50),
            percentile(&all, 0.90),
            percentile(&all, 0.99),
            percentile(&all, 1.0),
        );
        if !shared.args.cpu_pid.is_empty() {
            println!("  {}", cpu::per_request(cpu_start, cpu_end, all.len(), shared.args.cpu_comm.is_some()));
        }
        if let Some(e) = first_error {
            println!("  first error: {e}");
        }
        Ok(())
    })
}
