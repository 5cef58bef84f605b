#!/usr/bin/env bash
# SCIM load: a release build of Roster on SQLite (group commit) and on PostgreSQL, seeded
# with USERS SCIM users and two groups (1,000 and USERS members), then driven by
# roster-load pinned to one core: POST Users, GET by userName filter, PATCH a user, and a
# single-member PATCH on the small and on the big group. One line per run, and under it
# how the server's core spent the run (user, system, interrupts, idle, waiting on the
# disk, taken by the host). The first, http-floor (`GET /healthz` through every layer of
# the server, no work behind it), is the ceiling HTTP, the layers and the machine leave:
# no SCIM request can go faster.
#
#   bash bench/scim.sh                      # 100,000 users, 10 s per run
#   USERS=10000 SECONDS_PER_RUN=5 bash bench/scim.sh
#   COUNT=instructions BACKENDS=sqlite bash bench/scim.sh
#   WRITE_RATE=4000 READ_RATE=15000 BACKENDS=sqlite bash bench/scim.sh
#
# Every run above is a closed loop of CONCURRENCY requests (32): the most the server does
# at that concurrency, whose latency is that concurrency divided by the throughput.
# WRITE_RATE and READ_RATE add, after them, open-loop runs: creates, User PATCHes and
# member PATCHes sent at WRITE_RATE per second, filtered reads at READ_RATE, on a fixed
# schedule whatever the answers, each latency counted from when the schedule said to
# send (so a stall is charged for every request it delays): the latency at that
# throughput. Requests a server that fell behind left unsent count as errors.
#
# Throughput on a shared virtual machine drifts with its neighbours. COUNT=instructions
# seeds as usual, then serves the scenarios under valgrind's callgrind and prints the
# server's instructions per request (user space: system calls and the kernel's network
# work are not counted), which repeat to within a few percent whatever else the machine
# is doing: the number to compare two versions of the code by. The count includes the
# load's own one-second warm-up, so it is a little above the true cost per request.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
users="${USERS:-100000}"
secs="${SECONDS_PER_RUN:-10}"
conc="${CONCURRENCY:-32}"
token="bench-admin-token-$$-0123456789abcdefgh"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
port=18098
# The server runs on one core, the load generator on the other.
server_core=0
load_core=1

if [ "${COUNT:-}" = instructions ] && ! command -v callgrind_control >/dev/null; then
  echo "COUNT=instructions needs valgrind (Debian: apt-get install valgrind)" >&2
  exit 1
fi
cargo build --release --locked -p roster-server -p roster-bench >/dev/null
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # label database-url
  local label=$1 db=$2 base="http://127.0.0.1:$port"
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c "$server_core" "$bin/roster" serve --listen "127.0.0.1:$port" --database "$db" \
    --log-format json --max-body-bytes 4194304 2>"$work/server.log" &
  local pid=$!
  wait_ready "$base"
  local scim_token
  scim_token=$(scim_setup "$base" "$token")
  local common=(taskset -c "$load_core" "$bin/roster-load" --base "$base" --token "$token" --scim-token "$scim_token"
    --users "$users" --domain bench.test)
  local load=("${common[@]}" --concurrency "$conc")
  # The open loop: as many in flight as the schedule needs, up to 512.
  local open=("${common[@]}" --concurrency 512)
  "${load[@]}" --seconds "$secs" --label "$label" --scenario scim-seed >"$work/groups.txt"
  local small big
  small=$(grep '^acme:small=' "$work/groups.txt" | cut -d= -f2)
  big=$(grep '^acme:big=' "$work/groups.txt" | cut -d= -f2)
  if [ "${COUNT:-}" = instructions ]; then
    kill -TERM $pid; wait $pid || true
    count_instructions "$label" "$db" "$small" "$big" "${load[@]}"
    return
  fi
  on_server_core "${load[@]}" --seconds "$secs" --label "$label" --scenario http-floor
  on_server_core "${load[@]}" --seconds "$secs" --label "$label" --scenario scim-create
  on_server_core "${load[@]}" --seconds "$secs" --label "$label" --scenario scim-filter
  on_server_core "${load[@]}" --seconds "$secs" --label "$label" --scenario scim-patch-user
  on_server_core "${load[@]}" --seconds "$secs" --scenario scim-group-patch --group "$small" --label "$label 1k-group"
  on_server_core "${load[@]}" --seconds "$secs" --scenario scim-group-patch --group "$big" --label "$label ${users}-group"
  if [ -n "${WRITE_RATE:-}" ]; then
    on_server_core "${open[@]}" --seconds "$secs" --label "$label" --scenario scim-create --rate "$WRITE_RATE"
    on_server_core "${open[@]}" --seconds "$secs" --label "$label" --scenario scim-patch-user --rate "$WRITE_RATE"
    on_server_core "${open[@]}" --seconds "$secs" --scenario scim-group-patch --group "$big" --label "$label ${users}-group" \
      --rate "$WRITE_RATE"
  fi
  if [ -n "${READ_RATE:-}" ]; then
    on_server_core "${open[@]}" --seconds "$secs" --label "$label" --scenario scim-filter --rate "$READ_RATE"
  fi
  kill -TERM $pid; wait $pid || true
}

# Runs a command, then prints how the server's core spent that time (from /proc/stat):
# waiting on the disk is time the server had nothing to do but wait for a commit's
# fsync; taken by the host is time a virtual machine's core was not running at all.
on_server_core() {
  local before after
  before=$(grep "^cpu$server_core " /proc/stat)
  "$@"
  after=$(grep "^cpu$server_core " /proc/stat)
  echo "$before $after" | awk '{
    for (i = 2; i <= 9; i++) { d[i] = $(i + 11) - $i; total += d[i] }
    if (total == 0) exit
    printf "  server core: user %d%%, system %d%%, interrupts %d%%, idle %d%%, waiting on the disk %d%%, taken by the host %d%%\n",
      100 * (d[2] + d[3]) / total, 100 * d[4] / total, 100 * (d[7] + d[8]) / total, 100 * d[5] / total,
      100 * d[6] / total, 100 * d[9] / total
  }'
}

# The seeded database served under callgrind, instrumented only while each scenario
# runs (after a warm-up): instructions per successful request, per scenario.
count_instructions() { # label database-url small-group big-group load-command...
  local label=$1 db=$2 small=$3 big=$4 base="http://127.0.0.1:$port"
  shift 4
  local load=("$@")
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c "$server_core" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/callgrind.out" "$bin/roster" serve --listen "127.0.0.1:$port" --database "$db" \
    --log-format json --max-body-bytes 4194304 2>"$work/server.log" &
  local pid=$! part=0
  for _ in $(seq 1 600); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done
  local scenario name
  for scenario in http-floor scim-create scim-filter scim-patch-user "scim-group-patch --group $small" "scim-group-patch --group $big"; do
    case $scenario in
      *" $small") name="one-member PATCH, 1,000-member group" ;;
      *" $big") name="one-member PATCH, ${users}-member group" ;;
      *) name=$scenario ;;
    esac
    # shellcheck disable=SC2086 # the scenario carries its own arguments
    "${load[@]}" --seconds 2 --label warm-up --scenario $scenario --targets "$work/targets.txt" >/dev/null
    callgrind_control -i on $pid >/dev/null 2>&1
    # shellcheck disable=SC2086
    "${load[@]}" --seconds "$secs" --label "$label" --scenario $scenario --targets "$work/targets.txt" >"$work/load.txt"
    callgrind_control -i off $pid >/dev/null 2>&1
    callgrind_control -d $pid >/dev/null 2>&1
    part=$((part + 1))
    local ok ir
    ok=$(grep -o 'ok=[0-9]*' "$work/load.txt" | cut -d= -f2)
    ir=$(callgrind_annotate "$work/callgrind.out.$part" 2>/dev/null | grep 'PROGRAM TOTALS' | grep -v calculated | head -1 | tr -d ',' | awk '{print $1}')
    echo "$label $name: $((ir / ok)) instructions per request ($ok requests)"
  done
  kill -TERM $pid; wait $pid || true
}

backends="${BACKENDS:-sqlite postgres}"
echo "roster SCIM load, $users users, $conc in flight, ${secs}s per run, server on core $server_core, load on core $load_core"
case " $backends " in *" sqlite "*) run "sqlite" "sqlite://$work/scim.db" ;; esac
case " $backends " in *" postgres "*) ;; *) exit 0 ;; esac
bash scripts/postgres.sh >/dev/null
name="roster_bench_scim_$$"
psql -X -q "$pg_admin" -c "CREATE DATABASE $name"
run "postgres" "${pg_admin%/*}/$name"
psql -X -q "$pg_admin" -c "DROP DATABASE $name WITH (FORCE)"
