#!/usr/bin/env bash
# The admin console's pages with USERS members in one organization (SQLite, release
# build): each page fetched TIMES times on loopback by curl after one warm-up, and the
# median and slowest time to the last byte printed (the server's time plus a loopback
# round trip). The organization page is shown unfiltered, filtered by role (owners: a
# few among many) and by state (deactivated: none), deep in its paging and by email
# prefix. The overview's chart counts the seeding's audit events first (the
# background roll-up and the overview itself), so the overview is measured once the
# roll-up has caught up, as it is on a server that has been up a minute.
#
#   bash bench/console.sh
#   USERS=10000 TIMES=50 bash bench/console.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
users="${USERS:-100000}"
times="${TIMES:-20}"
token="bench-admin-token-$$-0123456789abcdefgh"
port=18095
base="http://127.0.0.1:$port"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --locked -p roster-server -p roster-bench 2>/dev/null
bin="$CARGO_TARGET_DIR/release"
ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$bin/roster" serve --listen "127.0.0.1:$port" \
  --database "sqlite://$work/console.db" --log-format json 2>"$work/server.log" &
wait_ready "$base"
scim=$(scim_setup "$base" "$token")
taskset -c 1 "$bin/roster-load" --base "$base" --token "$token" --scim-token "$scim" --users "$users" \
  --domain bench.test --scenario scim-seed >/dev/null

# A console session, as a browser gets one.
cookie=$(curl -s -o /dev/null -D - -X POST -H "Sec-Fetch-Site: same-origin" --data-urlencode "token=$token" \
  -d next=/admin "$base/admin/login" | tr -d '\r' | sed -n 's/^set-cookie: \(roster_console=[^;]*\).*/\1/ip')
org=$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/organizations/acme" |
  python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
conn=$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/connections/idp" |
  python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
# The chart's roll-up catches up with the seeding (a batch per overview, and the
# background's every 30 s).
for _ in $(seq 1 400); do
  t=$(curl -sf -o /dev/null -w '%{time_total}' -H "Cookie: $cookie" "$base/admin")
  awk -v t="$t" 'BEGIN { exit !(t < 0.05) }' && break
done
today=$(date -u +%F)
deep=$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/organizations/acme/members?limit=1000" -D "$work/h" -o /dev/null &&
  tr -d '\r' <"$work/h" | sed -n 's/^x-next-cursor: //ip')

echo "console pages, $users members in one organization, SQLite, $times fetches each after a warm-up"
for page in "/admin" "/admin/organizations" "/admin/organizations/$org" "/admin/organizations/$org?role=owner" \
  "/admin/organizations/$org?state=deactivated" "/admin/organizations/$org?after=$deep" \
  "/admin/organizations/$org?email=u9999" "/admin/audit" "/admin/audit?kind=membership." \
  "/admin/audit?from=$today&until=$today" "/admin/domains" "/admin/connections" "/admin/connections/$conn" \
  "/admin/connections/$conn/playground" "/admin/apps" "/admin/webhooks"; do
  curl -sf -o /dev/null -H "Cookie: $cookie" "$base$page"
  for _ in $(seq 1 "$times"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Cookie: $cookie" "$base$page"
  done | sort -n | awk -v p="$page" '{ t[NR] = $1 } END {
    printf "  %-60s median %6.1f ms   slowest %6.1f ms\n", p, t[int((NR + 1) / 2)] * 1000, t[NR] * 1000 }'
done
