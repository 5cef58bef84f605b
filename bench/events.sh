#!/usr/bin/env bash
# What events and webhooks cost, on SQLite and PostgreSQL, in one run:
#
# - SCIM creates per second (CONCURRENCY in flight for SECONDS_EACH, each create an
#   account, a membership and a team membership with their events) by the version
#   before the events feed (BEFORE, built from a worktree), by this one, and by this
#   one with a webhook endpoint taking every event during the load; with the server's
#   CPU per create beside each;
# - deliveries per second to a local endpoint (bench/webhook_sink.py, answering 204 at
#   once): DRAIN creates are made with the endpoint turned off, then it is turned on
#   and the backlog timed from the first delivery to the last, with the server's CPU
#   per delivery.
#
# The server runs on core 0; the load and the endpoint on core 1.
#
#   bash bench/events.sh
#   SECONDS_EACH=5 BACKENDS=sqlite ROUNDS=3 bash bench/events.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"
before_rev="${BEFORE:-94f6b68}"
secs="${SECONDS_EACH:-10}"
conc="${CONCURRENCY:-32}"
drain="${DRAIN:-2000}"
token="bench-admin-token-$$-0123456789abcdefgh"
pg_admin="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
port=18096
sink_port=18097
base="http://127.0.0.1:$port"
sink="http://127.0.0.1:$sink_port"
auth="Authorization: Bearer $token"
json="Content-Type: application/json"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/before" 2>/dev/null || true; rm -rf "$work"' EXIT

# The version before the events, in a target directory of its own (the workspace's
# crates would otherwise share their build outputs with this version's).
git worktree add --detach --quiet "$work/before" "$before_rev"
(cd "$work/before" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR-before" cargo build --release --locked -p roster-server 2>/dev/null)
cp "$CARGO_TARGET_DIR-before/release/roster" "$work/roster-before"
cargo build --release --locked -p roster-server -p roster-bench 2>/dev/null
bin="$CARGO_TARGET_DIR/release"

taskset -c 1 python3 bench/webhook_sink.py "$sink_port" &
for _ in $(seq 1 100); do curl -sf "$sink/stats" >/dev/null && break; sleep 0.1; done

start() { # binary database-url extra-flags...
  local binary=$1 db=$2
  shift 2
  ROSTER_ADMIN_TOKEN=$token ROSTER_LOG=warn taskset -c 0 "$binary" serve --listen "127.0.0.1:$port" --database "$db" \
    --log-format json "$@" 2>"$work/server.log" &
  pid=$!
  wait_ready "$base"
  scim=$(scim_setup "$base" "$token")
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || true
}

load() { # label extra-args...
  local label=$1
  shift
  taskset -c 1 "$bin/roster-load" --base "$base" --token "$token" --scim-token "$scim" --domain bench.test \
    --concurrency "$conc" --scenario scim-create --label "$label" "$@"
}

creates() { # label binary database-url webhook(yes|no) extra-flags...
  local label=$1 binary=$2 db=$3 hook=$4
  shift 4
  start "$binary" "$db" "$@"
  if [ "$hook" = yes ]; then
    curl -sf -H "$auth" -H "$json" "$base/api/v1/webhooks" -d "{\"url\": \"$sink/hook\"}" >/dev/null
    curl -sf "$sink/reset" >/dev/null
  fi
  local b
  b=$(cpu "$pid")
  load "$label" --seconds "$secs" | tee "$work/load.out"
  per "$label" "$pid" "$b" "$work/load.out" create
  if [ "$hook" = yes ]; then
    echo "  deliveries during the load: $(curl -sf "$sink/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
  fi
  stop
}

deliveries() { # label database-url
  local label=$1 db=$2
  start "$bin/roster" "$db" --webhook-allow-private
  local id
  id=$(curl -sf -H "$auth" -H "$json" "$base/api/v1/webhooks" -d "{\"url\": \"$sink/hook\"}" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  curl -sf -H "$auth" -H "$json" -X PATCH "$base/api/v1/webhooks/$id" -d '{"enabled": false}' >/dev/null
  load "$label backlog" --seconds 600 --max-requests "$drain" >/dev/null
  curl -sf "$sink/reset" >/dev/null
  local b last=-1 now
  b=$(cpu "$pid")
  curl -sf -H "$auth" -H "$json" -X PATCH "$base/api/v1/webhooks/$id" -d '{"enabled": true}' >/dev/null
  # Drained once the count stands still for two seconds.
  while :; do
    sleep 2
    now=$(curl -sf "$sink/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    [ "$now" = "$last" ] && break
    last=$now
  done
  curl -sf "$sink/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(f\"$label: {s['count']} deliveries in {s['last'] - s['first']:.2f} s, {s['count'] / (s['last'] - s['first']):.0f} deliveries/s\")"
  # The two idle seconds that ended the wait cost next to nothing.
  per "$label" "$pid" "$b" "$now" delivery
  stop
}

backends="${BACKENDS:-sqlite postgres}"
echo "events and webhooks, server on core 0, load and endpoint on core 1, $conc in flight, ${secs}s per run, before = $before_rev"
for backend in $backends; do
  if [ "$backend" = postgres ]; then
    bash scripts/postgres.sh >/dev/null
    db() { psql -X -q "$pg_admin" -c "CREATE DATABASE roster_bench_events_$1" >/dev/null; echo "${pg_admin%/*}/roster_bench_events_$1"; }
  else
    db() { echo "sqlite://$work/$1.db"; }
  fi
  # ROUNDS alternations, as this machine's speed drifts from one minute to the next.
  for round in $(seq 1 "${ROUNDS:-1}"); do
    creates "$backend before events" "$work/roster-before" "$(db "b$round$$")" no
    creates "$backend events" "$bin/roster" "$(db "e$round$$")" no
    creates "$backend events + webhook" "$bin/roster" "$(db "w$round$$")" yes --webhook-allow-private
  done
  deliveries "$backend deliveries" "$(db "d$$")"
  if [ "$backend" = postgres ]; then
    for d in $(seq 1 "${ROUNDS:-1}" | sed 's/^/b/; p; s/^b/e/; p; s/^e/w/'); do
      psql -X -q "$pg_admin" -c "DROP DATABASE roster_bench_events_$d$$ WITH (FORCE)"
    done
    psql -X -q "$pg_admin" -c "DROP DATABASE roster_bench_events_d$$ WITH (FORCE)"
  fi
done
