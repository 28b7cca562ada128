#!/usr/bin/env bash
# Benchmarks a release build on loopback and prints Markdown tables for
# BENCHMARKS.md. Not part of `make test`: numbers depend on the machine.
#   scripts/bench.sh [SECONDS_PER_MEASUREMENT] [CONCURRENCY]   (10, 16)
#   scripts/bench.sh --soak [SECONDS] [CONCURRENCY]            (300, 12)
# --soak sends a fixed mix of /me, refresh, login and registration requests
# for SECONDS after SOAK_WARMUP_SECONDS (30) of the same mix, and reports
# the server's resident memory. It exits with status 1 if a request failed.
#
# The server gets a new SQLite file by default. BENCH_DATABASE=postgres
# creates a new database on the PostgreSQL server at BENCH_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432, without a database name; the user
# must be allowed to create databases) and drops it at exit.
# RATE_LIMIT_STORE=memory or database, when set, reaches the server
# unchanged; unset, the server counts in the database with PostgreSQL and
# in memory with SQLite.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

mode=measure
if [ "${1:-}" = --soak ]; then
    mode=soak
    shift
fi
if [ "$mode" = soak ]; then
    seconds="${1:-300}" clients="${2:-12}"
else
    seconds="${1:-10}" clients="${2:-16}"
fi
warmup="${SOAK_WARMUP_SECONDS:-30}"
for number in "$seconds" "$clients" "$warmup"; do
    [[ "$number" =~ ^[0-9]+$ ]] || fail "durations and client counts are whole numbers, not '$number'"
done
[ "$clients" -ge 1 ] || fail "CONCURRENCY must be at least 1"
database="${BENCH_DATABASE:-sqlite}"
case "$database" in
    sqlite | postgres) ;;
    *) fail "BENCH_DATABASE must be sqlite or postgres, not '$database'" ;;
esac

ensure_rust
ensure_python_tools
ensure_curl
if [ "$database" = postgres ]; then
    postgres_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
    ensure_postgres "$postgres_url"
fi

say "building the release server and the load generator"
cargo build --release --locked -p server --bin latchkey
cargo build --release --locked -p latchkey-bench

source scripts/fixture.sh

bench_database=""
# shellcheck disable=SC2317 # called from the EXIT trap
drop_bench_database() {
    if [ -n "$bench_database" ]; then
        psql "$postgres_url/postgres" -qAtc "DROP DATABASE IF EXISTS $bench_database" >/dev/null \
            || echo "warning: dropping the database $bench_database failed; run: psql $postgres_url/postgres -c 'DROP DATABASE $bench_database'" >&2
    fi
}
# The server must stop before its database can be dropped.
trap 'stop_fixture; drop_bench_database' EXIT

if [ "$database" = postgres ]; then
    bench_database="latchkey_bench_$(date +%s)_$$"
    psql "$postgres_url/postgres" -qAtc "CREATE DATABASE $bench_database" >/dev/null
    export FIXTURE_DATABASE_URL="$postgres_url/$bench_database"
    database_name="PostgreSQL $(psql "$FIXTURE_DATABASE_URL" -Atc 'SHOW server_version')"
else
    database_name="SQLite"
fi

start_fixture "${BENCH_PORT:-3300}"
create_verified_account bench@example.com "correct horse battery"

# Prints the number of rows in rate_limit_buckets, which only the database
# limit store writes to.
count_limit_rows() {
    if [ "$database" = postgres ]; then
        psql "$FIXTURE_DATABASE_URL" -Atc 'SELECT count(*) FROM rate_limit_buckets'
    else
        "$SMTP_SERVER_PYTHON" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM rate_limit_buckets").fetchone()[0])' \
            "$FIXTURE_DIR/latchkey.db"
    fi
}

describe_run() {
    local store limit_rows
    if ! limit_rows="$(count_limit_rows)"; then
        limit_rows=unknown store=unknown
    elif [ "$limit_rows" -gt 0 ]; then
        store=database
    else
        store=memory
    fi
    echo
    echo "- Database: $database_name. Rate limit store: $store (RATE_LIMIT_STORE=${RATE_LIMIT_STORE:-unset}, $limit_rows rows in rate_limit_buckets after the run)."
    echo "- Machine: $(nproc) cores; load average before the run: $load_before."
    if grep -q "panicked" "$FIXTURE_DIR/server.log"; then
        echo "- The server panicked; see the lines below."
        grep -B2 -A5 "panicked" "$FIXTURE_DIR/server.log"
    fi
    # tracing writes the level after the timestamp, with colour codes.
    local problems
    problems="$(sed 's/\x1b\[[0-9;]*m//g' "$FIXTURE_DIR/server.log" | grep -E '^[^ ]+ +(WARN|ERROR) ' || true)"
    if [ -z "$problems" ]; then
        echo "- Server log: no warnings or errors."
    else
        echo "- Server log: $(wc -l <<<"$problems") warnings and errors; the first five:"
        head -n 5 <<<"$problems" | sed 's/^/      /'
    fi
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
if [ "$mode" = soak ]; then
    say "soaking for $seconds s after $warmup s of warm-up, $clients clients, on $database_name"
    target/release/latchkey-bench soak "$BASE" "$SERVER_PID" "$seconds" "$clients" "$warmup" || status=$?
else
    say "measuring ($seconds s per operation, $clients concurrent clients) on $database_name"
    target/release/latchkey-bench "$BASE" "$SERVER_PID" "$seconds" "$clients" || status=$?
fi
describe_run
exit "$status"
