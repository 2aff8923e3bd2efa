#!/usr/bin/env bash
# hogoctl mark / unmark / classify against real files: every encoding, .xlsx/.docx made by
# Python's zipfile, exit codes 0 / 3 / 1, and the --json shape scripts rely on.
# timeout: 60
. "$(dirname "$0")/lib.sh"

d=$T/files
mkdir -p "$d"
printf '氏名,個人番号\n山田太郎,123456789018\n' >"$d/utf8.csv"
printf '氏名,個人番号\n山田太郎,１２３４－５６７８－９０１８\n' | iconv -f UTF-8 -t CP932 >"$d/sjis.csv"
printf '\xef\xbb\xbf氏名,個人番号\n山田太郎,1234 5678 9018\n' | iconv -f UTF-8 -t UTF-16 >"$d/utf16.txt"
printf '氏名,電話\n山田太郎,123456789010\n' >"$d/wrong_check.csv"
printf 'id\n1234567890180\n12345678901\n' >"$d/lengths.csv"
/usr/bin/env python3 - "$d" <<'PY'
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(f"{d}/list.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", "<Types/>")
    z.writestr("xl/sharedStrings.xml", "<sst><si><t>氏名</t></si><si><t>山田</t></si></sst>")
    z.writestr("xl/worksheets/sheet1.xml",
               '<worksheet><sheetData><row r="2"><c r="A2" t="s"><v>1</v></c>'
               '<c r="B2"><v>123456789018</v></c></row></sheetData></worksheet>')
with zipfile.ZipFile(f"{d}/memo.docx", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", "<Types/>")
    z.writestr("word/document.xml",
               '<w:document><w:body><w:p><w:r><w:t>番号: 1234</w:t></w:r>'
               '<w:r><w:t>-5678-9018</w:t></w:r></w:p></w:body></w:document>')
with zipfile.ZipFile(f"{d}/plain.docx", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("word/document.xml", '<w:document><w:body><w:p><w:t>会議のメモ</w:t></w:p></w:body></w:document>')
PY

for f in utf8.csv sjis.csv utf16.txt list.xlsx memo.docx; do
    out=$("$HOGOCTL" classify --json "$d/$f"); rc=$?
    check "classify $f: exit 3" test "$rc" -eq 3
    check "classify $f: one personal object" /usr/bin/env python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["verdict"] == "personal" and o["matches"]["my_number"] == 1 and o["label"] is None, o
assert o["file"].endswith(sys.argv[2]), o' "$out" "$f"
done
check "sjis.csv is read as Shift_JIS" bash -c "'$HOGOCTL' classify --json '$d/sjis.csv' | grep -q '\"encoding\":\"shift_jis\"'"
check "list.xlsx is an xlsx" bash -c "'$HOGOCTL' classify --json '$d/list.xlsx' | grep -q '\"format\":\"xlsx\"'"

for f in wrong_check.csv lengths.csv plain.docx; do
    "$HOGOCTL" classify "$d/$f" >/dev/null; rc=$?
    check "classify $f: nothing found, exit 0" test "$rc" -eq 0
done

# mark / unmark: the label shows in classify; the verdict stays the content's
check "mark with a label" "$HOGOCTL" mark --label my_number "$d/plain.docx" "$d/lengths.csv"
out=$("$HOGOCTL" classify --json "$d/plain.docx")
check "label shown" /usr/bin/env python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["label"]=="my_number" and o["verdict"]=="none", o' "$out"
check "xattr set" bash -c "getfattr --absolute-names --only-values -n user.hogo.label '$d/lengths.csv' | grep -qx my_number"
check "unmark" "$HOGOCTL" unmark "$d/plain.docx"
check "unmark of an unmarked file is fine" "$HOGOCTL" unmark "$d/plain.docx"
check_fails "label gone" bash -c "getfattr -n user.hogo.label '$d/plain.docx' 2>/dev/null | grep -q user.hogo"
"$HOGOCTL" mark --label 'bad label' "$d/plain.docx" 2>/dev/null; rc=$?
check "a bad label is a usage error" test "$rc" -eq 2

# several files, one JSON line each; a missing file makes the exit 1 but the rest is printed
n=$("$HOGOCTL" classify --json "$d/utf8.csv" "$d/plain.docx" "$d/list.xlsx" | wc -l)
check "one line per file" test "$n" -eq 3
"$HOGOCTL" classify "$d/utf8.csv" "$d/missing.csv" >"$T/out" 2>"$T/err"; rc=$?
check "missing file: exit 1" test "$rc" -eq 1
check "missing file: the others still classified" grep -q 'utf8.csv: personal' "$T/out"
check "missing file: says which" grep -q 'missing.csv: No such file' "$T/err"

# extra kinds and thresholds
printf 'a@example.jp,b@example.jp,03-1234-5678\n' >"$d/contacts.csv"
"$HOGOCTL" classify "$d/contacts.csv" >/dev/null; rc=$?
check "e-mail addresses alone are not personal by default" test "$rc" -eq 0
"$HOGOCTL" classify --pattern email=2 --pattern phone "$d/contacts.csv" >"$T/out"; rc=$?
check "--pattern email=2 makes them personal" test "$rc" -eq 3
check "--pattern counts phone" grep -q 'phone=1' "$T/out"

# a larger file than the prefix says so
{ seq -f "row %g,no number here" 1 80000; echo "late,123456789018"; } >"$d/big.csv"
out=$("$HOGOCTL" classify --json "$d/big.csv"); rc=$?
check "big file: number past the prefix not seen" test "$rc" -eq 0
check "big file: says only a prefix was read" /usr/bin/env python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["complete"] is False and o["incomplete"]=="prefix_only", o' "$out"
finish
