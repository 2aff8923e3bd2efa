#!/usr/bin/env bash
# spool_powerloss — the spool power-loss test at length: SPOOL_POWERLOSS_ROUNDS (default
# 1000) power cuts of an ext4 file system on a loop device (tests/integration/
# spool_powerloss.sh); prints how many cuts, how often the disk image really lost data
# that was only in the page cache, and how long each round took. Held against the
# issue's requirement: every restart verifies, no durable event lost, no gap.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${SPOOL_POWERLOSS_ROUNDS:-1000}
start=$(date +%s.%N)
out=$(SPOOL_POWERLOSS_ROUNDS=$rounds tests/integration/spool_powerloss.sh 2>&1)
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -E '^(# |not ok|round )' <<<"$out"
printf 'spool power loss: %s power cuts, %s, %.1f s (%.0f ms per cut-remount-recover-verify round)\n' \
    "$rounds" "$([ $rc -eq 0 ] && echo 'every restart verified' || echo 'PROBLEMS, see above')" \
    "$secs" "$(awk -v s="$secs" -v n="$rounds" 'BEGIN { print s * 1000 / n }')"
exit $rc
