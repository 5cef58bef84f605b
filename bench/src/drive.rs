//! The two ways of driving the load: a closed loop (a fixed number of requests in
//! flight) and an open loop (requests on a fixed schedule).

use crate::{one, Shared};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies (µs) of the requests that succeeded after the warm-up, the failures, when
/// the last request ended, and the first failure.
pub type Outcome = (Vec<u32>, u64, Instant, Option<String>);

/// `--concurrency` tasks, each sending its next request when the last one is answered.
pub async fn closed_loop(shared: &Arc<Shared>, warmup_end: Instant, end: Instant) -> Result<Outcome, String> {
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
                        Ok(()) => lat.push(micros(now.elapsed())),
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
    let mut last_done = warmup_end;
    let mut first_error = None;
    for t in tasks {
        let (lat, e, fe) = t.await.map_err(|e| e.to_string())?;
        last_done = last_done.max(Instant::now());
        all.extend(lat);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    Ok((all, errors, last_done, first_error))
}

/// Requests sent on a schedule of `rate` per second from the start of the warm-up, at
/// most `--concurrency` in flight. A request's latency is measured from its scheduled
/// time, not from when it could be sent: waiting for a free slot, or for the timer,
/// counts against the server.
pub async fn open_loop(shared: &Arc<Shared>, rate: f64, warmup_end: Instant, end: Instant) -> Result<Outcome, String> {
    let start = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(shared.args.concurrency));
    let mut running = tokio::task::JoinSet::new();
    let mut outcome: Outcome = (Vec::new(), 0, warmup_end, None);
    let total = ((end - start).as_secs_f64() * rate).ceil() as u64;
    let total = total.min(shared.args.max_requests);
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        wait_until(scheduled).await;
        let slot = slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        // A server still behind the schedule a second after the end is not waited for:
        // the requests it left unsent count as failures.
        if Instant::now() >= end + Duration::from_secs(1) {
            let unsent = (total - i) as usize;
            let after_warmup = (i..total)
                .filter(|j| start + Duration::from_secs_f64(*j as f64 / rate) >= warmup_end)
                .count();
            outcome.1 += after_warmup as u64;
            outcome.3.get_or_insert(format!(
                "{unsent} requests not sent by the end of the run: the server fell behind {rate:.0}/s"
            ));
            break;
        }
        let shared = shared.clone();
        let n = shared.issued.fetch_add(1, Ordering::Relaxed);
        running.spawn(async move {
            let result = one(&shared, n).await;
            drop(slot);
            (scheduled, result, Instant::now())
        });
        while let Some(done) = running.try_join_next() {
            tally(&mut outcome, done.map_err(|e| e.to_string())?, warmup_end);
        }
    }
    while let Some(done) = running.join_next().await {
        tally(&mut outcome, done.map_err(|e| e.to_string())?, warmup_end);
    }
    Ok(outcome)
}

/// Waits until `at`, to within a few microseconds: the timer's millisecond would add up to
/// a millisecond to every latency. The last millisecond is spent yielding, which lets the
/// runtime handle the answers meanwhile (the load has a core of its own).
async fn wait_until(at: Instant) {
    let coarse = at.checked_sub(Duration::from_millis(1)).unwrap_or(at);
    if Instant::now() < coarse {
        tokio::time::sleep_until(coarse.into()).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Counts one finished request of the open loop: `(scheduled, result, finished)`.
fn tally(
    outcome: &mut Outcome,
    (scheduled, result, finished): (Instant, Result<(), String>, Instant),
    warmup_end: Instant,
) {
    outcome.2 = outcome.2.max(finished);
    if scheduled < warmup_end {
        return;
    }
    match result {
        Ok(()) => outcome.0.push(micros(finished.saturating_duration_since(scheduled))),
        Err(e) => {
            outcome.1 += 1;
            outcome.3.get_or_insert(e);
        }
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}
