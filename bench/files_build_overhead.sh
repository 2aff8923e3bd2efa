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
WORK=${WORK:-/tmp/hogo-build-bench}; REPS=${REPS:-3}; NFILES=${NFILES:-300}; JOBS=${JOBS:-2}
export WORK REPS NFILES JOBS
. "$(dirname "$0")/files_lib.sh"
files_bench_enter files_build_overhead "$@"
MNT=$WORK/mnt; DEST=$WORK/dest
files_bench_tmpfs "$MNT" 1G
files_bench_tmpfs "$DEST" 64M

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

files_bench_policy p <<EOF
{"version": 1, "name": "bench-build",
 "marked_files": {"xattr": "user.hogo.label", "paths": ["$MNT/jumin/**"],
                  "content": {"my_number": true, "my_number_min_matches": 1, "scan_max_bytes": 1048576, "patterns": []}},
 "bulk_transfer": {"window_seconds": 3600, "max_files": 20, "max_bytes": 1099511627776,
                   "destinations": ["removable", "$DEST"], "action": "warn", "cooldown_seconds": 3600}}
EOF

agent_watching() {
    agent_status | python3 -c '
import json, sys
f = json.load(sys.stdin)["sources"]["files"]
print("# agent watching:", ", ".join("%s (%s)" % (t["path"], t["why"]) for t in f["watching"]),
      "| unmarked_opens", f["unmarked_opens"], "ignore_marks", f["ignore_marks"],
      "queue_overflows", f["queue_overflows"])'
}
echo "# warm-up build (untimed)"
make -s -C "$P" -j"$JOBS" prog >/dev/null; rm -rf "$P/obj" "$P/prog"

RES=$WORK/build_results.txt; : > "$RES"; : > "$WORK/listener.err"
cfgs=(none floor agent)
for ((r = 1; r <= REPS; r++)); do
    for ((k = 0; k < ${#cfgs[@]}; k++)); do
        cfg=${cfgs[$(( (k + r - 1) % ${#cfgs[@]} ))]}
        case $cfg in floor) listener_start notify "$MNT" ;; agent) agent_start p ;; esac
        sync; t0=$(now_us); make -s -C "$P" -j"$JOBS" prog >/dev/null; t1=$(now_us)
        [ -x "$P/prog" ] || { echo "build failed" >&2; exit 1; }
        case $cfg in floor) listener_stop ;; agent) agent_watching; agent_stop ;; esac
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
