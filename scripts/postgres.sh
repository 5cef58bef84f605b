#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests.
#
# With ROSTER_TEST_POSTGRES_URL unset, the tests use postgres://postgres@127.0.0.1:5432/test
# (trust auth). If nothing answers there, this installs Debian's postgresql package when
# needed and starts a private, throw-away cluster on 127.0.0.1:5432 with trust auth.
set -euo pipefail

url="${ROSTER_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
hostport="${url#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5432
dbname="${url##*/}"; dbname="${dbname%%\?*}"

answers() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; }

if answers; then
  echo "postgres: server answers at $host:$port"
else
  echo "postgres: nothing answers at $host:$port; starting a private cluster"
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  # A package install may have started Debian's own cluster already.
  if ! answers; then
    data="${ROSTER_PG_DATA:-/tmp/roster-pg-data}"
    runas=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
      runas=(runuser -u postgres --)
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres "$data"
      "${runas[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    "${runas[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-h $host -p $port -k /tmp -c fsync=on" start >/dev/null
  fi
  for _ in $(seq 1 60); do answers && break; sleep 1; done
  answers || { echo "postgres: could not start a server" >&2; exit 1; }
fi

psql_cmd=(psql -X -q -h "$host" -p "$port" -U postgres -v ON_ERROR_STOP=1)
if ! "${psql_cmd[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$dbname'" | grep -q 1; then
  "${psql_cmd[@]}" -d postgres -c "CREATE DATABASE \"$dbname\""
fi
# Databases left by interrupted earlier runs.
for db in $("${psql_cmd[@]}" -d postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'roster\_t\_%'"); do
  "${psql_cmd[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
done
echo "postgres: ready ($url)"

# The two-node tests also run a PostgreSQL server of their own, which they stop and start
# under load: they need Debian's binaries (initdb, pg_ctl) and its postgres user even when
# the server above is another machine's.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq postgresql >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  }
fi
