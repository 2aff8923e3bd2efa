#!/usr/bin/env bash
# uplink_drain — how fast hogo-uplink empties a backlog: N events already in the spool
# (as after an outage), a real collector with SQLite on loopback over mTLS, timed from the
# uplink's start until <spool>/uplink/acked says N. Prints events/s, the CPU time of each side
# and the number of TLS connections the uplink opened (keep-alive: 1).
#   UPLINK_DRAIN_EVENTS (default 50000), UPLINK_DRAIN_BATCH (default 1000)
set -uo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$SRC/scripts/dev-env.sh"
N=${UPLINK_DRAIN_EVENTS:-50000}
BATCH=${UPLINK_DRAIN_BATCH:-1000}

AGENT_PORT=$(dev_free_port); ENROLL_PORT=$(dev_free_port)
dev_ca_init "$T/ca" localhost || exit 1
dev_collector_config "$T/collector.json" "$T/ca" "$T/collector.db" "127.0.0.1:$AGENT_PORT" "127.0.0.1:$ENROLL_PORT"
dev_collector_start "$T/collector.json" "$T/collector.log" "$T/ca/ca.crt" "https://localhost:$ENROLL_PORT" || exit 1
at_exit "kill $DEV_COLLECTOR_PID"
mkdir -p "$T/state" "$T/spool"
dev_token_create "$T/collector.json" bench >"$T/token" 2>/dev/null
DEV_UPLINK_EXTRA='"poll_ms": 50,' DEV_BATCH_MAX=$BATCH \
    dev_uplink_config "$T/uplink.json" "$T/ca/ca.crt" "$T/state" "$T/spool" "$T/policy" "$T/posture.json" \
    "$T/token" "https://localhost:$ENROLL_PORT" "https://localhost:$AGENT_PORT"
"$BUILD/hogo-uplink" -d -c "$T/uplink.json" --enroll-only 2>/dev/null || exit 1
"$BUILD/tests/tools/spool_feed" "$T/spool" "$N" >/dev/null || exit 1

cpu_ms() { awk '{ print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }
collector_cpu_before=$(cpu_ms "$DEV_COLLECTOR_PID")
start=$(date +%s%N)
"$BUILD/hogo-uplink" -d -c "$T/uplink.json" 2>/dev/null &
uplink=$!
at_exit "kill $uplink 2>/dev/null"
until [ "$(cat "$T/spool/uplink/acked" 2>/dev/null)" = "$N" ]; do
    kill -0 $uplink 2>/dev/null || { echo "the uplink exited"; exit 1; }
    sleep 0.01
done
ms=$((($(date +%s%N) - start) / 1000000))
echo "drained $N events in batches of $BATCH: $ms ms, $((N * 1000 / (ms > 0 ? ms : 1))) events/s"
echo "CPU: uplink $(cpu_ms $uplink) ms, collector $(($(cpu_ms "$DEV_COLLECTOR_PID") - collector_cpu_before)) ms"
echo "TLS connections opened by the uplink: $(jq .connections "$T/spool/uplink/status.json")"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
