//! `roster-load`: drives a running Roster server with a bounded, closed-loop load on a
//! single thread and prints throughput and latency percentiles.
//!
//! Scenarios:
//! - `admin-writes`: `POST /api/v1/organizations/{org}/teams` with fresh names (every
//!   request is one durable write and its audit event);
//! - `admin-reads`: `GET /api/v1/organizations/{org}/teams/{team}` (an indexed read
//!   plus admin-token check).

use clap::{Parser, ValueEnum};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Scenario {
    AdminWrites,
    AdminReads,
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
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to run (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Upper bound on requests, whatever the time.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// A label printed with the results.
    #[arg(long, default_value = "")]
    label: String,
}

struct Shared {
    client: reqwest::Client,
    args: Args,
    org: String,
    issued: AtomicU64,
}

async fn one(shared: &Shared, n: u64) -> Result<(), String> {
    let a = &shared.args;
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
            shared
                .client
                .get(format!("{}/api/v1/organizations/{}/teams/reader", a.base, shared.org))
                .bearer_auth(&a.token)
                .send()
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    let status = resp.status();
    let _ = resp.bytes().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
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
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared { client, args, org, issued: AtomicU64::new(0) });
        setup(&shared).await?;
        let warmup_end = Instant::now() + Duration::from_secs(1);
        let end = warmup_end + Duration::from_secs(shared.args.seconds);
        let mut tasks = Vec::new();
        for _ in 0..shared.args.concurrency {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                loop {
                    let n = shared.issued.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    if now >= end || n >= shared.args.max_requests {
                        break;
                    }
                    let result = one(&shared, n).await;
                    if now >= warmup_end {
                        match result {
                            Ok(()) => lat.push(now.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
                            Err(e) => {
                                errors += 1;
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                }
                (lat, errors, first_error)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for t in tasks {
            let (lat, e, fe) = t.await.map_err(|e| e.to_string())?;
            all.extend(lat);
            errors += e;
            if first_error.is_none() {
                first_error = fe;
            }
        }
        all.sort_unstable();
        let secs = shared.args.seconds as f64;
        println!(
            "{:<28} {:>14?} conc={:<4} ok={:<8} err={:<5} {:>9.0} req/s  p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
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
        if let Some(e) = first_error {
            println!("  first error: {e}");
        }
        Ok(())
    })
}
