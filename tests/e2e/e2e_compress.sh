#!/bin/sh
# e2e_compress.sh BUILD_DIR: compressed records through the real stack
# (docs/DESIGN.md, "Compressed records"). A generated dump in compact JSON
# (the form export writes) is imported with `up --compress small` into
# one data directory and `--compress none` into another: both export, in
# id order, the input's lines byte for byte; the compressed store's
# records file is smaller than the uncompressed one's and every shard
# trained a dictionary; `check` passes; a second `up` without --compress
# keeps the store's setting; a bad --compress is refused.
set -u

BUILD=${1:?usage: e2e_compress.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
TS="$BUILD/tools/trajstore"
GEN="$BUILD/tools/trajstore-gen"

# ipc socket paths are limited to 107 bytes: keep the directories short
T=$(mktemp -d /tmp/ts-zst.XXXXXX) || exit 1
A="$T/a"
B="$T/b"

cleanup () {
    "$TS" down --data "$A" >/dev/null 2>&1
    "$TS" down --data "$B" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step () {
    echo "--- $*"
}

fail () {
    echo "FAIL: $*" >&2
    for f in "$A"/logs/*.log "$B"/logs/*.log; do
        [ -f "$f" ] || continue
        echo "===== $f" >&2
        cat "$f" >&2
    done
    exit 1
}

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

step "a dump in compact JSON, sorted by id"
"$GEN" --records 3000 --seed 7 --out "$T/gen.jsonl" || fail "trajstore-gen failed"
"$PY" -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows.sort(key=lambda r: r["id"])
with open(sys.argv[2], "w") as f:
    for r in rows:
        f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")' \
    "$T/gen.jsonl" "$T/input.jsonl" || fail "cannot write the compact dump"

step "a bad --compress is refused"
"$TS" up --data "$A" --no-http --compress tiny >"$T/out" 2>&1 && fail "up --compress tiny started"
grep -q "bad --compress 'tiny'" "$T/out" || fail "up --compress tiny said: $(cat "$T/out")"

for m in small none; do
    [ $m = small ] && D=$A || D=$B
    step "import with --compress $m"
    "$TS" up --data "$D" --no-http --compress $m >"$T/out" 2>&1 || fail "up: $(cat "$T/out")"
    [ "$(cat "$D/compress")" = $m ] || fail "$D/compress says '$(cat "$D/compress")', not $m"
    "$TS" import --data "$D" --quiet "$T/input.jsonl" >"$T/out" 2>&1 || fail "import: $(cat "$T/out")"
    "$TS" check --data "$D" >"$T/out" 2>&1 || fail "check after the import: $(cat "$T/out")"
    "$TS" export --data "$D" --sort id >"$T/export-$m.jsonl" 2>"$T/err" || fail "export: $(cat "$T/err")"
    cmp "$T/input.jsonl" "$T/export-$m.jsonl" >"$T/out" 2>&1 \
        || fail "--compress $m: the export is not the input byte for byte: $(cat "$T/out")"
    "$TS" down --data "$D" >/dev/null 2>&1 || fail "down"
done

step "the compressed records file is the smaller, and each shard has a dictionary"
size () { cat "$1"/shards/*.rec | wc -c; }
sa=$(size "$A")
sb=$(size "$B")
echo "records files: small $sa bytes, none $sb bytes"
[ "$sa" -gt 0 ] && [ $((sa * 2)) -lt "$sb" ] || fail "small: $sa bytes, none: $sb bytes"
"$PY" - "$A/shards" <<'PYEOF' || fail "a shard without a dictionary"
import glob, sys
for p in sorted(glob.glob(sys.argv[1] + "/*.kct")):
    # a key 'K' with dictionary id 1 (4 bytes, big-endian), as Kyoto
    # Cabinet keeps keys verbatim in its leaves
    if b"K\x00\x00\x00\x01" not in open(p, "rb").read():
        sys.exit(p + ": no dictionary 1")
PYEOF

step "a second up without --compress keeps the store's setting"
"$TS" up --data "$A" --no-http >"$T/out" 2>&1 || fail "up: $(cat "$T/out")"
[ "$(cat "$A/compress")" = small ] || fail "$A/compress changed: $(cat "$A/compress")"
"$TS" export --data "$A" --sort id >"$T/again.jsonl" 2>"$T/err" || fail "export: $(cat "$T/err")"
cmp "$T/input.jsonl" "$T/again.jsonl" >/dev/null || fail "the export after a restart differs"
grep -q "new records compressed: small" "$A"/logs/*.log || fail "no worker said it compresses small"
"$TS" down --data "$A" >/dev/null 2>&1
echo "e2e_compress: ok"
