#!/usr/bin/env bash
# The local stack's database: a PostgreSQL 15 cluster of the project's own,
# with the Supabase compatibility bootstrap and the ourvidz extension.
#
#   scripts/db.sh start     initdb on first use, start, bootstrap, create/update extension
#   scripts/db.sh stop      stop the cluster (data is kept)
#   scripts/db.sh status    exit 0 when running
#   scripts/db.sh url       print the connection URL
#   scripts/db.sh psql ...  psql into the database as postgres
#
# Data lives in $OURVIDZ_HOME/db (default: <repo>/.ourvidz/db, git-ignored);
# the server listens on 127.0.0.1:$OURVIDZ_DB_PORT (default 54322, Supabase's
# local port) as user postgres, password postgres. The extension must have been
# installed (`cargo pgrx install`) before `start` can create it; `start` skips
# that step with a note when it is not installed yet.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/pg.sh
. "$root/scripts/lib/pg.sh"

home=$(ourvidz_home "$root")
dir=$home/db
port=${OURVIDZ_DB_PORT:-54322}
password=postgres
url="postgresql://postgres:$password@127.0.0.1:$port/postgres"

provision() {
    pg_psql "$dir" "$port" -d postgres -f "$root/pg_extension/bootstrap/supabase_compat.sql" >/dev/null
    local available
    available=$(pg_psql "$dir" "$port" -d postgres -At \
        -c "select default_version from pg_available_extensions where name = 'ourvidz'")
    if [ -z "$available" ]; then
        echo "note: extension ourvidz is not installed yet (cargo pgrx install); schema not created" >&2
        return 0
    fi
    pg_psql "$dir" "$port" -d postgres -c "create extension if not exists ourvidz" \
        -c "alter extension ourvidz update" >/dev/null
}

case "${1:-}" in
    start)
        pg_cluster_init "$dir" "$password"
        pg_cluster_start "$dir" "$port"
        provision
        echo "$url"
        ;;
    stop)
        pg_cluster_stop "$dir"
        ;;
    status)
        pg_cluster_running "$dir"
        ;;
    url)
        echo "$url"
        ;;
    psql)
        shift
        pg_psql "$dir" "$port" -d postgres "$@"
        ;;
    *)
        echo "usage: $0 start|stop|status|url|psql [args]" >&2
        exit 2
        ;;
esac
