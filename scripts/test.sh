#!/usr/bin/env bash
# Runs every test: unit and integration tests (real SQLite files, a real SMTP
# server), the integration tests again on PostgreSQL, then the browser tests
# in Debian's Chromium against a release build, then schemathesis against the
# API. Exits non-zero when any test fails.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

ensure_build_tools
ensure_chromium
ensure_python_tools
ensure_curl
# Some tests need PostgreSQL in the SQLite pass too, such as the one that
# cuts a server's database connection.
ensure_postgres

# A one-off test build gains nothing from incremental state or full debug
# info, and both multiply the size of target/ on a machine with little disk.
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only

say "unit and integration tests on SQLite"
cargo test --locked -p latchkey-core -p server

# Each test server creates a database of its own there and drops it after.
say "integration tests on PostgreSQL at ${LATCHKEY_TEST_POSTGRES#*@}"
# The same packages as above, so that the build is reused.
LATCHKEY_TEST_BACKEND=postgres cargo test --locked -p latchkey-core -p server --test '*'

say "release build for the browser tests"
cargo leptos build --release "${LEPTOS_ARGS[@]}"

say "browser tests"
E2E_DIR="$(mktemp -d)"
trap 'rm -rf "$E2E_DIR"' EXIT
export E2E_DATA_DIR="$E2E_DIR"
(cd end2end && npx playwright test)

say "API fuzzing with schemathesis"
scripts/api-fuzz.sh
