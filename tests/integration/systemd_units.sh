#!/usr/bin/env bash
# timeout: 60
# The systemd units parse cleanly and keep their sandbox: the agent cannot open network
# sockets, the uplink and the collector hold no capabilities, and systemd's own exposure
# score stays low.
. "$(dirname "$0")/lib.sh"

for u in "$SRC"/systemd/*.service; do
    name=$(basename "$u")
    out=$(systemd-analyze verify --man=no "$u" 2>&1 | grep -E "Unknown|Invalid|Failed to parse|unknown|bad-setting" || true)
    check "$name parses without unknown or invalid settings" test -z "$out"
    [ -z "$out" ] || echo "# $out"
done

exposure() { systemd-analyze security --offline=true --no-pager "$1" 2>/dev/null |
             sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
a=$(exposure "$SRC/systemd/hogo-agent.service")
u=$(exposure "$SRC/systemd/hogo-uplink.service")
c=$(exposure "$SRC/systemd/hogo-collector.service")
echo "# exposure: agent $a, uplink $u, collector $c (systemd-analyze security, 0 best .. 10)"
check "agent exposure at most 4.0" awk -v x="$a" 'BEGIN { exit !(x != "" && x <= 4.0) }'
check "uplink exposure at most 2.0" awk -v x="$u" 'BEGIN { exit !(x != "" && x <= 2.0) }'
check "collector exposure at most 2.0" awk -v x="$c" 'BEGIN { exit !(x != "" && x <= 2.0) }'

check "agent: no IP sockets" grep -qx 'RestrictAddressFamilies=AF_UNIX AF_NETLINK' "$SRC/systemd/hogo-agent.service"
check "agent: Type=notify with a watchdog" grep -q '^WatchdogSec=' "$SRC/systemd/hogo-agent.service"
for s in uplink collector; do
    f=$SRC/systemd/hogo-$s.service
    check "$s: no capabilities" grep -qx 'CapabilityBoundingSet=' "$f"
    check "$s: not root" grep -qE '^User=hogo' "$f"
done
finish
