#!/usr/bin/env bash
# tests/services/postgres.sh — a throwaway PostgreSQL cluster for the store's test suite.
#
#   tests/services/postgres.sh start DIR   initdb into DIR, start the server listening only
#                                          on a unix socket in DIR (no TCP), create the
#                                          database hogo_test; prints its libpq conninfo
#   tests/services/postgres.sh stop DIR    stops that server and removes DIR
#
# DIR is made (or must be empty) and belongs to the cluster alone, so several runs on one
# machine never meet. initdb refuses to run as root: as root, the cluster runs as the
# postgres user (from the postgresql package) and DIR is given to it (mode 0700, so only
# root and postgres reach the socket). PG_BIN overrides /usr/lib/postgresql/15/bin.
# On failure it says why on stderr, with the server's log, and exits non-zero.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$dir" ] || { [ "$cmd" != start ] && [ "$cmd" != stop ]; }; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
dir=$(realpath -m "$dir")
marker=$dir/.hogo-test-postgres

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$pg_bin/initdb" ]; then
    echo "postgres.sh: no PostgreSQL server in $pg_bin (install the postgresql package:" \
         "scripts/install-deps)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop() {
    [ -f "$marker" ] || { echo "postgres.sh: $dir is not a test cluster; left alone" >&2; return 1; }
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

if [ "$cmd" = stop ]; then
    stop
    exit
fi

mkdir -p "$dir"
if [ -n "$(ls -A "$dir")" ]; then
    echo "postgres.sh: $dir is not empty; give a new directory" >&2
    exit 1
fi
touch "$marker"
chmod 0700 "$dir"
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "postgres.sh: running as root but there is no postgres user to run the server" \
             "(install the postgresql package: scripts/install-deps)" >&2
        rm -rf "$dir"
        exit 1
    fi
    chown postgres: "$dir"
fi

fail() {
    echo "postgres.sh: $1" >&2
    for f in "$dir/initdb.log" "$dir/server.log"; do
        [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    stop || true
    exit 1
}

# fsync stays on: the store's durability settings are what the suite and the benchmark see.
as_owner "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || fail "initdb into $dir/data failed"
as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $dir -c max_connections=50" start >/dev/null 2>&1 \
    || fail "the server did not start"
as_owner "$pg_bin/createdb" -h "$dir" -U postgres hogo_test 2>>"$dir/server.log" \
    || fail "createdb hogo_test failed"
echo "host=$dir user=postgres dbname=hogo_test"
