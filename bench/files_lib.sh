# bench/files_lib.sh — sourced by the files-source benchmarks (not a benchmark itself).
#
# files_bench_enter NAME "$@"   root check; re-runs the script in a private mount namespace
# files_bench_tmpfs DIR SIZE    a private tmpfs, unmounted at exit
# files_bench_policy ID <JSON   writes and signs policy ID (JSON on stdin) → $A/ID.signed
# agent_start ID                the real hogo-agent on policy ID, everything in $A/run
#                               (its posture, dconf and sysfs roots never the host's)
# agent_stop; agent_status; listener_start MODE DIR (the floor listener; several may run,
# their `events=N overflows=M` lines go to $WORK/listener.err); listener_stop (all); now_us;
# listener_cpu_ms (CPU time of the running agent or listeners)
# At exit every agent and listener started here is stopped and every tmpfs unmounted.
SRC=${HOGO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${HOGO_BUILD:-$SRC/build}
PEERS=${PEERS:-$SRC/../../shared/bench-peers}
[ -d "$PEERS" ] || PEERS=/work/shared/bench-peers
export SRC BUILD PEERS

files_bench_enter() { # NAME "$@"
    local name=$1; shift
    if [ "$(id -u)" -ne 0 ]; then echo "$name: run as root (fanotify, mounts)" >&2; exit 1; fi
    if [ "${1:-}" != "--inner" ]; then
        mkdir -p "$WORK"
        gcc -O2 -Wall -o "$WORK/fan_listener" "$PEERS/fan_listener.c"
        exec unshare -m --propagation private "$0" --inner
    fi
    A=$WORK/agent; APID=; LPIDS=(); _mounts=()
    rm -rf "$A"; mkdir -p "$A/sys"
    "$BUILD/hogoctl" policy keygen --out "$A/keys" >/dev/null
    trap _files_bench_cleanup EXIT
}

_files_bench_cleanup() {
    local p
    for p in "${LPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$APID" ] && { kill -TERM "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; }
    local i
    for ((i = ${#_mounts[@]} - 1; i >= 0; i--)); do
        umount "${_mounts[$i]}" 2>/dev/null || umount -l "${_mounts[$i]}" || true
    done
}

files_bench_tmpfs() { # DIR SIZE
    mkdir -p "$1"
    mount -t tmpfs -o size="$2" tmpfs "$1"
    _mounts+=("$1")
}

files_bench_policy() { # ID, the policy's JSON on stdin
    cat > "$A/$1.json"
    "$BUILD/hogoctl" policy sign --key "$A/keys/policy-signing.key" "$A/$1.json" > "$A/$1.signed"
}

agent_start() { # ID
    rm -rf "$A/run"; mkdir -p "$A/run/policy"
    cp "$A/$1.signed" "$A/run/policy/policy.json"
    cat > "$A/run/agent.json" <<JSON
{"spool_dir": "$A/run/spool", "policy_dir": "$A/run/policy",
 "policy_pubkey": "$A/keys/policy-signing.pub", "state_dir": "$A/run/state",
 "control_socket": "$A/run/agent.sock", "posture_file": "$A/run/posture.json",
 "sysfs_root": "$A/sys", "desktop_root": "$A/run", "log_level": "warning",
 "notify": {"fallback": "none"}}
JSON
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$BUILD/hogo-agent" -d -c "$A/run/agent.json" \
        >> "$A/agent.log" 2>&1 &
    APID=$!
    for _ in $(seq 500); do [ -S "$A/run/agent.sock" ] && break; sleep 0.01; done
    [ -S "$A/run/agent.sock" ] || { echo "agent did not start; see $A/agent.log" >&2; exit 1; }
    sleep 0.3
}
agent_stop() { kill -TERM "$APID"; wait "$APID" || true; APID=; }
agent_status() { "$BUILD/hogoctl" status --json --socket "$A/run/agent.sock"; }

listener_start() { # MODE DIR
    : > "$WORK/listener.out"
    timeout 900 "$WORK/fan_listener" "$1" "$2" > "$WORK/listener.out" 2>> "$WORK/listener.err" &
    LPIDS+=($!)
    for _ in $(seq 500); do grep -q ready "$WORK/listener.out" && return 0; sleep 0.01; done
    echo "listener $1 did not start" >&2; exit 1
}
listener_stop() {
    local p
    for p in "${LPIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    LPIDS=()
}

now_us() { echo $(( $(date +%s%N) / 1000 )); }
# CPU time (user + system, all threads) in ms of the running listener(s) or agent: what the
# listener itself spends, which wall-clock figures on a shared machine hide in their noise
listener_cpu_ms() {
    local p c t=0 hz; hz=$(getconf CLK_TCK)
    if [ -n "${APID:-}" ]; then
        t=$(awk '{print $14 + $15}' "/proc/$APID/stat")
    else
        for p in "${LPIDS[@]}"; do
            for c in $(pgrep -P "$p"); do t=$(( t + $(awk '{print $14 + $15}' "/proc/$c/stat") )); done
        done
    fi
    echo $(( t * 1000 / hz ))
}
