# Shared shell helpers for running a PostgreSQL 15 cluster of the project's own.
# Sourced by scripts/db.sh (the local stack) and scripts/test.sh (the regress
# clusters). Postgres refuses to run as root, so when we are root every server
# command runs as the `postgres` user and the cluster directory belongs to it.

PG_BIN=${PG_BIN:-$(/usr/bin/pg_config --bindir)}

# Run a command as the user that owns the clusters.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_cluster_init DIR PASSWORD: initdb DIR (if it has no cluster yet) with
# trust on the unix socket and scram-sha-256 over TCP for user postgres.
pg_cluster_init() {
    local dir password=$2
    dir=$(realpath -m "$1")
    [ -f "$dir/data/PG_VERSION" ] && return 0
    mkdir -p "$dir/data" "$dir/run"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$dir"
    fi
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    chmod 644 "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --locale=C.UTF-8 --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" >"$dir/initdb.log"
    rm -f "$pwfile"
}

# pg_cluster_start DIR PORT [SETTINGS]: start the cluster in DIR on
# 127.0.0.1:PORT, with its unix socket in DIR/run, and wait until it accepts
# connections. SETTINGS are extra `-c name=value` server options (tests pass
# fsync=off; the local stack keeps the durable defaults). Every cluster runs
# with wal_level=logical: Realtime reads changes by logical decoding (wal2json),
# one temporary slot per running stack; a slot that falls more than 1 GB behind
# is invalidated rather than let WAL grow (Realtime then takes a new one).
pg_cluster_start() {
    local dir port=$2 settings=${3:-}
    dir=$(realpath -m "$1")
    if pg_cluster_running "$dir"; then
        return 0
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c wal_level=logical -c max_replication_slots=32 -c max_slot_wal_keep_size=1GB $settings" \
        start >/dev/null
}

pg_cluster_stop() {
    local dir=$1
    if pg_cluster_running "$dir"; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
}

pg_cluster_running() {
    local dir=$1
    [ -f "$dir/data/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# pg_psql DIR PORT [psql args...]: psql as postgres over the cluster's socket.
pg_psql() {
    local dir port=$2
    dir=$(realpath -m "$1")
    shift 2
    PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U postgres "$@"
}

# ourvidz_home ROOT: where clusters and stack data live — $OURVIDZ_HOME, else
# ROOT/.ourvidz. When we are root and the postgres user cannot reach ROOT (a
# checkout under /root, say), the server could not open its own data
# directory there, so a per-checkout directory under /var/tmp is used instead.
ourvidz_home() {
    local root=$1
    if [ -n "${OURVIDZ_HOME:-}" ]; then
        echo "$OURVIDZ_HOME"
    elif [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$root"; then
        echo "/var/tmp/ourvidz-$(printf '%s' "$root" | md5sum | cut -c1-12)"
    else
        echo "$root/.ourvidz"
    fi
}
