#!/usr/bin/env bash
# files_overhead.sh — what the files source costs on real work, side by side in one run:
# `cp -a src dst` and `tar cf - src | cat >/dev/null` of a tree of NSMALL x 4 KiB files plus
# NBIG x BIGMB MiB on a private tmpfs, with no listener, with the do-nothing fanotify
# listeners of ../shared/bench-peers (notify and perm, marking the whole mount: the kernel's
# floor), and with the real hogo-agent whose policy makes that mount
#   agent-data  a data mount (a marked_files glob under it: FAN_OPEN on the mount; the
#               tree holds no marked file, so this is the "unmarked tree" case)
#   agent-dest  a destination (FAN_CLOSE_WRITE on the mount; every new file classified)
#   agent-block a data mount while a user is in a block cool-down (FAN_OPEN_PERM too)
# Prints one line per run and the medians with the ratio to no listener.
#   env: WORK=/tmp/hogo-files-bench REPS=3 NSMALL=20000 NBIG=2 BIGMB=256
set -euo pipefail
WORK=${WORK:-/tmp/hogo-files-bench}; REPS=${REPS:-3}
NSMALL=${NSMALL:-20000}; NBIG=${NBIG:-2}; BIGMB=${BIGMB:-256}
export WORK REPS NSMALL NBIG BIGMB
. "$(dirname "$0")/files_lib.sh"
files_bench_enter files_overhead "$@"
MNT=$WORK/mnt
files_bench_tmpfs "$MNT" 4G

echo "# building source tree: $NSMALL x 4 KiB + $NBIG x $BIGMB MiB in $MNT/src"
per=200; ndir=$(( (NSMALL + per - 1) / per ))
for ((d = 0; d < ndir; d++)); do
    n=$(( NSMALL - d * per < per ? NSMALL - d * per : per ))
    mkdir -p "$MNT/src/d$d"
    head -c $(( n * 4096 )) /dev/urandom | split -b 4096 -a 4 -d - "$MNT/src/d$d/f"
done
mkdir -p "$MNT/src/big" "$MNT/jumin"
for ((i = 0; i < NBIG; i++)); do head -c $(( BIGMB << 20 )) /dev/urandom > "$MNT/src/big/b$i"; done
for i in $(seq 1 25); do echo "row $i" > "$MNT/jumin/m$i.csv"; done

# agent: one policy per configuration
policy() { # $1 version, $2 paths json, $3 destinations json, $4 action
    files_bench_policy "p$1" <<EOF
{"version": $1, "name": "bench-$1",
 "marked_files": {"xattr": "user.hogo.label", "paths": $2,
                  "content": {"my_number": true, "my_number_min_matches": 1, "scan_max_bytes": 1048576, "patterns": []}},
 "bulk_transfer": {"window_seconds": 3600, "max_files": 20, "max_bytes": 1099511627776,
                   "destinations": $3, "action": "$4", "cooldown_seconds": 3600}}
EOF
}
policy 1 "[\"$MNT/jumin/**\"]" '["removable"]' warn
policy 2 '[]' "[\"$MNT\"]" warn
policy 3 "[\"$MNT/jumin/**\"]" '["removable"]' block

start_agent() { # $1 policy number
    agent_start "p$1"
    if [ "$1" = 3 ]; then # a user passes the limit: the block cool-down starts
        setfattr -n user.hogo.label -v personal "$MNT"/jumin/m*.csv
        setpriv --reuid=4242 --regid=4242 --clear-groups sh -c "cat $MNT/jumin/m*.csv >/dev/null; sleep 0.5"
        for _ in $(seq 100); do
            agent_status 2>/dev/null |
                grep -q '"blocking_active":true' && break
            sleep 0.05
        done
    fi
}
echo "# warm-up (untimed)"
cp -a "$MNT/src" "$MNT/dst"; tar cf - -C "$MNT" src | cat > /dev/null; rm -rf "$MNT/dst"

RES=$WORK/files_results.txt; : > "$RES"; : > "$WORK/listener.err"
cfgs=(none notify perm agent-data agent-dest agent-block)
for ((r = 1; r <= REPS; r++)); do
    for ((k = 0; k < ${#cfgs[@]}; k++)); do
        cfg=${cfgs[$(( (k + r - 1) % ${#cfgs[@]} ))]}
        case $cfg in
        notify|perm) listener_start "$cfg" "$MNT" ;;
        agent-data) start_agent 1 ;;
        agent-dest) start_agent 2 ;;
        agent-block) start_agent 3 ;;
        esac
        c0=0; c1=0; c2=0; [ "$cfg" = none ] || c0=$(listener_cpu_ms)
        t0=$(now_us); cp -a "$MNT/src" "$MNT/dst"; t1=$(now_us)
        [ "$cfg" = none ] || { sleep 0.2; c1=$(listener_cpu_ms); } # its queue drained
        t1b=$(now_us)
        tar cf - -C "$MNT" src | cat > /dev/null; t2=$(now_us)
        [ "$cfg" = none ] || { sleep 0.2; c2=$(listener_cpu_ms); }
        case $cfg in notify|perm) listener_stop ;; agent-*) agent_stop ;; esac
        rm -rf "$MNT/dst"
        echo "$r $cfg cp $(( t1 - t0 )) $(( c1 - c0 ))" >> "$RES"
        echo "$r $cfg tar $(( t2 - t1b )) $(( c2 - c1 ))" >> "$RES"
        printf 'rep %d %-11s cp %8.1f ms (listener CPU %5d ms)  tar %8.1f ms (listener CPU %5d ms)\n' "$r" "$cfg" \
            "$(echo "($t1-$t0)/1000" | bc -l)" $(( c1 - c0 )) "$(echo "($t2-$t1b)/1000" | bc -l)" $(( c2 - c1 ))
    done
done

median() { # $1 config, $2 workload, $3 column
    awk -v c="$1" -v w="$2" -v k="$3" '$2==c && $3==w {print $k}' "$RES" | sort -n |
        awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
echo "# medians over $REPS reps: wall clock (ms, ratio vs none) and the listener's own CPU (ms)"
echo "# target: the agent's extra time over the floor listener of its mode <= 15 %"
echo "#   (agent-data and agent-dest against notify, agent-block against perm)"
for w in cp tar; do
    base=
    for cfg in none notify perm agent-data agent-dest agent-block; do
        med=$(median "$cfg" "$w" 4); cpu=$(median "$cfg" "$w" 5)
        [ -z "$base" ] && base=$med
        printf '%-4s %-11s median %9.1f ms  ratio %.3f  listener CPU %6.0f ms\n' "$w" "$cfg" \
            "$(echo "$med/1000" | bc -l)" "$(echo "$med/$base" | bc -l)" "$cpu"
    done
done
