#!/usr/bin/env bash
# collector_ingest — the collector's throughput on this machine, with SQLite:
#  1. ingest: AGENTS simulated agents (default 8), each on its own keep-alive mTLS
#     connection, post BATCHES batches of 500 chained events (built before the clock
#     starts); events/s (target ≥ 50,000) and events per collector CPU-second; with
#     PEER_COLLECTOR=path/to/another/hogo-collector the same load goes to that build
#     and to this one, INGEST_ROUNDS times (default 2) alternating, in the same run
#     (before/after);
#  2. heartbeat: the same agents post heartbeats, alternating ROUNDS times between
#     hogo-collector and nginx answering a static 204 over the same mTLS
#     (bench/nginx.conf); requests/s and requests per server CPU-second of both, and the
#     ratios (target ≥ 0.5 of nginx's requests/s).
# Prints figures; not a pass/fail test. Env: AGENTS, BATCHES, DURATION (heartbeat seconds
# per server, split over ROUNDS), ROUNDS, THREADS, PEER_COLLECTOR, INGEST_ROUNDS.
set -uo pipefail
SRC=${HOGO_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${HOGO_BUILD:-$SRC/build}
LOAD=$BUILD/tests/tools/collector_load
AGENTS=${AGENTS:-8} BATCHES=${BATCHES:-25} SECONDS_RUN=${DURATION:-5} THREADS=${THREADS:-2}
for b in "$BUILD/hogo-collector" "$BUILD/hogoctl" "$LOAD"; do
    [ -x "$b" ] || { echo "collector_ingest: $b is not built (make all)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/hogo-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(port)

"$BUILD/hogoctl" ca init --dir "$T/ca" --server-name localhost --server-name 127.0.0.1 >/dev/null
# CPU seconds the collector has used (user + system): on a shared machine the rate per
# CPU-second says more than the wall-clock rate alone.
cpu_seconds() { # PID...: user + system seconds of those processes (all their threads)
    local p total=0
    for p in "${@:-$COLLECTOR_PID}"; do
        total=$(awk -v hz="$(getconf CLK_TCK)" -v t="$total" '{ print t + ($14 + $15) / hz }' "/proc/$p/stat")
    done
    echo "$total"
}
per_cpu() { # REQUESTS_LINE CPU0 CPU1: "N requests per CPU-second"
    python3 -c "import sys; n=int(sys.argv[1].split('(')[1].split()[0]); c=float(sys.argv[3])-float(sys.argv[2]); print('%.0f per server CPU-second' % (n / c if c else 0))" "$@"
}

# start_collector NAME BINARY: a collector with its own (new) SQLite store and ports, AGENTS
# agents enrolled into $T/NAME/agents; sets COLLECTOR_PID, AGENT_PORT.
start_collector() {
    local name=$1 bin=$2 dir=$T/$1
    rm -rf "$dir"
    mkdir -p "$dir/agents"
    AGENT_PORT=$(port) ENROLL_PORT=$(port)
    local metrics=''
    # this build serves /metrics on a listener of its own; a peer build may predate it
    [ "$bin" = "$BUILD/hogo-collector" ] && metrics=", \"metrics\": [\"127.0.0.1:$(port)\"]"
    cat >"$dir/collector.json" <<JSON
{ "listen": { "agent": ["127.0.0.1:$AGENT_PORT"], "enroll": ["127.0.0.1:$ENROLL_PORT"]$metrics },
  "tls": { "certificate": "$T/ca/server.crt", "key": "$T/ca/server.key",
           "ca": "$T/ca/ca.crt", "ca_key": "$T/ca/ca.key" },
  "store": { "sqlite": "$dir/collector.db" }, "threads": $THREADS, "log_level": "warning" }
JSON
    ${COLLECTOR_WRAP:-} "$bin" -d -c "$dir/collector.json" 2>"$dir/collector.log" &
    pids+=($!)
    COLLECTOR_PID=$!
    for _ in $(seq 100); do curl -fsS --cacert "$T/ca/ca.crt" "https://127.0.0.1:$ENROLL_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    local token
    token=$("$BUILD/hogoctl" token create -c "$dir/collector.json" --department 総務課 --uses "$AGENTS" 2>/dev/null)
    "$LOAD" enroll "https://127.0.0.1:$ENROLL_PORT" "$T/ca/ca.crt" "$token" "$AGENTS" "$dir/agents" || exit 1
}

# ingest_run NAME: AGENTS agents post BATCHES batches of 500 events to collector NAME;
# prints events/s and events per collector CPU-second, then checks the store's count.
ingest_run() {
    local name=$1 dir=$T/$1 cpu0 cpu1 stored
    printf '  %-9s ' "$name:"
    cpu0=$(cpu_seconds)
    "$LOAD" ingest "https://127.0.0.1:$AGENT_PORT" "$T/ca/ca.crt" "$dir/agents" "$AGENTS" "$BATCHES" 500 | tr -d '\n'
    cpu1=$(cpu_seconds)
    python3 -c "import sys; n=int(sys.argv[1]); c=float(sys.argv[3])-float(sys.argv[2]); print('; collector CPU %.2f s, %.0f events per collector CPU-second' % (c, n / c if c else 0))" \
        "$((AGENTS * BATCHES * 500))" "$cpu0" "$cpu1"
    stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])" "$dir/collector.db")
    [ "$stored" -eq "$((AGENTS * BATCHES * 500))" ] ||
        echo "  $name: $stored events in the store, expected $((AGENTS * BATCHES * 500))"
}

# Side by side in this one run: with PEER_COLLECTOR (another build of hogo-collector, e.g.
# main's, for a before/after) both builds take the same load INGEST_ROUNDS times (default 2),
# alternating which goes first, each time on a new store.
PEER=${PEER_COLLECTOR:-} INGEST_ROUNDS=${INGEST_ROUNDS:-2}
echo "ingest (SQLite, $THREADS worker threads, $AGENTS agents x $BATCHES batches of 500 events; target >= 50,000 events/s; load average $(cut -d' ' -f1 /proc/loadavg) before):"
if [ -n "$PEER" ]; then
    for round in $(seq "$INGEST_ROUNDS"); do
        order="peer hogo"
        [ $((round % 2)) -eq 0 ] && order="hogo peer"
        for name in $order; do
            bin=$BUILD/hogo-collector
            [ "$name" = peer ] && bin=$PEER
            start_collector "$name" "$bin"
            ingest_run "$name"
            kill "$COLLECTOR_PID" 2>/dev/null
            wait "$COLLECTOR_PID" 2>/dev/null
        done
    done
fi
start_collector hogo "$BUILD/hogo-collector"
[ -n "$PEER" ] || ingest_run hogo

# Heartbeats: hogo-collector and nginx (a static 204 over the same mutual TLS, same
# certificates, same TLS versions, suites and groups, keep-alive without a request cap,
# bench/nginx.conf) are driven by the same load (the same AGENTS keep-alive clients) in
# ROUNDS alternating runs, so a neighbour's load on this shared machine hits both alike.
# Target: hogo's requests/s >= 0.5 of nginx's. Per server CPU-second says the same
# without the neighbours' noise.
heartbeat_run() { # NAME PORT PID...: one run; appends "NAME requests seconds cpu" to $T/hb
    local name=$1 port=$2 out c0 c1
    shift 2
    c0=$(cpu_seconds "$@")
    out=$("$LOAD" requests "https://127.0.0.1:$port" "$T/ca/ca.crt" "$T/hogo/agents" "$AGENTS" "$ROUND_SECONDS" /v1/heartbeat)
    c1=$(cpu_seconds "$@")
    printf '    %-15s %s; %s\n' "$name:" "$out" "$(per_cpu "$out" "$c0" "$c1")"
    python3 -c "import sys; f=sys.argv[2].split('(')[1].split(); print(sys.argv[1], f[0], f[2], float(sys.argv[4]) - float(sys.argv[3]))" \
        "$name" "$out" "$c0" "$c1" >>"$T/hb"
}
ROUNDS=${ROUNDS:-2}
ROUND_SECONDS=$(( (SECONDS_RUN + ROUNDS - 1) / ROUNDS ))
ngx_all=()
if command -v nginx >/dev/null; then
    mkdir -p "$T/nginx-body"
    sed -e "s|@DIR@|$T|g" -e "s|@CA@|$T/ca|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|$THREADS|g" \
        "$SRC/bench/nginx.conf" >"$T/nginx.conf"
    nginx -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -sS --cacert "$T/ca/ca.crt" --cert "$T/hogo/agents/agent0.crt" --key "$T/hogo/agents/agent0.key" "https://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && break; sleep 0.05; done
    ngx_all=("${pids[-1]}" $(pgrep -P "${pids[-1]}"))
fi
thread_cpu() { # the collector's CPU seconds per thread name (workers, store writer)
    local t
    for t in /proc/"$COLLECTOR_PID"/task/*; do
        awk -v hz="$(getconf CLK_TCK)" -v name="$(cat "$t/comm")" '{ print name, ($14 + $15) / hz }' "$t/stat"
    done
}
echo "heartbeat: $AGENTS keep-alive mTLS clients, $ROUNDS alternating rounds of ${ROUND_SECONDS}s (load average $(cut -d' ' -f1 /proc/loadavg) before):"
: >"$T/hb"
thread_cpu >"$T/threads0"
for ((round = 1; round <= ROUNDS; round++)); do
    heartbeat_run hogo-collector "$AGENT_PORT" "$COLLECTOR_PID"
    [ ${#ngx_all[@]} -gt 0 ] && heartbeat_run "nginx 204" "$NGINX_PORT" "${ngx_all[@]}"
done
thread_cpu >"$T/threads1"
python3 - "$T/hb" "$T/threads0" "$T/threads1" <<'PY'
import sys
def cpu(path):
    d = {}
    for line in open(path):
        name, secs = line.rsplit(None, 1)
        d[name] = d.get(name, 0.0) + float(secs)
    return d
t0, t1 = cpu(sys.argv[2]), cpu(sys.argv[3])
print('  hogo-collector CPU by thread: ' + ', '.join(
    '%s %.2f s' % (n, t1[n] - t0.get(n, 0.0)) for n in sorted(t1) if t1[n] - t0.get(n, 0.0) > 0.005))
runs = {}
for line in open(sys.argv[1]):
    *name, n, secs, cpu = line.split()
    r = runs.setdefault(' '.join(name), [0, 0.0, 0.0])
    r[0] += int(n); r[1] += float(secs); r[2] += float(cpu)
for name, (n, secs, cpu) in runs.items():
    print('  %-16s %6.0f requests/s, %6.0f per server CPU-second (%d requests, %.1f s, %.2f CPU-s)'
          % (name + ':', n / secs, n / cpu if cpu else 0, n, secs, cpu))
h, g = runs.get('hogo-collector'), runs.get('nginx 204')
if h and g:
    print('  ratio hogo/nginx: %.2f requests/s (target >= 0.5), %.2f per CPU-second'
          % ((h[0] / h[1]) / (g[0] / g[1]), (h[0] / h[2]) / (g[0] / g[2]) if h[2] and g[2] else 0))
else:
    print('  nginx not installed (scripts/install-deps installs nginx-light); no comparison')
PY
