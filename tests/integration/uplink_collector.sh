#!/usr/bin/env bash
# uplink_collector — hogo-uplink against the real hogo-collector over mTLS on loopback:
# enrollment, upload, exactly-once while both are killed at random, failover, a collector
# presenting the wrong name, and an outage after which everything arrives in order.
# timeout: 240
. "$(dirname "$0")/lib.sh"
. "$SRC/scripts/dev-env.sh"
TOOLS=$BUILD/tests/tools

for b in hogo-collector hogo-uplink hogoctl tests/tools/spool_feed tests/tools/store_check; do
    [ -x "$BUILD/$b" ] || { echo "not ok - $b is not built"; exit 1; }
done

AGENT_PORT=$(dev_free_port); ENROLL_PORT=$(dev_free_port); SECOND_PORT=$(dev_free_port)
DEAD_PORT=$(dev_free_port)
CA=$T/ca; DB=$T/collector.db
dev_ca_init "$CA" localhost || { echo "not ok - hogoctl ca init"; exit 1; }
dev_collector_config "$T/collector.json" "$CA" "$DB" "127.0.0.1:$AGENT_PORT" "127.0.0.1:$ENROLL_PORT"
dev_collector_config "$T/collector2.json" "$CA" "$DB" "127.0.0.1:$SECOND_PORT" "127.0.0.1:$(dev_free_port)"

COLLECTOR_PID=
start_collector() { # [config]
    dev_collector_start "${1:-$T/collector.json}" "$T/collector.log" "$CA/ca.crt" \
        "https://localhost:${2:-$ENROLL_PORT}" || return 1
    COLLECTOR_PID=$DEV_COLLECTOR_PID
}
stop_collector() { [ -n "$COLLECTOR_PID" ] && kill -"${1:-TERM}" "$COLLECTOR_PID" 2>/dev/null; wait "$COLLECTOR_PID" 2>/dev/null; COLLECTOR_PID=; }
UPLINK_PID=
start_uplink() { # config
    "$BUILD/hogo-uplink" -d -c "$1" >>"$T/uplink.log" 2>&1 &
    UPLINK_PID=$!
}
stop_uplink() { [ -n "$UPLINK_PID" ] && kill -"${1:-TERM}" "$UPLINK_PID" 2>/dev/null; wait "$UPLINK_PID" 2>/dev/null; UPLINK_PID=; }
at_exit 'stop_uplink KILL; stop_collector KILL'

# an uplink with its own state and spool: make_uplink NAME COLLECTOR_URL...
make_uplink() {
    local name=$1; shift
    mkdir -p "$T/$name/state" "$T/$name/spool" "$T/$name/policy"
    DEV_UPLINK_EXTRA='"poll_ms": 50, "timeout_seconds": 5, "retry": {"min_ms": 50, "max_ms": 800},' \
    DEV_HEARTBEAT_SECONDS=2 \
    dev_uplink_config "$T/$name/uplink.json" "$CA/ca.crt" "$T/$name/state" "$T/$name/spool" \
        "$T/$name/policy" "$T/$name/posture.json" "$T/$name/token" "https://localhost:$ENROLL_PORT" "$@"
}
acked() { cat "$T/$1/spool/uplink/acked" 2>/dev/null || echo 0; }
acked_is() { [ "$(acked "$1")" = "$2" ]; }
stored() { "$TOOLS/store_check" "sqlite:$DB" "$(cat "$T/$1/state/agent-id")"; }
# stored_exactly NAME N: seq 1..N in the store, each once, no chain break
stored_exactly() { [ "$(stored "$1")" = "events=$2 last_seq=$2 chain_breaks=0" ]; }
# upload_result_is NAME JQ-TEST: uplink NAME's status file says its upload went that way.
# A refusal is waited for (the uplink's first attempt may come late on a busy machine);
# only then does "nothing was acknowledged" mean the refusal held, not that no try was made.
upload_result_is() { jq -e ".upload | $2" "$T/$1/spool/uplink/status.json" >/dev/null 2>&1; }
# whether the collector's agent port serves agent a's certificate (a revoked one is refused)
agent_a_served() {
    curl -sf -o /dev/null --max-time 5 --cacert "$CA/ca.crt" --cert "$T/a/state/agent.crt" \
        --key "$T/a/state/agent.key" "https://localhost:$AGENT_PORT/healthz"
}
agent_a_refused() { ! agent_a_served; }

start_collector || { echo "not ok - collector starts"; tail -n 30 "$T/collector.log"; exit 1; }
ok "collector starts on loopback with a CA made by the test"

# --- enrollment -------------------------------------------------------------------------
make_uplink a "https://localhost:$AGENT_PORT"
dev_token_create "$T/collector.json" 総務課 >"$T/a/token"
cp "$T/a/token" "$T/used-token"
check "enrollment with a valid token" "$BUILD/hogo-uplink" -d -c "$T/a/uplink.json" --enroll-only
check "key and certificate are 0600, the token is consumed" bash -c \
    "[ \$(stat -c %a '$T/a/state/agent.key') = 600 ] && [ \$(stat -c %a '$T/a/state/agent.crt') = 600 ] && [ ! -e '$T/a/token' ]"
check "the certificate's CN is the agent id and it chains to the CA" bash -c \
    "openssl verify -CAfile '$CA/ca.crt' '$T/a/state/agent.crt' >/dev/null &&
     openssl x509 -in '$T/a/state/agent.crt' -noout -subject | grep -q \"\$(cat '$T/a/state/agent-id')\""
check "-n checks the configuration" bash -c "'$BUILD/hogo-uplink' -n -c '$T/a/uplink.json' | grep -q 'configuration OK'"
jq '.colectors = []' "$T/a/uplink.json" >"$T/typo.json"
check_fails "an unknown key is refused" "$BUILD/hogo-uplink" -n -c "$T/typo.json"
check "the refusal names the key" bash -c "'$BUILD/hogo-uplink' -n -c '$T/typo.json' 2>&1 | grep -q colectors"
jq '.ca = "/nonexistent/ca.crt"' "$T/a/uplink.json" >"$T/noca.json"
check_fails "without its pinned CA the uplink does not start" "$BUILD/hogo-uplink" -d -c "$T/noca.json"
make_uplink reuse "https://localhost:$AGENT_PORT"
cp "$T/used-token" "$T/reuse/token"
check_fails "a used token is refused" "$BUILD/hogo-uplink" -d -c "$T/reuse/uplink.json" --enroll-only
check "a refused token is kept and nothing is enrolled" bash -c "[ -f '$T/reuse/token' ] && [ ! -e '$T/reuse/state/agent.crt' ]"

# --- upload -----------------------------------------------------------------------------
"$TOOLS/spool_feed" "$T/a/spool" 1500 >/dev/null
start_uplink "$T/a/uplink.json"
check "1500 events uploaded and acknowledged" wait_for 30 acked_is a 1500
check "the store holds seq 1..1500 once each, no chain break" stored_exactly a 1500
check "uplink-status.json reports the upload" bash -c \
    "jq -e '.upload.result == \"ok\" and .acked_seq == 1500 and .heartbeat.result == \"ok\"' '$T/a/spool/uplink/status.json' >/dev/null"
# the spool's durable mark beside acked: it bounds where a drop's declaration can be, so the
# collector alerts an undeclared gap without waiting (collectors/ingest.h)
check "the heartbeat reports the spool's durable mark with the acked seq" wait_for 10 python3 -c "
import json, sqlite3, sys
row = sqlite3.connect('$DB').execute('SELECT posture FROM posture_latest WHERE agent_id = ?',
                                     (open('$T/a/state/agent-id').read().strip(),)).fetchone()
spool = json.loads(row[0])['spool'] if row else {}
sys.exit(0 if spool.get('durable_seq') == 1500 and spool.get('acked_seq') == 1500 else 1)"
check "batches and heartbeats share one kept-alive connection" bash -c \
    "jq -e '.connections == 1' '$T/a/spool/uplink/status.json' >/dev/null"

# --- policy: the assigned version is fetched and dropped, untouched, for the agent --------
"$HOGOCTL" policy push -c "$T/collector.json" --department 総務課 "$SRC/policy/examples/department-somu.json" >/dev/null
check "a pushed policy is dropped into the agent's directory at the next heartbeat" \
    wait_for 10 test -s "$T/a/policy/policy.json"
check "the dropped envelope verifies with the policy key (as the agent will check it)" \
    "$HOGOCTL" policy verify --pubkey "$CA/policy-signing.pub" "$T/a/policy/policy.json"
check "the heartbeat answer's version is recorded" bash -c \
    "jq -e '.assigned_policy_version == \"7\" and .policy_fetch.result == \"ok\"' '$T/a/spool/uplink/status.json' >/dev/null"

# --- outage: collector down, events pile up, all arrive later in order -------------------
stop_collector TERM
"$TOOLS/spool_feed" "$T/a/spool" 400 >/dev/null
check "status says the collector is unreachable" wait_for 10 upload_result_is a '.result == "unreachable"'
check "while the collector is down nothing is acknowledged" acked_is a 1500
start_collector
check "after the outage every event arrives" wait_for 30 acked_is a 1900
check "in order, exactly once" stored_exactly a 1900
stop_uplink

# --- exactly once while uplink and collector are killed (SIGKILL) or restarted at random --------------------
"$TOOLS/spool_feed" "$T/a/spool" 3000 600 >/dev/null &
feeder=$!
start_uplink "$T/a/uplink.json"
kills=0
while kill -0 $feeder 2>/dev/null; do
    sleep "0.$((RANDOM % 6 + 2))"
    # mostly SIGKILL (no goodbye), sometimes an orderly restart
    sig=KILL; ((RANDOM % 4 == 0)) && sig=TERM
    if ((RANDOM % 2)); then stop_uplink $sig; start_uplink "$T/a/uplink.json"
    else stop_collector $sig; start_collector; fi
    kills=$((kills + 1))
done
wait $feeder
check "exactly-once: all 4900 acknowledged after $kills random kills and restarts" wait_for 60 acked_is a 4900
check "exactly-once: the store holds seq 1..4900 once each, in order" stored_exactly a 4900
stop_uplink

# --- failover -----------------------------------------------------------------------------
make_uplink b "https://localhost:$DEAD_PORT" "https://localhost:$AGENT_PORT" "https://localhost:$SECOND_PORT"
dev_token_create "$T/collector.json" 総務課 >"$T/b/token"
"$TOOLS/spool_feed" "$T/b/spool" 200 >/dev/null
start_uplink "$T/b/uplink.json"
check "failover: a dead first URL is skipped" wait_for 30 acked_is b 200
stop_collector TERM
start_collector "$T/collector2.json" "$(jq -r '.listen.enroll[0]' "$T/collector2.json" | cut -d: -f2)" ||
    fail "second collector starts"
"$TOOLS/spool_feed" "$T/b/spool" 200 >/dev/null
check "failover: the third URL takes over when the second goes away" wait_for 30 acked_is b 400
check "failover: nothing lost or doubled" stored_exactly b 400
stop_uplink
stop_collector TERM

# --- a collector that takes fewer events per batch: 413, the uplink halves its batches --
DEV_COLLECTOR_LIMITS='{"max_batch_events": 100}' \
    dev_collector_config "$T/small.json" "$CA" "$DB" "127.0.0.1:$AGENT_PORT" "127.0.0.1:$ENROLL_PORT"
start_collector "$T/small.json"
"$TOOLS/spool_feed" "$T/b/spool" 1000 >/dev/null
start_uplink "$T/b/uplink.json"
check "413: batches of 500 shrink until the collector takes them, all 1000 arrive" wait_for 30 acked_is b 1400
check "413: nothing lost or doubled" stored_exactly b 1400
check "413: the uplink says it sends smaller batches" grep -q "too large; sending 62 at a time" "$T/uplink.log"
stop_uplink
stop_collector TERM
start_collector

# --- a collector presenting the wrong name ------------------------------------------------
# the server certificate names "localhost" only; 127.0.0.1 is the same socket under a
# name the certificate does not carry
make_uplink c "https://127.0.0.1:$AGENT_PORT"
cp "$T/a/state/"agent.* "$T/a/state/agent-id" "$T/c/state/"
"$TOOLS/spool_feed" "$T/c/spool" 10 >/dev/null
start_uplink "$T/c/uplink.json"
check "the refusal is explained in uplink-status.json" wait_for 10 upload_result_is c \
    '.result == "unreachable" and (.error | test("certificate|name|SSL"; "i"))'
check "a collector presenting the wrong name is refused (nothing sent)" acked_is c 0
echo "# uplink-status.json says: $(jq -r .upload.error "$T/c/spool/uplink/status.json")"
stop_uplink

# --- a collector whose certificate comes from another CA --------------------------------
dev_ca_init "$T/otherca" localhost
OTHER_PORT=$(dev_free_port)
dev_collector_config "$T/other.json" "$T/otherca" "$T/other.db" "127.0.0.1:$OTHER_PORT" "127.0.0.1:$(dev_free_port)"
"$BUILD/hogo-collector" -d -c "$T/other.json" >>"$T/other.log" 2>&1 &
other=$!
at_exit "kill $other 2>/dev/null"
make_uplink d "https://localhost:$OTHER_PORT"
cp "$T/a/state/"agent.* "$T/a/state/agent-id" "$T/d/state/"
"$TOOLS/spool_feed" "$T/d/spool" 10 >/dev/null
start_uplink "$T/d/uplink.json"
check "a collector with a certificate from another CA is refused (the refusal recorded)" \
    wait_for 10 upload_result_is d '.result == "unreachable" and (.error | length > 0)'
check "a collector with a certificate from another CA is refused (nothing sent)" acked_is d 0
echo "# uplink-status.json says: $(jq -r .upload.error "$T/d/spool/uplink/status.json")"
stop_uplink

# --- a revoked agent: the collector refuses it, the uplink keeps the events and says why --
check "before the revocation the collector serves agent a" agent_a_served
"$HOGOCTL" agent revoke "$(cat "$T/a/state/agent-id")" -c "$T/collector.json" >/dev/null
# the collector reloads its revoked set every 250 ms: wait until it refuses the agent
check "after the revocation the collector refuses agent a" wait_for 10 agent_a_refused
"$TOOLS/spool_feed" "$T/a/spool" 50 >/dev/null
rm -f "$T/a/spool/uplink/status.json" # the last session's "ok" must not pass for this one's answer
start_uplink "$T/a/uplink.json"
check "uplink-status.json shows the refusal" wait_for 10 upload_result_is a '.result != "ok" and (.error | length > 0)'
check "a revoked agent's events are not acknowledged (they stay in the spool)" acked_is a 4900
echo "# uplink-status.json says: $(jq -r .upload.error "$T/a/spool/uplink/status.json")"
stop_uplink

# under HOGO_BUILD=build/asan the uplink's exits are leak-checked too
check_fails "no sanitizer report in the uplink's log" grep -qE 'Sanitizer|runtime error:' "$T/uplink.log"

finish
