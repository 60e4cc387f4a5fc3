#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test ourvidz, and
# skips whatever is already there. Safe to run any number of times.
#
#   - Debian packages: PostgreSQL 15 server + its headers (pinned to the installed
#     server's version so apt never upgrades the server behind our back), clang
#     for pgrx's bindgen, pkg-config + libssl-dev, sudo (pgrx --runas), wal2json
#     (Realtime's change stream).
#   - Supabase's tools the tests run: pg_cron, plpgsql_check, ffmpeg (Debian),
#     the Supabase CLI 2.117.0 (npm, into .tools/); Chromium (Debian) for the
#     page's browser tests.
#   - The app page's supabase-js (web/package-lock.json) and the JavaScript
#     test clients (tests/js/package-lock.json), with npm ci.
#   - Rust: the wasm32-wasip2 target (edge functions), cargo-pgrx 0.18.1.
#   - `cargo pgrx init` pointed at Debian's pg_config (no pgrx-managed Postgres).
set -euo pipefail

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
is_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# PostgreSQL 15 server and matching headers ------------------------------------
if ! is_installed postgresql-15; then
    log "installing postgresql-15"
    apt_install postgresql-15 postgresql-contrib
fi
pg_version=$(installed_version postgresql-15)
if [ "$(installed_version postgresql-server-dev-15)" != "$pg_version" ]; then
    log "installing postgresql-server-dev-15=$pg_version"
    apt_install "postgresql-server-dev-15=$pg_version"
fi

# postgresql-15-wal2json: the logical decoding plugin Realtime reads changes with.
missing=()
for pkg in clang libclang-dev pkg-config libssl-dev sudo curl ca-certificates postgresql-15-wal2json; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# Supabase's own tools the tests run (scripts/test.sh) -------------------------
# pg_cron (the schedule migration really schedules), plpgsql_check (what
# `supabase db lint` checks with), ffmpeg (decodes the reference worker's MP4s),
# chromium (the browser tests drive /usr/bin/chromium with playwright-core).
tools=()
for pkg in postgresql-15-cron postgresql-15-plpgsql-check ffmpeg chromium; do
    is_installed "$pkg" || tools+=("$pkg")
done
if [ "${#tools[@]}" -gt 0 ]; then
    log "installing ${tools[*]}"
    apt_install "${tools[@]}"
fi

# Rust targets and tools --------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    log "adding rust target wasm32-wasip2"
    rustup target add wasm32-wasip2
fi

if [ "$(cargo pgrx --version 2>/dev/null || true)" != "cargo-pgrx 0.18.1" ]; then
    log "installing cargo-pgrx 0.18.1 (about 6 minutes on 2 cores)"
    cargo install --locked cargo-pgrx --version 0.18.1
fi

pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -q '^pg15 *= *"/usr/bin/pg_config"' "$pgrx_config" 2>/dev/null; then
    log "cargo pgrx init --pg15 /usr/bin/pg_config"
    cargo pgrx init --pg15 /usr/bin/pg_config >/dev/null
fi

# JavaScript test clients (tests/js) ------------------------------------------
# Node >= 20 ships with this machine image (Debian's own nodejs is 18, too old for
# supabase-js); the packages are pinned by tests/js/package-lock.json and installed
# again whenever the lockfile is newer than the installed tree.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
    echo "setup: tests/js need Node >= 20 with npm (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi
js_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/js
if [ ! -f "$js_dir/node_modules/.package-lock.json" ] \
    || [ "$js_dir/package-lock.json" -nt "$js_dir/node_modules/.package-lock.json" ]; then
    log "npm ci in tests/js"
    (cd "$js_dir" && npm ci --no-audit --no-fund)
fi

# The app page's one dependency: supabase-js, whose browser build (dist/umd)
# `ourvidz up` serves at /vendor/supabase.js — the page's own pin, apart from
# the test clients', so the app never runs on a test dependency.
web_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web
if [ ! -f "$web_dir/node_modules/.package-lock.json" ] \
    || [ "$web_dir/package-lock.json" -nt "$web_dir/node_modules/.package-lock.json" ]; then
    log "npm ci in web"
    (cd "$web_dir" && npm ci --no-audit --no-fund)
fi

# The Supabase CLI, pinned (its binary ships in the npm package; no Docker is
# needed for db push, migration list and db lint), in the git-ignored .tools/.
supabase_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/supabase
if [ "$("$supabase_dir/node_modules/.bin/supabase" --version 2>/dev/null || true)" != "2.117.0" ]; then
    log "npm i -E supabase@2.117.0 (into .tools/supabase)"
    mkdir -p "$supabase_dir"
    (cd "$supabase_dir" && npm i -E --no-audit --no-fund supabase@2.117.0 >/dev/null)
fi

log "ready"
