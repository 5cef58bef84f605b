#!/usr/bin/env bash
# SCIM conformance: runs the third-party checker scim2-tester (through scim2-cli's
# `scim … test`) against a real Roster server, on SQLite and on PostgreSQL.
# The checker is installed into a venv outside the checkout by scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

. scripts/deps.sh
venv="$ROSTER_VENV"
cargo build --quiet --locked -p roster-server --bin roster
bin="$CARGO_TARGET_DIR/debug/roster"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

token="conformance-admin-token-$$-0123456789abcdef"
passed=0
failed=0

run() { # backend database-url
  local backend=$1 db=$2
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn,roster=info "$bin" serve --listen 127.0.0.1:0 --database "$db" --log-format json \
    2>"$work/server-$backend.log" &
  server_pid=$!
  local base=""
  for _ in $(seq 1 100); do
    base=$(python3 -c "
import json,sys
for line in open(sys.argv[1]):
    try: v = json.loads(line)
    except ValueError: continue
    if v.get('message') == 'roster serving': print('http://' + v['listen']); break
" "$work/server-$backend.log" 2>/dev/null || true)
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { echo "conformance ($backend): the server did not start"; cat "$work/server-$backend.log"; exit 1; }
  local api="$base/api/v1" auth="Authorization: Bearer $token" json="Content-Type: application/json"
  curl -sf -H "$auth" -H "$json" "$api/organizations" -d '{"name": "acme"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/companies/acme/domains" -d '{"domain": "example.com"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/companies/acme/domains/example.com/verify" -d '{"method": "manual"}' >/dev/null
  curl -sf -H "$auth" -H "$json" "$api/connections" -d '{"company": "acme", "name": "idp", "protocol": "saml",
    "domains": ["example.com"], "default_organization": "acme", "default_team": "everyone", "scim": true}' >/dev/null
  local scim_token
  scim_token=$(curl -sf -H "$auth" -X POST "$api/connections/idp/scim-tokens" | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
  local out="$work/tester-$backend.txt"
  if SCIM_CLI_HEADERS="Authorization: Bearer $scim_token" timeout 600 "$venv/bin/scim" --url "$base/scim/v2" test >"$out" 2>&1; then :; fi
  local ok bad
  ok=$(grep -c '^SUCCESS' "$out" || true)
  bad=$(grep -cE '^(ERROR|CRITICAL|SKIPPED)' "$out" || true)
  echo "scim2-tester on $backend: $ok checks passed, $bad failed"
  if [ "$bad" != "0" ] || [ "$ok" = "0" ]; then
    grep -A4 -E '^(ERROR|CRITICAL|SKIPPED)' "$out" | head -60
  fi
  passed=$((passed + ok))
  failed=$((failed + bad + (ok == 0 ? 1 : 0)))
  kill -TERM "$server_pid"; wait "$server_pid" || true
  server_pid=""
}

run sqlite "sqlite://$work/conformance.db"
name="roster_t_conformance_$$"
psql -X -q "$pg_admin" -c "CREATE DATABASE $name"
run postgres "${pg_admin%/*}/$name"
psql -X -q "$pg_admin" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"

echo "conformance: $passed passed, $failed failed"
[ "$failed" = "0" ]
