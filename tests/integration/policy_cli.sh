#!/usr/bin/env bash
# policy_cli — `hogoctl policy`: validate, keygen, sign, verify, show, their exit codes and
# messages, against the real binary.
# timeout: 60
. "$(dirname "$0")/lib.sh"

EX=$SRC/policy/examples
STRICT=$EX/strict-default.json
DEPT=$EX/department-somu.json
H=$HOGOCTL

# run_cli NAME EXPECTED_RC ARGS...: runs hogoctl, keeps stdout/stderr in $T/out $T/err
run_cli() {
    local name=$1 want=$2; shift 2
    "$H" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else
        fail "$name: exit $rc, expected $want"; sed 's/^/#   /' "$T/err"; fi
}
has() { grep -qF -- "$2" "$T/$1"; }
check_has() { local name=$1; if has "$2" "$3"; then ok "$name"; else fail "$name: '$3' not in $2"; sed 's/^/#   /' "$T/$2"; fi; }

# --- help ----------------------------------------------------------------------------
run_cli "hogoctl --help" 0 --help
check_has "hogoctl --help lists policy" out "policy"
run_cli "policy --help" 0 policy --help
for c in validate keygen sign verify show; do
    run_cli "policy $c --help" 0 policy "$c" --help
    check_has "policy $c --help shows usage" out "Usage: hogoctl policy $c"
done
run_cli "policy without a command" 2 policy
run_cli "policy unknown command" 2 policy frobnicate
run_cli "validate without a file" 2 policy validate
run_cli "validate with an unknown option" 2 policy validate --strict "$STRICT"

# --- validate ----------------------------------------------------------------------------
run_cli "validate strict example" 0 policy validate "$STRICT"
check_has "validate says OK" out "policy OK: strict-default version 1"
run_cli "validate department example" 0 policy validate "$DEPT"

cat >"$T/bad.json" <<'JSON'
{ "version": 3, "name": "bad", "colour": "red",
  "removable_media": { "allow": [
      { "vendor": "0781", "product": "5581", "serial": "A", "access": "read_write" },
      { "vendor": "07zz", "product": "5581", "serial": "B", "access": "read_write" },
      { "vendor": "0781", "product": "5581", "serial": 42, "access": "read_only" },
      { "vendor": "0781", "product": "5581", "serial": "A", "access": "read_only" } ] },
  "screen_lock": { "idle_lock_seconds": -300 },
  "bulk_transfer": { "window_seconds": 0 } }
JSON
run_cli "validate a bad policy" 1 policy validate "$T/bad.json"
check_has "serial type error by path" err "removable_media.allow[2].serial: expected a string, got number"
check_has "unknown key" err "colour: unknown key"
check_has "non-hex vendor" err "removable_media.allow[1].vendor: expected 4 hexadecimal digits"
check_has "duplicate entry" err "removable_media.allow[3]: duplicate registered medium"
check_has "negative timeout" err "screen_lock.idle_lock_seconds: must be between 30 and 86400 seconds, got -300"
check_has "window of 0" err "bulk_transfer.window_seconds: must be between 1 and 86400 seconds, got 0"
lines=$(wc -l <"$T/err")
if [ "$lines" -eq 6 ] && ! grep -qvE '^[^ :]+: .+' "$T/err"; then ok "one PATH: message line per error ($lines)"
else fail "expected 6 PATH: message lines, got $lines"; cat "$T/err"; fi
[ ! -s "$T/out" ] && ok "nothing on stdout for a bad policy" || fail "stdout not empty"

: >"$T/empty.json"
run_cli "validate an empty file" 1 policy validate "$T/empty.json"
check_has "empty file message" err "\$: the file is empty"
printf '{"version":1,"name":"\xff"}' >"$T/latin1.json"
run_cli "validate a non-UTF-8 file" 1 policy validate "$T/latin1.json"
check_has "non-UTF-8 message" err "not UTF-8 text"
printf 'version: 1\nname: x\n' >"$T/yaml.json"
run_cli "validate a non-JSON file" 1 policy validate "$T/yaml.json"
check_has "non-JSON message" err "not valid JSON: unexpected character at line 1, column 1"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big.json"
run_cli "validate a file over 1 MiB" 1 policy validate "$T/big.json"
check_has "too large message" err "larger than the 1 MiB"
run_cli "validate a missing file" 1 policy validate "$T/none.json"
check_has "missing file message" err "No such file"

# --- keygen ---------------------------------------------------------------------------
run_cli "keygen" 0 policy keygen --out "$T/keys"
check_has "keygen prints the key id" out "key id "
[ "$(stat -c %a "$T/keys/policy-signing.key")" = 600 ] && ok "private key is 0600" || fail "private key mode"
[ "$(stat -c %a "$T/keys/policy-signing.pub")" = 644 ] && ok "public key is 0644" || fail "public key mode"
sum=$(sha256sum <"$T/keys/policy-signing.key")
run_cli "keygen refuses to replace a key" 1 policy keygen --out "$T/keys"
check_has "keygen says nothing changed" err "nothing was changed"
[ "$(sha256sum <"$T/keys/policy-signing.key")" = "$sum" ] && ok "existing key untouched" || fail "key replaced"
run_cli "keygen without --out" 2 policy keygen
run_cli "second key pair" 0 policy keygen --out "$T/other"

KEY=$T/keys/policy-signing.key PUB=$T/keys/policy-signing.pub
# --- sign and verify --------------------------------------------------------------------------
run_cli "sign to stdout" 0 policy sign --key "$KEY" "$DEPT"
cp "$T/out" "$T/dept.signed"
check_has "envelope has a signature" out '"signature"'
run_cli "sign --out" 0 policy sign --key "$KEY" --out "$T/strict.signed" "$STRICT"
run_cli "verify" 0 policy verify --pubkey "$PUB" "$T/dept.signed"
check_has "verify says OK" out "signature OK: policy somu-2026 version 7"
run_cli "verify --out envelope" 0 policy verify --pubkey "$PUB" "$T/strict.signed"
run_cli "verify with two trusted keys" 0 policy verify --pubkey "$T/other/policy-signing.pub" --pubkey "$PUB" "$T/dept.signed"

sed 's/"idle_lock_seconds": 300/"idle_lock_seconds": 301/' "$T/dept.signed" >"$T/tampered.signed"
cmp -s "$T/dept.signed" "$T/tampered.signed" && fail "tampering did not change the file"
run_cli "verify a changed policy" 1 policy verify --pubkey "$PUB" "$T/tampered.signed"
check_has "changed policy: bad signature" err "BAD SIGNATURE"
sed 's/総務課 庶務係/総務課 庶務係x/' "$T/dept.signed" >"$T/tampered2.signed"
run_cli "verify a changed holder" 1 policy verify --pubkey "$PUB" "$T/tampered2.signed"
run_cli "verify with the wrong key" 1 policy verify --pubkey "$T/other/policy-signing.pub" "$T/dept.signed"
check_has "wrong key message" err "untrusted key"
grep -v '"signature"' "$T/dept.signed" >"$T/nosig.signed"
run_cli "verify without a signature" 1 policy verify --pubkey "$PUB" "$T/nosig.signed"
check_has "missing signature message" err "signature: missing"
sed -E 's/"signature": "[^"]*"/"signature": "bm90IGEgc2lnbmF0dXJl"/' "$T/dept.signed" >"$T/badsig.signed"
run_cli "verify a malformed signature" 1 policy verify --pubkey "$PUB" "$T/badsig.signed"
check_has "malformed signature message" err "signature: malformed"
run_cli "verify a bare policy" 1 policy verify --pubkey "$PUB" "$DEPT"
run_cli "verify without --pubkey" 2 policy verify "$T/dept.signed"
run_cli "sign an invalid policy" 1 policy sign --key "$KEY" "$T/bad.json"
check_has "sign refuses invalid" err "nothing was signed"
[ ! -s "$T/out" ] && ok "no envelope for an invalid policy" || fail "envelope written"
run_cli "sign with a public key" 1 policy sign --key "$PUB" "$DEPT"

# --- show ---------------------------------------------------------------------------------
LC_ALL= LC_MESSAGES= LANG=ja_JP.UTF-8 run_cli "show (Japanese)" 0 policy show "$DEPT" 2>/dev/null
check_has "Japanese summary" out "登録媒体: 2 件"
check_has "Japanese lock line" out "無操作 5分 でロック"
LC_ALL= LC_MESSAGES= LANG= run_cli "show (no locale: Japanese)" 0 policy show "$DEPT" 2>/dev/null
check_has "Japanese by default" out "ポリシー somu-2026 (版 7)"
LC_ALL= LC_MESSAGES= LANG=en_US.UTF-8 run_cli "show (English)" 0 policy show "$DEPT" 2>/dev/null
check_has "English summary" out "Registered media: 2"
check_has "English hours" out "Mon,Tue,Wed,Thu,Fri 07:30-21:00"
LC_ALL=ja_JP.UTF-8 LANG=en_US.UTF-8 run_cli "show (LC_ALL wins)" 0 policy show "$DEPT" 2>/dev/null
check_has "LC_ALL=ja overrides LANG=en" out "登録媒体"
LC_ALL= LC_MESSAGES=en_GB.UTF-8 LANG=ja_JP.UTF-8 run_cli "show (LC_MESSAGES)" 0 policy show "$DEPT" 2>/dev/null
check_has "LC_MESSAGES=en gives English" out "Registered media"
LANG=en_US.UTF-8 run_cli "show a signed envelope" 0 policy show "$T/dept.signed" 2>/dev/null
check_has "envelope shows its key" out "Signed by key"
run_cli "show an invalid policy" 1 policy show "$T/bad.json"
check_has "show lists the errors" err "removable_media.allow[2].serial"

finish
