#!/usr/bin/env bash
# Installs the benchmark peer's npm package, @boxyhq/saml-jackson (Ory Polis), into a
# prefix of its own outside the checkout, ROSTER_JACKSON (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/roster-jackson). Does nothing when that version is
# already there; prints nothing on success.
#
#   bash bench/peer/install.sh
#   node bench/peer/jackson.mjs        # see the header of jackson.mjs
#
# Install scripts are skipped (--ignore-scripts): the only ones in the tree build native
# database drivers (better-sqlite3, ...) that the in-memory engine never loads.
set -euo pipefail

version="26.2.0"
prefix="${ROSTER_JACKSON:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-jackson}"
pkg_json="$prefix/node_modules/@boxyhq/saml-jackson/package.json"

node_bin=node
[ -n "${ROSTER_NODE:-}" ] && [ -x "$ROSTER_NODE/bin/node" ] && node_bin="$ROSTER_NODE/bin/node"

if ! command -v npm >/dev/null || ! command -v "$node_bin" >/dev/null; then
  sudo=""
  [ "$(id -u)" = "0" ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  }
fi

if [ -f "$pkg_json" ] &&
  [ "$("$node_bin" -p 'require(process.argv[1]).version' "$pkg_json" 2>/dev/null)" = "$version" ]; then
  exit 0
fi

mkdir -p "$prefix"
[ -f "$prefix/package.json" ] || echo '{"private": true}' >"$prefix/package.json"
npm install --prefix "$prefix" --save-exact --ignore-scripts --no-audit --no-fund --loglevel=error \
  "@boxyhq/saml-jackson@$version" >/dev/null
