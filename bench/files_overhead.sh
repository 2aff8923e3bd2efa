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
SRC=${HOGO_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${HOGO_BUILD:-$SRC/build}
PEERS=${PEERS:-$SRC/../../shared/bench-peers}
[ -d "$PEERS" ] || PEERS=/work/shared/bench-peers
WORK=${WORK:-/tmp/hogo-files-bench}; REPS=${REPS:-3}
NSMALL=${NSMALL:-20000}; NBIG=${NBIG:-2}; BIGMB=${BIGMB:-256}
export SRC BUILD PEERS WORK REPS NSMALL NBIG BIGMB

if [ "$(id -u)" -ne 0 ]; then echo "files_overhead: run as root (fanotify, mounts)" >&2; exit 1; fi
if [ "${1:-}" != "--inner" ]; then
    mkdir -p "$WORK"
    gcc -O2 -Wall -o "$WORK/fan_listener" "$PEERS/fan_listener.c"
    exec unshare -m --propagation private "$0" --inner
fi

MNT=$WORK/mnt; LPID=; APID=
mkdir -p "$MNT"
mount -t tmpfs -o size=4G tmpfs "$MNT"
cleanup() {
    [ -n "$LPID" ] && { kill -TERM "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; }
    [ -n "$APID" ] && { kill -TERM "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; }
    umount "$MNT" 2>/dev/null || umount -l "$MNT" || true
}
trap cleanup EXIT

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

# agent: keys, one policy per configuration, a scratch state per start
A=$WORK/agent; rm -rf "$A"; mkdir -p "$A/sys"
"$BUILD/hogoctl" policy keygen --out "$A/keys" >/dev/null
policy() { # $1 version, $2 paths json, $3 destinations json, $4 action
    cat > "$A/p$1.json" <<EOF
{"version": $1, "name": "bench-$1",
 "marked_files": {"xattr": "user.hogo.label", "paths": $2,
                  "content": {"my_number": true, "my_number_min_matches": 1, "scan_max_bytes": 1048576, "patterns": []}},
 "bulk_transfer": {"window_seconds": 3600, "max_files": 20, "max_bytes": 1099511627776,
                   "destinations": $3, "action": "$4", "cooldown_seconds": 3600}}
EOF
    "$BUILD/hogoctl" policy sign --key "$A/keys/policy-signing.key" "$A/p$1.json" > "$A/p$1.signed"
}
policy 1 "[\"$MNT/jumin/**\"]" '["removable"]' warn
policy 2 '[]' "[\"$MNT\"]" warn
policy 3 "[\"$MNT/jumin/**\"]" '["removable"]' block

start_agent() { # $1 policy number
    rm -rf "$A/run"; mkdir -p "$A/run/policy"
    cp "$A/p$1.signed" "$A/run/policy/policy.json"
    cat > "$A/run/agent.json" <<EOF
{"spool_dir": "$A/run/spool", "policy_dir": "$A/run/policy",
 "policy_pubkey": "$A/keys/policy-signing.pub", "state_dir": "$A/run/state",
 "control_socket": "$A/run/agent.sock", "sysfs_root": "$A/sys", "log_level": "warning",
 "notify": {"fallback": "none"}}
EOF
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$BUILD/hogo-agent" -d -c "$A/run/agent.json" \
        >> "$A/agent.log" 2>&1 &
    APID=$!
    for _ in $(seq 500); do [ -S "$A/run/agent.sock" ] && break; sleep 0.01; done
    [ -S "$A/run/agent.sock" ] || { echo "agent did not start; see $A/agent.log" >&2; exit 1; }
    sleep 0.3
    if [ "$1" = 3 ]; then # a user passes the limit: the block cool-down starts
        setfattr -n user.hogo.label -v personal "$MNT"/jumin/m*.csv
        setpriv --reuid=4242 --regid=4242 --clear-groups sh -c "cat $MNT/jumin/m*.csv >/dev/null; sleep 0.5"
        for _ in $(seq 100); do
            "$BUILD/hogoctl" status --json --socket "$A/run/agent.sock" 2>/dev/null |
                grep -q '"blocking_active":true' && break
            sleep 0.05
        done
    fi
}
stop_agent() { kill -TERM "$APID"; wait "$APID" || true; APID=; }
start_listener() {
    : > "$WORK/listener.out"
    timeout 900 "$WORK/fan_listener" "$1" "$MNT" > "$WORK/listener.out" 2>> "$WORK/listener.err" &
    LPID=$!
    for _ in $(seq 500); do grep -q ready "$WORK/listener.out" && return 0; sleep 0.01; done
    echo "listener $1 did not start" >&2; exit 1
}
stop_listener() { kill -TERM "$LPID"; wait "$LPID" || true; LPID=; }

now_us() { echo $(( $(date +%s%N) / 1000 )); }
echo "# warm-up (untimed)"
cp -a "$MNT/src" "$MNT/dst"; tar cf - -C "$MNT" src | cat > /dev/null; rm -rf "$MNT/dst"

RES=$WORK/files_results.txt; : > "$RES"; : > "$WORK/listener.err"
cfgs=(none notify perm agent-data agent-dest agent-block)
for ((r = 1; r <= REPS; r++)); do
    for ((k = 0; k < ${#cfgs[@]}; k++)); do
        cfg=${cfgs[$(( (k + r - 1) % ${#cfgs[@]} ))]}
        case $cfg in
        notify|perm) start_listener "$cfg" ;;
        agent-data) start_agent 1 ;;
        agent-dest) start_agent 2 ;;
        agent-block) start_agent 3 ;;
        esac
        t0=$(now_us); cp -a "$MNT/src" "$MNT/dst"; t1=$(now_us)
        tar cf - -C "$MNT" src | cat > /dev/null; t2=$(now_us)
        case $cfg in notify|perm) stop_listener ;; agent-*) stop_agent ;; esac
        rm -rf "$MNT/dst"
        echo "$r $cfg cp $(( t1 - t0 ))" >> "$RES"
        echo "$r $cfg tar $(( t2 - t1 ))" >> "$RES"
        printf 'rep %d %-11s cp %8.1f ms  tar %8.1f ms\n' "$r" "$cfg" \
            "$(echo "($t1-$t0)/1000" | bc -l)" "$(echo "($t2-$t1)/1000" | bc -l)"
    done
done

echo "# medians over $REPS reps (ms), ratio vs none"
for w in cp tar; do
    base=
    for cfg in none notify perm agent-data agent-dest agent-block; do
        med=$(awk -v c="$cfg" -v w="$w" '$2==c && $3==w {print $4}' "$RES" | sort -n |
              awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')
        [ -z "$base" ] && base=$med
        printf '%-4s %-11s median %9.1f ms  ratio %.3f\n' "$w" "$cfg" \
            "$(echo "$med/1000" | bc -l)" "$(echo "$med/$base" | bc -l)"
    done
done
