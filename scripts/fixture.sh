# shellcheck shell=bash
# Sourced by api-fuzz.sh and bench.sh: starts a release build of Latchkey on
# a loopback port with a fresh database, and creates verified accounts on it.
# Needs SMTP_SERVER_PYTHON (any Python 3) and curl. The database is a new
# SQLite file unless FIXTURE_DATABASE_URL names another, which the caller
# creates empty and drops.

FIXTURE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIXTURE_BIN="$FIXTURE_ROOT/target/release/latchkey"
FIXTURE_DIR="$(mktemp -d)"
SERVER_PID=""

stop_fixture() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$FIXTURE_DIR"
}
trap stop_fixture EXIT

# Starts the server on port $1 and waits until it responds.
start_fixture() {
    local port="$1"
    BASE="http://127.0.0.1:$port"
    export LEPTOS_OUTPUT_NAME=latchkey LEPTOS_SITE_ROOT="$FIXTURE_ROOT/target/site" LEPTOS_SITE_ADDR="127.0.0.1:$port"
    export DATABASE_URL="${FIXTURE_DATABASE_URL:-sqlite://$FIXTURE_DIR/latchkey.db}"
    export MAIL_OUTBOX_DIR="$FIXTURE_DIR/outbox" PUBLIC_URL="$BASE"
    # Fuzzing and load come from one address and would spend the default
    # per-address budgets within seconds. server/tests/throttling.rs tests
    # the limits themselves.
    export LOGIN_RATE_PER_IP=1000000/1m REGISTER_RATE_PER_IP=1000000/1m REFRESH_RATE_PER_IP=1000000/1m
    export VERIFICATION_MAIL_RATE_PER_IP=1000000/1m VERIFICATION_MAIL_RATE_PER_EMAIL=1000000/1m
    (cd "$FIXTURE_DIR" && exec "$FIXTURE_BIN") > "$FIXTURE_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        curl -sf "$BASE/api/openapi.json" > /dev/null && return
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "error: the server did not start; its log:" >&2
    cat "$FIXTURE_DIR/server.log" >&2
    exit 1
}

post_json() {
    curl -sf -X POST -H 'content-type: application/json' -d "$2" "$BASE$1"
}

# Registers $1 with password $2 and follows the mailed verification link.
# The mail is written after the response, so the outbox is polled.
create_verified_account() {
    local email="$1" password="$2" token
    post_json /api/auth/register "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Test\"}" > /dev/null
    token=$("$SMTP_SERVER_PYTHON" - "$FIXTURE_DIR/outbox" "$email" <<'PY'
import email, pathlib, re, sys, time
from email import policy
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == sys.argv[2]:
            body = message.get_body(("plain",)).get_content()
            print(re.search(r"token=([A-Za-z0-9_-]+)", body).group(1))
            sys.exit(0)
    time.sleep(0.05)
sys.exit("no verification mail to " + sys.argv[2])
PY
)
    post_json /api/auth/verify-email "{\"token\":\"$token\"}" > /dev/null
}

# Prints the access token of a fresh login.
access_token() {
    post_json /api/auth/login "{\"email\":\"$1\",\"password\":\"$2\"}" \
        | "$SMTP_SERVER_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
