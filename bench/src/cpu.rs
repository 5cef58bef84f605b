//! The CPU time processes spent, from `/proc`: the server's (`--cpu-pid`) and its
//! database's (every process named `--cpu-comm`, e.g. `postgres`), read when the clock
//! starts and when it stops, so that each run reports CPU per request beside its
//! throughput. Throughput drifts with the machine; CPU per request much less.

/// CPU seconds (user + system) of `pid`, or 0 when it is gone.
fn seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name, which may hold spaces, in parentheses.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    // Linux reports times in USER_HZ, which is 100 on every architecture it runs on.
    100.0
}

/// Processes named `comm`.
fn named(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm))
        .collect()
}

/// A reading: (the server's CPU seconds, the database's).
#[derive(Clone, Copy, Default)]
pub(crate) struct Reading {
    server: f64,
    database: f64,
}

pub(crate) fn read(pids: &[u32], comm: Option<&str>) -> Reading {
    Reading {
        server: pids.iter().map(|p| seconds(*p)).sum(),
        database: comm.map_or(0.0, |c| named(c).into_iter().map(seconds).sum()),
    }
}

/// "cpu/req server=… db=…" in microseconds, for `requests` between the readings.
pub(crate) fn per_request(before: Reading, after: Reading, requests: usize, with_db: bool) -> String {
    let n = requests.max(1) as f64;
    let server = (after.server - before.server) * 1e6 / n;
    if with_db {
        let db = (after.database - before.database) * 1e6 / n;
        format!("cpu/req server={server:.0}us db={db:.0}us")
    } else {
        format!("cpu/req server={server:.0}us")
    }
}
