#!/usr/bin/env bash
# Sign-ins end to end on one release build of Roster (SQLite, group commit), SAML and
# OIDC in the same run, with the CPU time Roster spent per sign-in beside the rate:
#   - SAML: roster-load posts RESPONSES signed IdP-initiated responses of USERS people
#     to the ACS (verify, replay cache, JIT provisioning, session);
#   - OIDC: bench/oidc_driver.py signs SIGNINS browsers in through the `oidc-provider`
#     package (its login and consent pages, then Roster's callback: code exchange, ID
#     token verification, userinfo, JIT provisioning, session).
# Roster runs on core 0; the load and the provider on core 1.
#
#   bash bench/signins.sh
#   RESPONSES=20000 SIGNINS=2000 bash bench/signins.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
. scripts/deps.sh
responses="${RESPONSES:-6000}"
signins="${SIGNINS:-1000}"
users="${USERS:-500}"
token="bench-admin-token-$$-0123456789abcdefgh"
port=18098
base="http://127.0.0.1:$port"

cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cpu() { # pid → user+system CPU seconds
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$bin/roster" serve --listen "127.0.0.1:$port" \
  --database "sqlite://$work/r.db" --log-format json --sso-requests-per-minute 4000000000 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

echo "roster sign-ins, server on core 0, load and provider on core 1"
before=$(cpu $pid)
taskset -c 1 "$bin/roster-load" --base "$base" --token "$token" --scenario saml-acs --users "$users" \
  --domain saml.test --concurrency 32 --max-requests "$responses" --seconds 600 --label "saml (ACS)" | tee "$work/saml.out"
after=$(cpu $pid)
ok=$(grep -o 'ok=[0-9]*' "$work/saml.out" | head -1 | cut -d= -f2)
awk -v a="$after" -v b="$before" -v n="$ok" 'BEGIN { printf "  roster CPU %.2f ms/sign-in (setup included)\n", (a - b) * 1000 / n }'

secret="bench-client-secret-0123456789"
python3 bench/oidc_driver.py --base "$base" --token "$token" --client-id bench --client-secret "$secret" \
  --conn-file "$work/conn" --setup >"$work/redirect"
accounts=$(python3 -c "import json; print(json.dumps({f'u{i}@oidc.test': {'email': f'u{i}@oidc.test', 'email_verified': True, 'name': f'User {i}', 'groups': ['oidcbench:eng']} for i in range($users)}))")
ROSTER_NODE=$ROSTER_NODE CLIENT_ID=bench CLIENT_SECRET=$secret REDIRECT_URI=$(cat "$work/redirect") ACCOUNTS=$accounts \
  taskset -c 1 node crates/roster-server/tests/fixtures/oidc_provider.mjs >"$work/provider.out" 2>/dev/null &
provider=$!
for _ in $(seq 1 100); do grep -q issuer "$work/provider.out" 2>/dev/null && break; sleep 0.1; done
issuer=$(python3 -c "import json,sys; print([json.loads(l)['issuer'] for l in open('$work/provider.out') if 'issuer' in l][0])")
taskset -c 1 python3 bench/oidc_driver.py --base "$base" --token "$token" --client-id bench --client-secret "$secret" \
  --conn-file "$work/conn" --issuer "$issuer" --pid $pid --provider-pid $provider --users "$users" \
  --signins "$signins" --concurrency 8 --label "oidc (login→callback)"
kill -TERM $pid; wait $pid || true
