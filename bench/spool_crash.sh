#!/usr/bin/env bash
# spool_crash — the spool crash tests at length: SPOOL_CRASH_ROUNDS (default 1000) SIGKILLs
# at random points (tests/integration/spool_crash.sh), then SPOOL_POWERLOSS_ROUNDS
# (default 500; a round costs two mounts) power cuts of an ext4 file system on a loop
# device (spool_powerloss.sh); prints how many, what each found, and how long a round
# took. Held against the issue's rule: after every restart the spool verifies, no durable
# event is lost, no gap.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
at_length() { # NAME TEST ROUNDS_VARIABLE DEFAULT WHAT
    local name=$1 test=$2 var=$3 rounds=${!3:-$4} what=$5 start out r secs
    start=$(date +%s.%N)
    out=$(env "$var=$rounds" "$test" 2>&1)
    r=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    grep -E '^(# |not ok|round )' <<<"$out"
    printf '%s: %s %s, %s, %.1f s (%.0f ms per round)\n' "$name" "$rounds" "$what" \
        "$([ $r -eq 0 ] && echo 'every restart verified' || echo 'PROBLEMS, see above')" \
        "$secs" "$(awk -v s="$secs" -v n="$rounds" 'BEGIN { print s * 1000 / n }')"
    [ $r -eq 0 ] || rc=$r
}
at_length "spool crash" tests/integration/spool_crash.sh SPOOL_CRASH_ROUNDS 1000 SIGKILLs
at_length "spool power loss" tests/integration/spool_powerloss.sh SPOOL_POWERLOSS_ROUNDS 500 \
    "power cuts"
exit $rc
