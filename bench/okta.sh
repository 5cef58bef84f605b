#!/usr/bin/env bash
# The SCIM traffic an IdP really sends, side by side in one run:
#   - Roster on SQLite and on PostgreSQL (release build), and an in-memory peer,
#     @boxyhq/saml-jackson's directory sync (bench/peer), each seeded with USERS users
#     and two groups (1,000 and USERS members);
#   - the Okta-like mix (bench/src/mix.rs) on the 1,000- and the USERS-member group, then
#     each SCIM scenario alone (creates, userName filters, User PATCHes, single-member
#     Group PATCHes), CONCURRENCY (16) in flight, SECONDS_PER_RUN (10) each;
#   - pgbench's built-in select-only and simple-update scripts at the same concurrency,
#     PostgreSQL's own ceiling on this machine.
# Each line gives throughput and latency, and under it the CPU the server (and on
# PostgreSQL the database's processes) spent per request, read from /proc: this
# machine's speed drifts, CPU per request much less. The server runs on core 0, the load
# on core 1; PostgreSQL runs where the system puts it.
#
#   bash bench/okta.sh
#   USERS=100000 TARGETS="sqlite postgres" SECONDS_PER_RUN=5 bash bench/okta.sh
#   TARGETS="postgres postgres-batched" bash bench/okta.sh   # group commit against none
#   SERVER=/path/to/an/earlier/roster TARGETS=postgres bash bench/okta.sh  # another build
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
users="${USERS:-10000}"
secs="${SECONDS_PER_RUN:-10}"
conc="${CONCURRENCY:-16}"
targets="${TARGETS:-sqlite postgres peer pgbench}"
token="bench-admin-token-$$-0123456789abcdefgh"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
port=18097
server_core=0
load_core=1

cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
server="${SERVER:-$bin/roster}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
case " $targets " in *" peer "*) bash bench/peer/install.sh ;; esac

# The scenarios against one server: label, base URL, SCIM base, SCIM token, and the
# CPU options of roster-load (--cpu-pid, --cpu-comm).
scenarios() { # label base scim-base scim-token cpu-options...
  local label=$1 base=$2 scim=$3 scim_token=$4
  shift 4
  local load=(taskset -c "$load_core" "$bin/roster-load" --base "$base" --token "$token" --scim-base "$scim"
    --scim-token "$scim_token" --users "$users" --domain bench.test --concurrency "$conc" --seconds "$secs" "$@")
  "${load[@]}" --label "$label" --scenario scim-seed >"$work/groups.txt"
  # PostgreSQL: the statistics autovacuum gathers within a minute of a bulk load, taken
  # at once, so that the runs are not planned on the empty tables' statistics.
  [ -z "${analyze_url:-}" ] || psql -q "$analyze_url" -c ANALYZE
  local small big
  small=$(grep '^acme:small=' "$work/groups.txt" | cut -d= -f2)
  big=$(grep '^acme:big=' "$work/groups.txt" | cut -d= -f2)
  local targets_file="$work/targets-$label.txt"
  "${load[@]}" --label "$label 1k-group" --scenario okta-mix --group "$small" --targets "$targets_file"
  "${load[@]}" --label "$label ${users}-group" --scenario okta-mix --group "$big" --targets "$targets_file"
  "${load[@]}" --label "$label" --scenario scim-create
  "${load[@]}" --label "$label" --scenario scim-filter
  "${load[@]}" --label "$label" --scenario scim-patch-user --targets "$targets_file"
  "${load[@]}" --label "$label 1k-group" --scenario scim-group-patch --group "$small" --targets "$targets_file"
  "${load[@]}" --label "$label ${users}-group" --scenario scim-group-patch --group "$big" --targets "$targets_file"
}

roster() { # label database-url cpu-comm [server options...]
  local label=$1 db=$2 comm=$3 base="http://127.0.0.1:$port"
  shift 3
  local analyze_url=""
  case $db in postgres*) analyze_url=$db ;; esac
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c "$server_core" "$server" serve --listen "127.0.0.1:$port" \
    --database "$db" --log-format json --max-body-bytes 4194304 "$@" 2>"$work/server.log" &
  local pid=$!
  wait_ready "$base"
  local scim_token
  scim_token=$(scim_setup "$base" "$token")
  local cpu=(--cpu-pid "$pid")
  [ -z "$comm" ] || cpu+=(--cpu-comm "$comm")
  scenarios "$label" "$base" "$base/scim/v2" "$scim_token" "${cpu[@]}"
  # What the directory takes on disk, per SCIM user, for the capacity model.
  local people bytes
  people=$(curl -sf -H "Authorization: Bearer $scim_token" "$base/scim/v2/Users?count=0" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['totalResults'])")
  case $db in
    sqlite://*) bytes=$(cat "${db#sqlite://}"* | wc -c) ;;
    *) bytes=$(psql -Atq "$pg_admin" -c "SELECT pg_database_size('${db##*/}')") ;;
  esac
  awk -v b="$bytes" -v n="$people" -v l="$label" \
    'BEGIN { printf "%s: %d SCIM users, %.1f MB on disk, %.1f kB per user\n", l, n, b / 1e6, b / n / 1e3 }'
  kill -TERM $pid
  wait $pid || true
}

peer() {
  PORT=$port taskset -c "$server_core" node bench/peer/jackson.mjs >"$work/peer.json" 2>"$work/peer.log" &
  local pid=$!
  for _ in $(seq 1 300); do grep -q '"ready"' "$work/peer.json" 2>/dev/null && break; sleep 0.1; done
  local scim scim_token
  scim=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['scim_base'])" "$work/peer.json")
  scim_token=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$work/peer.json")
  # The node process and the threads it starts are one process: its CPU is all of it.
  scenarios "peer" "http://127.0.0.1:$port" "$scim" "$scim_token" --cpu-pid "$pid"
  kill -TERM $pid
  wait $pid || true
}

# Busy CPU seconds of the whole machine (user, nice, system, interrupts), from /proc/stat.
busy() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}

# pgbench's own clients connect and leave with the run, so PostgreSQL's CPU per
# transaction is the machine's busy time during the run less pgbench's own.
pgbench_ceiling() {
  local db="roster_pgbench_$$" url
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  url="${pg_admin%/*}/$db"
  pgbench -q -i -s 10 "$url" >/dev/null 2>&1
  local script before own out tps n
  for script in select-only simple-update; do
    before=$(busy)
    TIMEFORMAT="%U %S"
    { time taskset -c "$load_core" pgbench -n -M prepared -b "$script" -c "$conc" -j 1 -T "$secs" "$url" \
      >"$work/pgbench.txt" 2>&1; } 2>"$work/pgbench-time.txt"
    own=$(awk '{ print $1 + $2 }' "$work/pgbench-time.txt")
    out=$(cat "$work/pgbench.txt")
    tps=$(echo "$out" | grep -o 'tps = [0-9.]*' | head -1 | cut -d' ' -f3)
    n=$(echo "$out" | grep -o 'number of transactions actually processed: [0-9]*' | grep -o '[0-9]*$')
    echo "$out" | awk -v s="$script" -v t="$tps" '/latency average/ { lat = $4 } END { printf "pgbench %-14s conc='"$conc"' %9.0f tps  latency avg=%sms\n", s, t, lat }'
    awk -v a="$(busy)" -v b="$before" -v o="$own" -v n="$n" 'BEGIN { printf "  cpu/tx db=%.0fus (pgbench itself %.0fus)\n", (a - b - o) * 1e6 / n, o * 1e6 / n }'
  done
  psql -q "$pg_admin" -c "DROP DATABASE $db"
}

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, USERS=$users CONCURRENCY=$conc SECONDS_PER_RUN=$secs"
for target in $targets; do
  case $target in
    sqlite) roster roster-sqlite "sqlite://$work/roster.db" "" ;;
    postgres | postgres-batched)
      db="roster_okta_$$"
      psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      if [ "$target" = postgres ]; then
        roster roster-postgres "${pg_admin%/*}/$db" postgres
      else
        # Group commit as on SQLite: up to 64 writes per transaction, one batch at a time.
        roster roster-pg-batched "${pg_admin%/*}/$db" postgres --pg-batch 64 --pg-write-lanes 1
      fi
      psql -q "$pg_admin" -c "DROP DATABASE $db"
      ;;
    peer) peer ;;
    pgbench) pgbench_ceiling ;;
    *) echo "unknown target $target (sqlite, postgres, postgres-batched, peer, pgbench)" >&2; exit 2 ;;
  esac
done
