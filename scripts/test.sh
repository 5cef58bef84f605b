#!/usr/bin/env bash
# The whole test suite: unit tests, and the integration tests, each of which runs on
# SQLite and on PostgreSQL (test names say which: ...::sqlite::... / ...::postgres::...).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are cached outside the checkout so reruns are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}"

bash scripts/postgres.sh
# xmlsec1 and Python signxml sign the SAML test responses; scim2-tester checks SCIM.
. scripts/deps.sh
cargo test --workspace --locked -- --test-threads "${ROSTER_TEST_THREADS:-4}"
# A third-party SCIM checker against the real server, on both databases.
bash scripts/scim-conformance.sh
