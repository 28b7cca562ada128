#!/usr/bin/env bash
# Builds Latchkey and serves it at http://127.0.0.1:3000 (LEPTOS_SITE_ADDR
# overrides the address). Data goes to data/ unless DATABASE_URL and
# MAIL_OUTBOX_DIR name other places.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

ensure_build_tools
exec cargo leptos serve --release "${LEPTOS_ARGS[@]}"
