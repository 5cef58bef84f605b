#!/usr/bin/env bash
# Whole-server load: starts a release build of Roster on each configuration in turn
# (SQLite with group commit, SQLite committing every write alone, PostgreSQL), drives
# it with roster-load pinned to one core, and prints one line per run.
#
#   bash bench/run.sh            # 10 s per run
#   SECONDS_PER_RUN=30 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
secs="${SECONDS_PER_RUN:-10}"
conc="${CONCURRENCY:-32}"
token="bench-admin-token-$$-0123456789abcdefgh"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # label database-url extra-server-args...
  local label=$1 db=$2; shift 2
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$bin/roster" serve --listen 127.0.0.1:18099 --database "$db" --log-format json "$@" 2>"$work/server.log" &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18099/readyz >/dev/null && break; sleep 0.1; done
  for scenario in admin-writes admin-reads; do
    taskset -c 1 "$bin/roster-load" --base http://127.0.0.1:18099 --token "$token" --scenario "$scenario" \
      --concurrency "$conc" --seconds "$secs" --label "$label"
  done
  kill -TERM $pid; wait $pid || true
}

echo "roster load, $conc in flight, ${secs}s per run, server on core 0, load on core 1"
run "sqlite group-commit" "sqlite://$work/a.db"
run "sqlite commit-per-write" "sqlite://$work/b.db" --sqlite-batch 1
bash scripts/postgres.sh >/dev/null
name="roster_bench_$$"
psql -X -q "$pg_admin" -c "CREATE DATABASE $name"
run "postgres" "${pg_admin%/*}/$name"
psql -X -q "$pg_admin" -c "DROP DATABASE $name WITH (FORCE)"
