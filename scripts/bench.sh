#!/usr/bin/env bash
# Benchmarks a release build on loopback and prints a Markdown table for
# BENCHMARKS.md. Not part of `make test`: numbers depend on the machine.
#   scripts/bench.sh [SECONDS_PER_MEASUREMENT] [CONCURRENCY]
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"
ensure_rust
ensure_python_tools
ensure_curl

say "building the release server and the load generator"
cargo build --release --locked -p server --bin latchkey
cargo build --release --locked -p latchkey-bench

source scripts/fixture.sh
start_fixture "${BENCH_PORT:-3300}"
create_verified_account bench@example.com "correct horse battery"

say "measuring (${1:-10} s per operation, ${2:-16} concurrent clients)"
target/release/latchkey-bench "$BASE" "$SERVER_PID" "${1:-10}" "${2:-16}"
