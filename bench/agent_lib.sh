# bench/agent_lib.sh — sourced by the agent benchmarks (agent_idle.sh, spool_recovery.sh);
# not a benchmark itself.
#
# agent_bench_config DIR SPOOL   a signing key, the strict example policy signed with it,
#                                and DIR/agent.json: spool SPOOL, everything else in DIR
#                                (control socket DIR/agent.sock, posture DIR/posture.json)
agent_bench_config() {
    local dir=$1 spool=$2
    "$BUILD/hogoctl" policy keygen --out "$dir/keys" >/dev/null
    "$BUILD/hogoctl" policy sign --key "$dir/keys/policy-signing.key" \
        "$SRC/policy/examples/strict-default.json" >"$dir/policy.json.tmp"
    mkdir -p "$dir/policy" && mv "$dir/policy.json.tmp" "$dir/policy/policy.json"
    cat >"$dir/agent.json" <<JSON
{"spool_dir": "$spool", "policy_dir": "$dir/policy", "policy_pubkey": "$dir/keys/policy-signing.pub",
 "state_dir": "$dir/state", "posture_file": "$dir/posture.json", "control_socket": "$dir/agent.sock",
 "log_level": "warning", "notify": {"locale_dir": "$BUILD/locale"}}
JSON
}
