#!/usr/bin/env bash
# Brings up the local stack — the README's run command.
# Installs what is missing, installs the extension into the system Postgres,
# then starts the project's own Postgres cluster (127.0.0.1:54322, data under
# .ourvidz/, git-ignored) with the Supabase bootstrap and `ourvidz` created.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
(cd pg_extension && cargo pgrx install --pg-config /usr/bin/pg_config >/dev/null)
bash scripts/db.sh start
