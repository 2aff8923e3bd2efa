#!/usr/bin/env bash
# uplink_make_run — scripts/run (what `make run` runs): starts collector, agent and uplink
# from a state directory, says where the collector listens and that it audits, uploads
# the agent's events, stops everything on Ctrl-C (SIGINT), reuses its state the second
# time, and enforces with ENFORCE=1.
# timeout: 120
. "$(dirname "$0")/lib.sh"

RS=$T/run-state
chmod 0711 "$T" # so that the uplink, as user nobody, can reach its state
export RUN_STATE=$RS RUN_AGENT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export RUN_ENROLL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BUILD

usb_defaults() { cat /sys/bus/usb/devices/usb*/authorized_default 2>/dev/null | tr '\n' ' '; }
usb_before=$(usb_defaults)
desktop_files() { # what the agent's session source may write under /etc/dconf, as checksums
    local f
    for f in /etc/dconf/profile/user /etc/dconf/db/local.d/00-hogo-screenlock \
             /etc/dconf/db/local.d/locks/00-hogo-screenlock; do
        if [ -e "$f" ]; then sha256sum "$f"; else echo "absent $f"; fi
    done
}
desktop_before=$(desktop_files)

RUN_PID=
start_run() { # LOG [ENV=VALUE...]
    local log=$1; shift
    env "$@" setsid "$SRC/scripts/run" >"$log" 2>&1 &
    RUN_PID=$!
    wait_for 30 grep -q "running; Ctrl-C stops everything" "$log"
}
stop_run() { # Ctrl-C reaches the whole foreground process group
    kill -INT -- -"$RUN_PID" 2>/dev/null
    wait_for 30 bash -c "! kill -0 $RUN_PID 2>/dev/null"
}
leftovers() { pgrep -f -- "$RS/" >/dev/null; }
at_exit 'kill -KILL -- -$RUN_PID 2>/dev/null'

check "make run starts collector, uplink and agent" start_run "$T/run1.log"
check "it says where the collector listens" grep -q "agent API https://localhost:$RUN_AGENT_PORT" "$T/run1.log"
check "it says where the metrics are, and they answer" bash -c \
    "url=\$(sed -n 's|.*metrics \\(http://[^ ]*\\) (loopback only).*|\\1|p' '$T/run1.log') && [ -n \"\$url\" ] &&
     curl -fsS \"\$url\" | grep -q '^hogo_'"
check "it says it runs in audit mode and blocks nothing" grep -q "AUDIT mode: nothing is blocked" "$T/run1.log"
check "it prints hogoctl status" grep -qE "^uplink: " "$T/run1.log"
check "the uplink runs without privilege" bash -c "[ \"\$(ps -o user= -p \$(pgrep -f -- 'hogo-uplink -d -c $RS/'))\" != root ]"
check "the agent's events reach the collector" wait_for 20 bash -c "[ \"\$(cat '$RS/spool/uplink/acked' 2>/dev/null || echo 0)\" -gt 0 ]"
agent_id=$(cat "$RS/uplink/agent-id")
check "the pushed policy in audit mode is in force" bash -c \
    "jq -e '.removable_media.mode == \"audit\"' '$RS/policy-run.json' >/dev/null &&
     wait_for() { for _ in \$(seq 100); do \"\$@\" && return 0; sleep 0.1; done; return 1; }
     wait_for grep -q \"\$(jq -r .version '$RS/policy-run.json')\" '$RS/posture.json'"
check "Ctrl-C stops it" stop_run
check_fails "nothing it started is left running" leftovers
check "USB authorized_default values are as before" bash -c "[ '$(usb_defaults)' = '$usb_before' ]"
check "desktop lock settings under /etc/dconf are as before" test "$(desktop_files)" = "$desktop_before"
echo "# collector, agent and uplink logs: $(grep -c . "$RS/collector.log") / $(grep -c . "$RS/agent.log") / $(grep -c . "$RS/uplink.log") lines"

check "a second run starts from the same state" start_run "$T/run2.log" 
check "the second run does not enroll again" bash -c \
    "[ \"\$(cat '$RS/uplink/agent-id')\" = '$agent_id' ] && ! grep -q 'Enrolled' '$T/run2.log'"
stop_run
check "ENFORCE=1 enforces and says so" start_run "$T/run3.log" ENFORCE=1
check "ENFORCE=1 pushes the example as written" bash -c \
    "jq -e '.removable_media.mode != \"audit\"' '$RS/policy-run.json' >/dev/null && grep -q ENFORCING '$T/run3.log'"
stop_run
check_fails "nothing left running after the last stop" leftovers
check "and /etc/dconf is still as before" test "$(desktop_files)" = "$desktop_before"
if [ "$_failures" -gt 0 ]; then
    for f in "$T"/run*.log "$RS"/*.log; do echo "# --- $f"; tail -n 15 "$f" | sed 's/^/# /'; done
fi
finish
