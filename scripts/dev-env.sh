# scripts/dev-env.sh — sourced (not run) by scripts/run and the uplink integration tests:
# one place that knows how to make a dev CA, configure and start a collector on loopback,
# make an enrollment token and configure an uplink. Needs $HOGOCTL and $BUILD set.

# dev_free_port: prints a TCP port nobody listens on right now (loopback).
dev_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# dev_ca_init DIR NAME...: the CA, the collector's server certificate and the policy
# signing key, made once (an existing CA is kept).
dev_ca_init() {
    local dir=$1; shift
    [ -f "$dir/ca.crt" ] && return 0
    local args=() n
    for n in "$@"; do args+=(--server-name "$n"); done
    "$HOGOCTL" ca init --dir "$dir" "${args[@]}" >/dev/null
}

# dev_collector_config FILE CA_DIR DB AGENT_ADDR ENROLL_ADDR
# ($DEV_COLLECTOR_LIMITS, when set, is the "limits" object, e.g. '{"max_batch_events": 100}')
dev_collector_config() {
    local limits=""
    [ -n "${DEV_COLLECTOR_LIMITS:-}" ] && limits="\"limits\": $DEV_COLLECTOR_LIMITS,"
    cat >"$1" <<JSON
{
  "listen": { "agent": ["$4"], "enroll": ["$5"], "metrics": ["127.0.0.1:$(dev_free_port)"] }, $limits
  "tls": { "certificate": "$2/server.crt", "key": "$2/server.key",
           "ca": "$2/ca.crt", "ca_key": "$2/ca.key" },
  "store": { "sqlite": "$3" },
  "log_level": "info"
}
JSON
}

# dev_collector_start CONFIG LOG CA_FILE HEALTH_URL: starts hogo-collector in the
# background (pid in $DEV_COLLECTOR_PID) and waits until HEALTH_URL answers.
dev_collector_start() {
    "$BUILD/hogo-collector" -d -c "$1" >>"$2" 2>&1 &
    DEV_COLLECTOR_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        if curl -fsS --cacert "$3" "$4/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$DEV_COLLECTOR_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# dev_token_create COLLECTOR_CONFIG DEPARTMENT: prints a fresh one-time token.
dev_token_create() {
    "$HOGOCTL" token create --config "$1" --department "$2" --uses 1 --ttl 1h
}

# dev_uplink_config FILE CA_FILE STATE_DIR SPOOL_DIR POLICY_DIR POSTURE_FILE TOKEN_FILE
#                   ENROLL_URL COLLECTOR_URL... : an uplink configuration for tests and make run
# ($DEV_UPLINK_EXTRA, when set, is added as more members, e.g. '"poll_ms": 50,').
dev_uplink_config() {
    local file=$1 ca=$2 state=$3 spool=$4 policy=$5 posture=$6 token=$7 enroll=$8
    shift 8
    local urls="" u
    for u in "$@"; do urls+="${urls:+, }\"$u\""; done
    cat >"$file" <<JSON
{
  "collectors": [$urls],
  "enroll_urls": ["$enroll"],
  "ca": "$ca",
  "state_dir": "$state",
  "spool_dir": "$spool",
  "policy_drop_dir": "$policy",
  "posture_file": "$posture",
  "token_file": "$token",
  ${DEV_UPLINK_EXTRA:-}
  "reporting": { "heartbeat_seconds": ${DEV_HEARTBEAT_SECONDS:-30}, "batch_max_events": ${DEV_BATCH_MAX:-500} }
}
JSON
}
