#!/usr/bin/env bash
# Brings up the local stack — the README's run command — in the foreground;
# Ctrl-C stops everything, data stays under .ourvidz/ (git-ignored).
#
# Installs what is missing, installs the extension into the system Postgres,
# builds the runtime and the reference worker, then `ourvidz up`: Postgres 15 on
# 127.0.0.1:54322 (server run as postgres) with the Supabase bootstrap and the
# extension, the four functions built for wasm32-wasip2 and served with
# Supabase's gateway rules at http://127.0.0.1:54321/functions/v1, the Storage
# API at /storage/v1, and the worker. Extra arguments go to `ourvidz up`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# shellcheck source=lib/pg.sh
. scripts/lib/pg.sh
OURVIDZ_HOME=$(ourvidz_home "$root")
export OURVIDZ_HOME
(cd pg_extension && cargo pgrx install --pg-config /usr/bin/pg_config >/dev/null)
cargo build -p ourvidz-runtime -p ourvidz-worker
exec target/debug/ourvidz up "$@"
