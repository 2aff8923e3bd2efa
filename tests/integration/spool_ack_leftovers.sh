#!/usr/bin/env bash
# spool_ack_leftovers — an uplink killed while writing its acknowledgement leaves
# uplink/acked.tmp.<pid>; the agent's spool removes such leftovers when it opens, but
# never the temporary file of a writer that is still running.
# timeout: 60
. "$(dirname "$0")/lib.sh"

W=$BUILD/tests/tools/spool_writer
D=$T/spool
"$W" append "$D" --count 50 --batch 10 --ack-lag 20 >/dev/null 2>&1
check "the writer acknowledged through uplink/acked" test -s "$D/uplink/acked"

# a writer killed between writing its temporary file and renaming it
bash -c 'echo 25 >"$1/uplink/acked.tmp.$$"; echo "{}" >"$1/uplink/status.json.tmp.$$"; kill -9 $$' _ "$D"
dead=$(ls "$D/uplink" | grep -c '\.tmp\.')
# a writer still at it
sleep 60 &
live=$!
at_exit "kill $live 2>/dev/null"
echo 30 >"$D/uplink/acked.tmp.$live"
check "the killed writer left two temporary files" test "$dead" -eq 2

"$W" recover "$D" >"$T/rec" 2>"$T/recerr"
check "the spool opens" grep -q '^next 51$' "$T/rec"
check "the killed writer's temporary files are gone" \
    test "$(ls "$D/uplink" | grep '\.tmp\.' | grep -vc "\.tmp\.$live$")" -eq 0
check "a running writer's temporary file is kept" test -e "$D/uplink/acked.tmp.$live"
check "the acknowledgement itself is kept" test "$(cat "$D/uplink/acked")" = 30
check "the spool still verifies" "$HOGOCTL" spool verify "$D"
finish
