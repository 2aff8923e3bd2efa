#!/usr/bin/env bash
# files_event_rate.sh — how many fanotify events per second the files source handles before
# its queue overflows, next to the do-nothing floor listener of ../shared/bench-peers (notify
# mode) in the same run. NPROC-1 processes open and close marked files (NMARKED glob-marked
# files on a private tmpfs: FAN_OPEN on a data mount) and one process rewrites small files
# on a second tmpfs that the policy names as destination (FAN_CLOSE_WRITE), at a total
# offered rate that doubles each STEP_SECS step from RATE0. For each listener, per step:
# the rate the load generator reached, the events the listener handled per second (from the
# start of the step until its counters stop moving) and the queue overflows (agent:
# `sources.files.queue_overflows` and its counters from `hogoctl status --json`; floor: the
# FAN_Q_OVERFLOW events it read). Stops at the first overflow, or when the generator
# cannot reach the offered rate (then there is no overflow up to what this machine can
# offer). Prints the highest rate without overflow and the rate where overflow starts.
# Every process cycles through more distinct files (the writer 20000) than the kernel's
# 16384-event queue holds, so the kernel's merging of a repeated event still queued (same
# process, same file) cannot hide a backlog: events handled must equal operations made.
#   env: WORK=/tmp/hogo-rate-bench NPROC=4 NMARKED=50000 RATE0=4000 MAXRATE=512000 STEP_SECS=3
set -euo pipefail
WORK=${WORK:-/tmp/hogo-rate-bench}; NPROC=${NPROC:-4}; NMARKED=${NMARKED:-50000}
RATE0=${RATE0:-4000}; MAXRATE=${MAXRATE:-512000}; STEP_SECS=${STEP_SECS:-3}
export WORK NPROC NMARKED RATE0 MAXRATE STEP_SECS
. "$(dirname "$0")/files_lib.sh"
files_bench_enter files_event_rate "$@"
MNT=$WORK/mnt; DEST=$WORK/dest
files_bench_tmpfs "$MNT" 256M
files_bench_tmpfs "$DEST" 160M # 20000 one-page files

# load generator: paced in 1 ms slices; prints "<operations> <seconds>" for all processes
cat > "$WORK/gen.py" <<'EOF'
import os, sys, time
rate, secs, nproc, marked, nmarked, dest = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
per = rate / nproc
pipes = []
for w in range(nproc):
    r, wfd = os.pipe()
    if os.fork() == 0:
        os.close(r)
        names = ["%s/m%d.csv" % (marked, i) for i in range(w, nmarked, nproc - 1 or 1)] if w else \
                ["%s/w%d.txt" % (dest, i) for i in range(20000)]
        n, t0 = 0, time.monotonic()
        end = t0 + secs
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = int(per * (now - t0))
            if n >= due:
                time.sleep(0.001)
                continue
            for _ in range(min(due - n, 2000)):
                if w:
                    os.close(os.open(names[n % len(names)], os.O_RDONLY))
                else:
                    fd = os.open(names[n % len(names)], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.write(fd, b"sample line\n")
                    os.close(fd)
                n += 1
        os.write(wfd, b"%d %f\n" % (n, time.monotonic() - t0))
        os._exit(0)
    os.close(wfd)
    pipes.append(r)
ops, el = 0, 0.0
for r in pipes:
    a, b = os.read(r, 100).split()
    ops += int(a); el = max(el, float(b))
for _ in pipes:
    os.wait()
print(ops, el)
EOF
python3 - "$MNT/jumin" "$NMARKED" <<'EOF'
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
for i in range(int(sys.argv[2])):
    with open("%s/m%d.csv" % (sys.argv[1], i), "w") as f:
        f.write("name,number\nrow %d,123\n" % i)
EOF

files_bench_policy p <<EOF
{"version": 1, "name": "bench-rate",
 "marked_files": {"xattr": "user.hogo.label", "paths": ["$MNT/jumin/**"],
                  "content": {"my_number": true, "my_number_min_matches": 1, "scan_max_bytes": 1048576, "patterns": []}},
 "bulk_transfer": {"window_seconds": 3600, "max_files": 100000, "max_bytes": 1099511627776,
                   "destinations": ["$DEST"], "action": "warn", "cooldown_seconds": 3600}}
EOF

# counters of the agent's files source: "<handled events> <queue overflows>"
agent_counters() {
    agent_status | python3 -c '
import json, sys
f = json.load(sys.stdin)["sources"]["files"]
print(f["marked_opens"] + f["unmarked_opens"] + f["destination_writes_counted"]
      + f["destination_writes_unmarked"] + f["destination_writes_unplaced"], f["queue_overflows"])'
}
now_s() { date +%s.%N; }
gen() { python3 "$WORK/gen.py" "$1" "$STEP_SECS" "$NPROC" "$MNT/jumin" "$NMARKED" "$DEST"; }

RES=$WORK/rate_results.txt; : > "$RES"
step_floor() { # $1 offered rate → "achieved handled overflows"
    : > "$WORK/listener.err"
    listener_start notify "$MNT"
    listener_start notify "$DEST"
    read -r ops el < <(gen "$1")
    sleep 1
    listener_stop
    awk -v el="$el" -v ops="$ops" '{split($3, e, "="); split($4, o, "="); ev += e[2]; ov += o[2]}
        END {printf "%.0f %.0f %d\n", ops / el, ev / el, ov}' "$WORK/listener.err"
}
step_agent() {
    read -r c0 o0 < <(agent_counters)
    read -r ops el < <(gen "$1")
    # drained: counters unchanged for 0.3 s (at most 20 s). The rate is the events handled
    # over the generator's own run plus the time the agent needed after it (to within the
    # 0.05 s polling): timing from before the generator started, or to a coarse poll,
    # would show events as lost that were all handled (the counts are printed too).
    tg=$(now_s); tl=$tg; read -r c o < <(agent_counters); last=$c; still=0
    for _ in $(seq 400); do
        sleep 0.05; read -r c o < <(agent_counters)
        if [ "$c" = "$last" ]; then still=$(( still + 1 )); [ "$still" -ge 6 ] && break; continue; fi
        still=0; last=$c; tl=$(now_s)
    done
    awk -v ops="$ops" -v el="$el" -v c="$(( c - c0 ))" -v o="$(( o - o0 ))" -v lag="$(echo "$tl - $tg" | bc -l)" \
        'BEGIN {printf "%.0f %.0f %d %d %d\n", ops / el, c / (el + lag), o, c, ops}'
}
echo "# $NMARKED marked files, $NPROC processes ($((NPROC - 1)) opening marked files, 1 writing to the destination), ${STEP_SECS}s steps"
for who in floor agent; do
    if [ "$who" = agent ]; then agent_start p; fi
    rate=$RATE0; ok=0; over=; mid=
    while [ "$rate" -le "$MAXRATE" ]; do
        read -r got handled ovf count offered < <(step_$who "$rate")
        printf '%-5s offered %7d/s  reached %7d/s  handled %7d events/s  overflows %d%s\n' \
            "$who" "$rate" "$got" "$handled" "$ovf" "${count:+  (events handled $count of $offered made)}"
        if [ "$ovf" -gt 0 ]; then
            over=$got
            if [ "$ok" -gt 0 ] && [ -z "${mid:-}" ]; then # one step between the last good rate and this
                mid=$(( (ok + got) / 2 )); rate=$mid; continue
            fi
            break
        fi
        [ "$got" -gt "$ok" ] && ok=$got
        [ -n "$mid" ] && break
        if [ "$got" -lt $(( rate * 8 / 10 )) ]; then break; fi # generator saturated
        rate=$(( rate * 2 ))
    done
    echo "$who $ok ${over:--}" >> "$RES"
done
agent_stop
echo "# agent files.queue_overflow events raised (at most one a minute):" \
    "$(grep -c '\[files.queue_overflow' "$A/agent.log" || true)"
echo "# summary (opens + close-writes per second offered by the generator)"
while read -r who ok over; do
    if [ "$over" = - ]; then
        printf '%-5s highest without overflow %7d/s  overflow: none up to what the generator reached\n' "$who" "$ok"
    else
        printf '%-5s highest without overflow %7d/s  overflow starts at %7d/s\n' "$who" "$ok" "$over"
    fi
done < "$RES"
