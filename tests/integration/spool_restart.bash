# spool_restart.bash — sourced by the spool crash tests (spool_crash.sh, spool_powerloss.sh):
# the restart after a crash and what must hold after it. Uses $W (spool_writer), $D (the
# spool), $T, $HOGOCTL, the caller's problem() and $promised (the highest seq a writer
# called durable); sets $next, the seq the next writer must start at. Returns 1 when the
# round cannot be checked any further.
spool_restart_check() {
    # recovery as a new agent does it
    if ! "$W" recover "$D" >"$T/rec" 2>"$T/recerr"; then
        problem "recovery failed: $(cat "$T/recerr")"; return 1
    fi
    if grep '^fault' "$T/rec" | grep -qv '"torn_tail"'; then
        problem "recovery found more than a torn tail: $(grep '^fault' "$T/rec")"
    fi
    next=$(awk '$1 == "next" { print $2 }' "$T/rec")

    local v last
    if ! v=$("$HOGOCTL" spool verify "$D" 2>&1); then
        problem "verify: $v"; return 1
    fi
    last=$(sed -nE 's/^OK [0-9]+ events, seq [0-9]+\.\.([0-9]+)$/\1/p; s/^OK 0 events$/0/p' <<<"$v")
    if [ -z "$last" ]; then
        problem "verify said: $v"; return 1
    fi
    [ "$last" -ge "$promised" ] || problem "seq $promised was durable, the spool ends at $last"
    [ "$next" -eq $((last + 1)) ] || problem "next seq $next does not follow the last event $last"
    # readers (the uplink) may deliver every recovered event
    local durable; durable=$(cat "$D/durable" 2>/dev/null)
    [[ $durable =~ ^[0-9]{20}$ ]] && [ $((10#$durable)) -eq "$last" ] ||
        problem "the durable mark says '$durable' after recovery, the spool ends at $last"
    return 0
}
