# tests/integration/lib.sh — sourced by the shell integration tests.
#
# Gives: $BUILD (binaries), $SRC, a scratch dir $T removed at exit, ok/fail/check helpers
# that print TAP-style lines for tests/run, and `finish` which exits non-zero when any
# check failed. Tests run as root against the real binaries.
set -uo pipefail
SRC=${HOGO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${HOGO_BUILD:-$SRC/build}
HOGOCTL=$BUILD/hogoctl
T=$(mktemp -d "${TMPDIR:-/tmp}/hogo-it.XXXXXX")
_failures=0
_cleanups=()
at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
    local i
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
    rm -rf "$T"
}
trap _run_cleanups EXIT

ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; _failures=$((_failures + 1)); }
# check NAME COMMAND...: ok when the command succeeds
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
# check_fails NAME COMMAND...: ok when the command fails
check_fails() { local name=$1; shift; if "$@"; then fail "$name"; else ok "$name"; fi; }
# wait_for SECONDS COMMAND...: polls every 0.05 s until the command succeeds
wait_for() {
    local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
finish() { [ "$_failures" -eq 0 ]; exit $?; }
