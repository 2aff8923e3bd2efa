#!/usr/bin/env bash
# files_build_overhead.sh — what the files source costs a developer's build outside marked
# areas: NFILES generated small C files (each including a header of the tree and libc
# headers) compiled with `make -jJOBS` (cc -c, then one link) on a private tmpfs, with
#   none     no listener
#   floor    the do-nothing fanotify listener of ../shared/bench-peers in notify mode
#            (FAN_OPEN|FAN_CLOSE_WRITE on the build mount: the kernel's floor)
#   agent    the real hogo-agent whose policy marks a directory of the same mount
#            (FAN_OPEN on the build mount; the build tree holds no marked file) and has a
#            second tmpfs as destination (FAN_CLOSE_WRITE there)
# Prints each run, then medians over REPS and the ratio to none (target: agent ≤ 1.05).
#   env: WORK=/tmp/hogo-build-bench REPS=3 NFILES=300 JOBS=2
set -euo pipefail
SRC=${HOGO_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${HOGO_BUILD:-$SRC/build}
PEERS=${PEERS:-$SRC/../../shared/bench-peers}
[ -d "$PEERS" ] || PEERS=/work/shared/bench-peers
WORK=${WORK:-/tmp/hogo-build-bench}; REPS=${REPS:-3}; NFILES=${NFILES:-300}; JOBS=${JOBS:-2}
export SRC BUILD PEERS WORK REPS NFILES JOBS

if [ "$(id -u)" -ne 0 ]; then echo "files_build_overhead: run as root (fanotify, mounts)" >&2; exit 1; fi
if [ "${1:-}" != "--inner" ]; then
    mkdir -p "$WORK"
    gcc -O2 -Wall -o "$WORK/fan_listener" "$PEERS/fan_listener.c"
    exec unshare -m --propagation private "$0" --inner
fi

MNT=$WORK/mnt; DEST=$WORK/dest; LPID=; APID=
mkdir -p "$MNT" "$DEST"
mount -t tmpfs -o size=1G tmpfs "$MNT"
mount -t tmpfs -o size=64M tmpfs "$DEST"
cleanup() {
    [ -n "$LPID" ] && { kill -TERM "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; }
    [ -n "$APID" ] && { kill -TERM "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; }
    umount "$DEST" 2>/dev/null || umount -l "$DEST" || true
    umount "$MNT" 2>/dev/null || umount -l "$MNT" || true
}
trap cleanup EXIT

echo "# generating $NFILES C files in $MNT/proj"
P=$MNT/proj; mkdir -p "$P/src" "$MNT/jumin"
for i in $(seq 1 25); do echo "row $i" > "$MNT/jumin/m$i.csv"; done
cat > "$P/src/proj.h" <<'EOF'
#pragma once
#include <stddef.h>
#include <stdint.h>
struct item { uint64_t key; const char *name; size_t len; };
uint64_t mix(uint64_t x);
EOF
for ((i = 0; i < NFILES; i++)); do
    cat > "$P/src/u$i.c" <<EOF
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proj.h"
static int cmp_$i(const void *a, const void *b) {
    const struct item *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}
uint64_t unit_$i(const char *s) {
    struct item it[16];
    for (size_t k = 0; k < 16; k++) { it[k].key = mix(k * $i + strlen(s)); it[k].name = s; it[k].len = k; }
    qsort(it, 16, sizeof it[0], cmp_$i);
    char buf[64]; snprintf(buf, sizeof buf, "%s-%d", s, $i);
    return it[0].key ^ strlen(buf);
}
EOF
done
{
    echo '#include <stdio.h>'; echo '#include "proj.h"'
    echo 'uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; return x ^ (x >> 33); }'
    for ((i = 0; i < NFILES; i++)); do echo "uint64_t unit_$i(const char *s);"; done
    echo 'int main(void) { uint64_t h = 0;'
    for ((i = 0; i < NFILES; i++)); do echo "h += unit_$i(\"x\");"; done
    echo 'printf("%llu\n", (unsigned long long)h); return 0; }'
} > "$P/src/main.c"
cat > "$P/Makefile" <<'EOF'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=obj/%.o)
prog: $(OBJS)
	cc -o $@ $^
obj/%.o: src/%.c src/proj.h | obj
	cc -O1 -Wall -c -o $@ $<
obj:
	mkdir -p obj
EOF

A=$WORK/agent; rm -rf "$A"; mkdir -p "$A/sys"
"$BUILD/hogoctl" policy keygen --out "$A/keys" >/dev/null
cat > "$A/p.json" <<EOF
{"version": 1, "name": "bench-build",
 "marked_files": {"xattr": "user.hogo.label", "paths": ["$MNT/jumin/**"],
                  "content": {"my_number": true, "my_number_min_matches": 1, "scan_max_bytes": 1048576, "patterns": []}},
 "bulk_transfer": {"window_seconds": 3600, "max_files": 20, "max_bytes": 1099511627776,
                   "destinations": ["removable", "$DEST"], "action": "warn", "cooldown_seconds": 3600}}
EOF
"$BUILD/hogoctl" policy sign --key "$A/keys/policy-signing.key" "$A/p.json" > "$A/p.signed"

start_agent() {
    rm -rf "$A/run"; mkdir -p "$A/run/policy"
    cp "$A/p.signed" "$A/run/policy/policy.json"
    cat > "$A/run/agent.json" <<EOF
{"spool_dir": "$A/run/spool", "policy_dir": "$A/run/policy",
 "policy_pubkey": "$A/keys/policy-signing.pub", "state_dir": "$A/run/state",
 "control_socket": "$A/run/agent.sock", "posture_file": "$A/run/posture.json", "sysfs_root": "$A/sys", "log_level": "warning",
 "notify": {"fallback": "none"}}
EOF
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$BUILD/hogo-agent" -d -c "$A/run/agent.json" \
        >> "$A/agent.log" 2>&1 &
    APID=$!
    for _ in $(seq 500); do [ -S "$A/run/agent.sock" ] && break; sleep 0.01; done
    [ -S "$A/run/agent.sock" ] || { echo "agent did not start; see $A/agent.log" >&2; exit 1; }
    sleep 0.3
}
agent_watching() {
    "$BUILD/hogoctl" status --json --socket "$A/run/agent.sock" | python3 -c '
import json, sys
f = json.load(sys.stdin)["sources"]["files"]
print("# agent watching:", ", ".join("%s (%s)" % (t["path"], t["why"]) for t in f["watching"]),
      "| unmarked_opens", f["unmarked_opens"], "ignore_marks", f["ignore_marks"],
      "queue_overflows", f["queue_overflows"])'
}
stop_agent() { kill -TERM "$APID"; wait "$APID" || true; APID=; }
start_listener() {
    : > "$WORK/listener.out"
    timeout 900 "$WORK/fan_listener" notify "$MNT" > "$WORK/listener.out" 2>> "$WORK/listener.err" &
    LPID=$!
    for _ in $(seq 500); do grep -q ready "$WORK/listener.out" && return 0; sleep 0.01; done
    echo "floor listener did not start" >&2; exit 1
}
stop_listener() { kill -TERM "$LPID"; wait "$LPID" || true; LPID=; }

now_us() { echo $(( $(date +%s%N) / 1000 )); }
echo "# warm-up build (untimed)"
make -s -C "$P" -j"$JOBS" prog >/dev/null; rm -rf "$P/obj" "$P/prog"

RES=$WORK/build_results.txt; : > "$RES"; : > "$WORK/listener.err"
cfgs=(none floor agent)
for ((r = 1; r <= REPS; r++)); do
    for ((k = 0; k < ${#cfgs[@]}; k++)); do
        cfg=${cfgs[$(( (k + r - 1) % ${#cfgs[@]} ))]}
        case $cfg in floor) start_listener ;; agent) start_agent ;; esac
        sync; t0=$(now_us); make -s -C "$P" -j"$JOBS" prog >/dev/null; t1=$(now_us)
        [ -x "$P/prog" ] || { echo "build failed" >&2; exit 1; }
        case $cfg in floor) stop_listener ;; agent) agent_watching; stop_agent ;; esac
        rm -rf "$P/obj" "$P/prog"
        echo "$r $cfg $(( t1 - t0 ))" >> "$RES"
        printf 'rep %d %-6s build %8.1f ms\n' "$r" "$cfg" "$(echo "($t1-$t0)/1000" | bc -l)"
    done
done

echo "# floor listener event counts per run:"; sed 's/^/#   /' "$WORK/listener.err"
echo "# medians over $REPS reps of make -j$JOBS ($NFILES files + link), ratio vs none (target agent <= 1.05)"
base=
for cfg in none floor agent; do
    med=$(awk -v c="$cfg" '$2==c {print $3}' "$RES" | sort -n |
          awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')
    [ -z "$base" ] && base=$med
    printf 'build %-6s median %9.1f ms  ratio %.3f\n' "$cfg" "$(echo "$med/1000" | bc -l)" "$(echo "$med/$base" | bc -l)"
done
