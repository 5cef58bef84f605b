#!/usr/bin/env bash
# Fuzzes the SAML response parser and verifier with cargo fuzz (libFuzzer), starting
# from valid responses made by xmlsec1 and signxml.
#
#   bash fuzz/run.sh            # 10 minutes
#   FUZZ_SECONDS=3600 bash fuzz/run.sh
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain the unstable
# flags cargo fuzz passes are allowed through RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/roster-target}/fuzz"
seeds=fuzz/seeds
if [ ! -f "$seeds/now" ]; then
  cargo run --quiet --release --manifest-path fuzz/Cargo.toml --bin seed -- "$seeds"
fi
mkdir -p fuzz/corpus/verify_response
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz verify_response fuzz/corpus/verify_response "$seeds/corpus" -- \
  -max_total_time="${FUZZ_SECONDS:-600}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
