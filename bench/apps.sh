#!/usr/bin/env bash
# Roster's OpenID Provider under load, beside a peer in the same run: an app signs in a
# person who already has a session (authorization endpoint with prompt=none, then the
# token endpoint: the code exchanged with PKCE, an RS256 ID token signed), CONCURRENCY
# at once for SECONDS. The peer is the `oidc-provider` package (in memory, nothing on
# disk), run by the test fixture with one client and a signed-in browser. Each server
# runs alone on core 0 and the load on core 1; the CPU time each server spent per
# exchange is printed beside the rate.
#
#   bash bench/apps.sh
#   SECONDS_EACH=20 CONCURRENCY=32 bash bench/apps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
. scripts/deps.sh
. bench/lib.sh
seconds="${SECONDS_EACH:-10}"
conc="${CONCURRENCY:-16}"
token="bench-admin-token-$$-0123456789abcdefgh"
port=18099
base="http://127.0.0.1:$port"
redirect="https://app.bench.test/callback"

cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT


echo "code → token exchanges, server on core 0, load on core 1, $conc in flight, ${seconds}s each"

ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$bin/roster" serve --listen "127.0.0.1:$port" \
  --database "sqlite://$work/r.db" --log-format json --sso-requests-per-minute 4000000000 2>"$work/server.log" &
pid=$!
wait_ready "$base"
# The first request makes the signing keys; the load measures the steady state.
curl -sf "$base/oauth2/jwks" >/dev/null
before=$(cpu $pid)
taskset -c 1 "$bin/roster-load" --base "$base" --token "$token" --scenario oauth2-code --domain apps.test \
  --concurrency "$conc" --seconds "$seconds" --redirect-uri "$redirect" --label "roster (sqlite)" | tee "$work/roster.out"
per roster $pid "$before" "$work/roster.out"
kill -TERM $pid; wait $pid || true

secret="bench-client-secret-0123456789"
ROSTER_NODE=$ROSTER_NODE CLIENT_ID=bench CLIENT_SECRET=$secret REDIRECT_URI=$redirect \
  ACCOUNTS='{"u@apps.test": {"email": "u@apps.test", "email_verified": true, "name": "U"}}' \
  taskset -c 0 node crates/roster-server/tests/fixtures/oidc_provider.mjs >"$work/provider.out" 2>/dev/null &
provider=$!
for _ in $(seq 1 100); do grep -q issuer "$work/provider.out" 2>/dev/null && break; sleep 0.1; done
issuer=$(python3 -c "import json; print([json.loads(l)['issuer'] for l in open('$work/provider.out') if 'issuer' in l][0])")
cookie=$(cd bench && python3 op_session.py --issuer "$issuer" --client-id bench --redirect-uri "$redirect" --login u@apps.test)
before=$(cpu $provider)
taskset -c 1 "$bin/roster-load" --base "$issuer" --token unused --scenario oauth2-code --op-issuer "$issuer" \
  --op-cookie "$cookie" --client-id bench --client-secret "$secret" --redirect-uri "$redirect" \
  --concurrency "$conc" --seconds "$seconds" --label "oidc-provider (memory)" | tee "$work/peer.out"
per oidc-provider $provider "$before" "$work/peer.out"
