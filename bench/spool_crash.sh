#!/usr/bin/env bash
# spool_crash — the spool crash test at length: SPOOL_CRASH_ROUNDS (default 1000) SIGKILLs
# at random points; prints how many kills and how long each round took.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${SPOOL_CRASH_ROUNDS:-1000}
start=$(date +%s.%N)
out=$(SPOOL_CRASH_ROUNDS=$rounds tests/integration/spool_crash.sh 2>&1)
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -E '^(# |not ok|round )' <<<"$out"
printf 'spool crash: %s SIGKILLs, %s, %.1f s (%.0f ms per kill-restart-verify round)\n' \
    "$rounds" "$([ $rc -eq 0 ] && echo 'every restart verified' || echo 'PROBLEMS, see above')" \
    "$secs" "$(awk -v s="$secs" -v n="$rounds" 'BEGIN { print s * 1000 / n }')"
exit $rc
