# Sourced by run.sh and test.sh: installs the build and test tools that are
# missing, and picks how the WebAssembly standard library is obtained.
# Every step checks first and skips what is already in place.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/target/tools"

CARGO_LEPTOS_VERSION="0.3.0"
# Must equal the wasm-bindgen crate version pinned in Cargo.toml.
WASM_BINDGEN_VERSION="0.2.130"
AIOSMTPD_VERSION="1.4.6"
SCHEMATHESIS_VERSION="4.32.5"

export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    if ! is_root; then
        fail "missing Debian packages: $*; install them with: sudo apt-get install -y $*"
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

ensure_rust() {
    command -v cargo >/dev/null || fail "cargo not found; install Rust with rustup (https://rustup.rs)"
}

# cargo-leptos 0.3.0 is pinned because its lock file builds on Rust 1.95;
# later releases need Rust 1.96 to install.
ensure_cargo_leptos() {
    if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
        return
    fi
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (several minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
}

# cargo-leptos runs the wasm-bindgen found on PATH without checking its
# version, so the exact version is installed. Its lock file pins crates the
# registry may no longer serve, hence no --locked.
ensure_wasm_bindgen() {
    if wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
        return
    fi
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
}

# Node packages: Playwright, a mail parser for the browser tests, and
# binaryen's wasm-opt. Debian's binaryen is too old: its wasm-opt breaks
# hydration, so the npm one goes first on PATH.
ensure_node_packages() {
    command -v npm >/dev/null || apt_install nodejs npm
    if [ ! -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ] || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
        say "installing npm packages in end2end/"
        (cd "$ROOT/end2end" && npm ci --no-audit --no-fund)
    fi
    export PATH="$ROOT/end2end/node_modules/.bin:$PATH"
}

wasm_std_present() {
    local sysroot
    sysroot="$(rustc --print sysroot)"
    compgen -G "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null
}

# Sets LEPTOS_ARGS and the environment for one of two routes:
# A) rustup's wasm32 target; B) Debian's rustc-web, which builds std from
# source with -Zbuild-std while the server keeps rustup's compiler.
LEPTOS_ARGS=()
choose_wasm_route() {
    if ! wasm_std_present && command -v rustup >/dev/null; then
        say "adding the wasm32-unknown-unknown target with rustup"
        timeout 60 rustup target add wasm32-unknown-unknown || true
    fi
    if wasm_std_present; then
        return
    fi

    if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
        if is_root; then
            apt_install rustc-web cargo-web rust-web-src rust-web-llvm
        fi
    fi
    if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
        say "building the wasm32 standard library from source with Debian's rustc-web"
        export RUSTC_BOOTSTRAP=1
        export LEPTOS_BIN_CARGO_COMMAND="env -u RUSTC_BOOTSTRAP PATH=$HOME/.cargo/bin:/usr/bin:/bin cargo"
        export PATH="/usr/bin:$PATH"
        LEPTOS_ARGS=(--lib-cargo-args=-Zbuild-std=std,panic_abort)
        return
    fi
    fail "no WebAssembly standard library: run 'rustup target add wasm32-unknown-unknown', or install Debian's rustc-web cargo-web rust-web-src rust-web-llvm"
}

ensure_curl() {
    command -v curl >/dev/null || apt_install curl
}

# PostgreSQL for the second pass of the integration tests. Exports
# LATCHKEY_TEST_POSTGRES, the server URL without a database name: the one
# set by the caller, or postgres@127.0.0.1:5432. When no server runs there,
# Debian's cluster is installed if needed and started. A fresh Debian
# cluster requires a password over TCP, so as root this creates a role of
# the tests' own, latchkey_test, that may create databases.
ensure_postgres() {
    local url="${LATCHKEY_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
    command -v psql >/dev/null || apt_install postgresql-client
    if psql "$url/postgres" -Atc 'SELECT 1' >/dev/null 2>&1; then
        export LATCHKEY_TEST_POSTGRES="$url"
        return
    fi

    if ! pg_isready -q -d "$url/postgres"; then
        say "starting PostgreSQL"
        command -v pg_lsclusters >/dev/null || apt_install postgresql
        local cluster
        cluster="$(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2 }')"
        [ -n "$cluster" ] || fail "no PostgreSQL cluster to start"
        # shellcheck disable=SC2086 # version and name are two arguments
        pg_ctlcluster $cluster start || true
        for _ in $(seq 30); do
            pg_isready -q -d "$url/postgres" && break
            sleep 1
        done
    fi
    if psql "$url/postgres" -Atc 'SELECT 1' >/dev/null 2>&1; then
        export LATCHKEY_TEST_POSTGRES="$url"
        return
    fi

    if [ -z "${LATCHKEY_TEST_POSTGRES:-}" ] && is_root && id postgres >/dev/null 2>&1; then
        say "creating the PostgreSQL role latchkey_test for the tests"
        runuser -u postgres -- psql -q -c "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'latchkey_test') THEN
                CREATE ROLE latchkey_test LOGIN CREATEDB PASSWORD 'latchkey-test';
            END IF;
        END \$\$;"
        url="postgres://latchkey_test:latchkey-test@127.0.0.1:5432"
        if psql "$url/postgres" -Atc 'SELECT 1' >/dev/null 2>&1; then
            export LATCHKEY_TEST_POSTGRES="$url"
            return
        fi
    fi
    fail "PostgreSQL at $url rejects the tests; set LATCHKEY_TEST_POSTGRES to a server URL whose user may create databases"
}

ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return
    fi
    say "installing Debian's Chromium for the browser tests"
    apt_install chromium
}

# Python test tools, in a virtual environment of their own: aiosmtpd, a real
# SMTP server that stores what it receives in a Maildir, and schemathesis,
# which fuzzes the API from its OpenAPI document.
ensure_python_tools() {
    local venv="$TOOLS/py-venv"
    if ! "$venv/bin/python" -c "import aiosmtpd" 2>/dev/null \
        || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        say "installing aiosmtpd $AIOSMTPD_VERSION and schemathesis $SCHEMATHESIS_VERSION in $venv"
        python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
        "$venv/bin/pip" install --quiet "aiosmtpd==$AIOSMTPD_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    export SMTP_SERVER_PYTHON="$venv/bin/python"
    export SCHEMATHESIS="$venv/bin/schemathesis"
}

ensure_build_tools() {
    ensure_rust
    ensure_cargo_leptos
    ensure_wasm_bindgen
    ensure_node_packages
    choose_wasm_route
}
