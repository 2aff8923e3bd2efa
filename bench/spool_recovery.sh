#!/usr/bin/env bash
# spool_recovery — how long hogo-agent takes to start on a full spool after kill -9: a
# spool filled to the default cap (256 MiB) with events of realistic size, the agent
# killed with SIGKILL, then the time from exec until its control socket answers
# `hogoctl status`. Beside it, in the same invocation: the spool's recovery alone
# (spool_writer recover), and the floor, reading every segment once (cat). Each with the
# spool's pages in the page cache (a restart after a crash) and dropped (a power cut).
# Target: about 1 s or less.
#   SPOOL_RECOVERY_MIB=256 bench/spool_recovery.sh
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${HOGO_BUILD:-$SRC/build}
. "$SRC/bench/agent_lib.sh"
MIB=${SPOOL_RECOVERY_MIB:-256}
# a real disk: /tmp may be tmpfs
T=$(mktemp -d "${HOGO_BENCH_DIR:-/var/tmp}/hogo-bench-recovery.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
W=$BUILD/tests/tools/spool_writer
D=$T/spool

agent_bench_config "$T" "$D"

# Events of the size the agent writes: a files event with its path, rule and classification
# is 500-700 bytes as stored. Filled to just under the cap, so the cap drops nothing.
"$W" append "$T/probe" --count 1000 --batch 1000 --pad 380 >"$T/probe.out"
per_event=$(awk '$1 == "stats" { for (i = 2; i <= NF; i++) if ($i ~ /^bytes=/) { sub("bytes=", "", $i); print $i / 1000 } }' "$T/probe.out")
count=$(awk -v m="$MIB" -v e="$per_event" 'BEGIN { printf "%d", m * 1048576 * 0.98 / e }')
fill_start=$(date +%s%N)
"$W" append "$D" --count "$count" --batch 4096 --pad 380 --security-every 0 >"$T/fill.out"
fill_ms=$((($(date +%s%N) - fill_start) / 1000000))
bytes=$(du -sb "$D" | cut -f1)
segs=$(ls "$D" | grep -c '^seg-')
printf 'spool_recovery: filled %s events, %.1f MiB in %d segments (%.0f bytes/event as stored) in %.1f s\n' \
    "$count" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$segs" "$per_event" \
    "$(awk -v m="$fill_ms" 'BEGIN { print m / 1000 }')"

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
drop_cache() { # only the spool's pages, not the whole machine's
    python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$D"/seg-*.log
}
START_MS=
agent_start() { # sets START_MS: exec to the first answer of the control socket
    local t0 answered=
    rm -f "$T/agent.sock"
    t0=$(date +%s%N)
    "$BUILD/hogo-agent" -d -c "$T/agent.json" </dev/null >/dev/null 2>>"$T/agent.log" &
    PID=$!
    for _ in $(seq 3000); do
        if "$BUILD/hogoctl" status --socket "$T/agent.sock" >/dev/null 2>&1; then answered=1; break; fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.005
    done
    START_MS=$(ms_since "$t0")
    [ -n "$answered" ] || { echo "spool_recovery: the agent did not answer:"; tail "$T/agent.log"; exit 1; }
}
kill_agent() { kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# the agent runs once on the spool (its own start-up events), then is killed
agent_start
sleep 1
kill_agent
for cache in warm cold; do
    [ $cache = cold ] && drop_cache
    t0=$(date +%s%N); cat "$D"/seg-*.log >/dev/null; cat_ms=$(ms_since "$t0")
    [ $cache = cold ] && drop_cache
    t0=$(date +%s%N); "$W" recover "$D" >/dev/null; rec_ms=$(ms_since "$t0")
    [ $cache = cold ] && drop_cache
    agent_start
    cpu=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    kill_agent
    printf 'spool_recovery (%s cache): kill -9 to control socket answering %d ms (agent CPU %d ms; target ~1000 ms) | spool recovery alone %d ms | peer: cat of every segment %d ms\n' \
        "$cache" "$START_MS" "$((cpu * 1000 / $(getconf CLK_TCK)))" "$rec_ms" "$cat_ms"
done
