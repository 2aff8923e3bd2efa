#!/usr/bin/env bash
# agent_idle — what an idle hogo-agent costs: resident memory and CPU over a quiet minute.
# Targets: RSS ≤ 8 MiB, CPU ≤ 0.1 % of one core. Prints figures; asserts nothing. "Idle"
# means nobody talks to the agent; its sources still see the machine (the files source
# is woken by other processes' file opens), so measure on a quiet machine.
#   bench/agent_idle.sh              60 s
#   IDLE_SECONDS=10 bench/agent_idle.sh
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${HOGO_BUILD:-$SRC/build}
. "$SRC/bench/agent_lib.sh"
SECONDS_IDLE=${IDLE_SECONDS:-60}
T=$(mktemp -d "${TMPDIR:-/tmp}/hogo-bench-idle.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

agent_bench_config "$T" "$T/spool"

# the system bus of the machine when there is one: the agent idles as it would in service
"$BUILD/hogo-agent" -d -c "$T/agent.json" 2>"$T/agent.log" &
PID=$!
for _ in $(seq 100); do [ -S "$T/agent.sock" ] && break; sleep 0.1; done
[ -S "$T/agent.sock" ] || { echo "agent_idle: the agent did not start:"; cat "$T/agent.log"; exit 1; }
sleep 2 # start-up work (policy, spool, posture) is not idle time

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# each return from epoll_wait is a voluntary context switch: the agent's wake-ups
wakeups() { awk '/^voluntary_ctxt_switches:/ {print $2}' "/proc/$PID/status"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); w0=$(wakeups); s0=$(date +%s%N)
sleep "$SECONDS_IDLE"
t1=$(ticks); w1=$(wakeups); s1=$(date +%s%N)
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
# most of RSS is shared library text (libcrypto, libc) that every process shares; the
# agent's own memory is its private dirty pages
priv=$(awk '/^Private_Dirty:/ {print $2}' "/proc/$PID/smaps_rollup")

# where the resident memory is: per mapping (a library, the heap, anonymous memory). Most
# of it is shared library pages; [anonymous] is mostly the files source's mark cache
# (its slots are filled by the machine's file opens, so it grows on a busy machine).
smaps_breakdown() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { n = NF >= 6 ? $6 : "[anonymous]"; sub(".*/", "", n); next }
         /^Rss:/ { rss[n] += $2 } /^Private_Dirty:/ { pd[n] += $2 }
         END { for (n in rss) if (rss[n] > 0) printf "%d %d %s\n", rss[n], pd[n], n }' "/proc/$PID/smaps" |
        sort -rn | head -n "${SMAPS_TOP:-12}" |
        awk '{ printf "agent_idle:   %7.2f MiB RSS %7.2f MiB private dirty  %s\n", $1 / 1024, $2 / 1024, $3 }'
}
echo "agent_idle: resident memory by mapping (largest first):"
smaps_breakdown
echo "agent_idle: threads $(awk '/^Threads:/ {print $2}' "/proc/$PID/status")"

awk -v t="$((t1 - t0))" -v hz="$hz" -v ns="$((s1 - s0))" -v rss="$rss" -v hwm="$hwm" -v priv="$priv" -v w="$((w1 - w0))" 'BEGIN {
    secs = ns / 1e9; cpu = 100 * (t / hz) / secs
    printf "agent_idle: RSS %.2f MiB (peak %.2f MiB, private dirty %.2f MiB; target <= 8 MiB)\n", rss / 1024, hwm / 1024, priv / 1024
    printf "agent_idle: CPU %.3f %% of a core over %.0f s (%d ticks; target <= 0.1 %%)\n", cpu, secs, t
    printf "agent_idle: %.2f wake-ups/s (events from the sources: file opens by other processes count)\n", w / secs
}'
