#!/usr/bin/env bash
# SAML sign-in load: a release build of Roster on SQLite (group commit) and on
# PostgreSQL; roster-load (pinned to one core) makes RESPONSES signed IdP-initiated
# responses for USERS people, then posts each once to the ACS: verify, replay cache,
# JIT provisioning, session. One line per run, and under it the CPU per sign-in of the
# server (and of PostgreSQL).
#
#   bash bench/saml.sh                          # 6,000 responses, 1,000 people
#   RESPONSES=20000 USERS=5000 bash bench/saml.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
. scripts/deps.sh
responses="${RESPONSES:-6000}"
users="${USERS:-1000}"
conc="${CONCURRENCY:-32}"
token="bench-admin-token-$$-0123456789abcdefgh"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
port=18097

cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # label database-url [cpu options...]
  local label=$1 db=$2 base="http://127.0.0.1:$port"
  shift 2
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$bin/roster" serve --listen "127.0.0.1:$port" --database "$db" \
    --log-format json --sso-requests-per-minute 4000000000 2>"$work/server.log" &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
  taskset -c 1 "$bin/roster-load" --base "$base" --token "$token" --scenario saml-acs --users "$users" \
    --domain bench.test --concurrency "$conc" --max-requests "$responses" --seconds 600 --label "$label" \
    --cpu-pid "$pid" "$@"
  kill -TERM $pid; wait $pid || true
}

echo "roster SAML sign-ins, $conc in flight, server on core 0, load on core 1"
run "sqlite group-commit" "sqlite://$work/a.db"
bash scripts/postgres.sh >/dev/null
name="roster_bench_saml_$$"
psql -X -q "$pg_admin" -c "CREATE DATABASE $name"
run "postgres" "${pg_admin%/*}/$name" --cpu-comm postgres
psql -X -q "$pg_admin" -c "DROP DATABASE $name WITH (FORCE)"
