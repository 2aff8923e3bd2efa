#!/usr/bin/env bash
# spool_crash — kill -9 the spool writer at random instants, many times; after each
# restart the spool verifies, every event the writer called durable is still there, and
# the sequence continues without a gap. The writer runs with a small size cap and an
# uplink-like acknowledgement lag, so segment rotation, collection and overflow rewrites
# are all interrupted too.
# timeout: 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/spool_restart.bash"

W=$BUILD/tests/tools/spool_writer
D=$T/spool
ROUNDS=${SPOOL_CRASH_ROUNDS:-200}
problems=0
problem() { echo "round $round: $*"; problems=$((problems + 1)); }

next=1        # the seq the next writer must start at
promised=0    # the highest seq any writer called durable
kills=0
for ((round = 1; round <= ROUNDS; round++)); do
    # a kill can land before the shell has even redirected the writer's output: then the
    # previous writer's lines must not be read as this one's
    rm -f "$T/out" "$T/err"
    "$W" append "$D" --batch $((RANDOM % 64 + 1)) --security-every 13 --pad $((RANDOM % 200)) \
        --segment 32768 --max 262144 --ack-lag 1500 >"$T/out" 2>"$T/err" &
    pid=$!
    sleep "$(printf '0.%03d' $((RANDOM % 100 + 2)))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null

    first=$(awk '$1 == "first" { print $2; exit }' "$T/out" 2>/dev/null)
    durable=$(awk '$1 == "durable" { v = $2 } END { print v + 0 }' "$T/out" 2>/dev/null)
    [ "${durable:-0}" -gt "$promised" ] && promised=$durable
    if [ -n "$first" ] && [ "$first" -ne "$next" ]; then
        problem "the writer started at seq $first, recovery said $next; its output began:"
        head -n 5 "$T/out" "$T/err"; ls -l "$D" | tail -n 4
    fi

    spool_restart_check || continue
    if [ "$problems" -gt 5 ]; then break; fi
done

echo "# $kills kills, $((round - 1)) rounds, last seq $((next - 1)), highest durable promise $promised"
check "at least $ROUNDS SIGKILLs" test "$kills" -ge "$ROUNDS"
check "after every restart the spool verifies, keeps every durable event, has no gap" \
    test "$problems" -eq 0
acked=$(cat "$D/uplink/acked" 2>/dev/null || echo 0)
check "collection kept the spool small (acked $acked)" test "$(du -sk "$D" | cut -f1)" -lt 2048
check "size cap dropped events under the kills" \
    bash -c "cat '$D'/seg-*.log | grep -aq '\"dropped\":{'"
finish
