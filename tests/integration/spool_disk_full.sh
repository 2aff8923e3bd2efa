#!/usr/bin/env bash
# spool_disk_full — the spool on a tiny tmpfs (in a private mount namespace) runs out of
# space: appends keep working from the memory queue, the stats say disk_full, what was
# durable stays intact and verifiable, and when space returns every queued event is
# spooled with no gap.
# timeout: 60
if [ -z "${HOGO_SPOOL_NS:-}" ]; then
    HOGO_SPOOL_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

W=$BUILD/tests/tools/spool_writer
M=$T/mnt
mkdir -p "$M"
if ! mount -t tmpfs -o size=1m,mode=0755 hogo-spool-test "$M"; then
    fail "mount a 1 MiB tmpfs"; finish
fi
at_exit umount -l "$M"
# leave about 300 KiB for the spool
dd if=/dev/zero of="$M/filler" bs=4k count=180 status=none
D=$M/spool
N=2000

mkfifo "$T/in"
"$W" append "$D" --count $N --batch 50 --security-every 10 --pad 200 --segment 65536 --wait \
    <"$T/in" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/in"

wait_for 30 grep -q '^stats' "$T/out"
full=$(grep -m1 '^stats' "$T/out")
echo "# while full: $full"
check "the writer noticed the full disk (disk_full=1)" grep -q 'disk_full=1' <<<"$full"
queued=$(sed -nE 's/.* queued=([0-9]+).*/\1/p' <<<"$full")
durable=$(sed -nE 's/.* durable=([0-9]+).*/\1/p' <<<"$full")
check "appends went on into the memory queue ($queued queued, $durable durable)" \
    test "${queued:-0}" -gt 0 -a $((queued + durable)) -eq $N
check "the journal line says what happened and what to do" \
    grep -q 'disk full.*held in memory.*free space' "$T/err"
v=$("$HOGOCTL" spool verify "$D" 2>&1)
echo "# verify while full: $v"
check "while full, the durable part verifies: OK $durable events" \
    test "$v" = "OK $durable events, seq 1..$durable"

rm -f "$M/filler"
echo go >&3
exec 3>&-
wait "$pid"
after=$(grep '^stats' "$T/out" | tail -n1)
echo "# after space returned: $after"
check "spooling resumed (disk_full=0, nothing queued)" grep -q 'disk_full=0 queued=0 durable=2000' <<<"$after"
check "every event is durable, no gap: OK $N events" \
    test "$("$HOGOCTL" spool verify "$D" 2>&1)" = "OK $N events, seq 1..$N"
promised=$(awk '$1 == "durable" { v = $2 } END { print v + 0 }' "$T/out")
check "every promise kept (highest durable promise $promised)" test "$promised" -le $N
check "the journal says spooling resumed" grep -q 'spooling resumed' "$T/err"
finish
