#!/bin/bash
# install_cli.sh BUILD_DIR SOURCE_DIR: trajstore installed like a tool
# (issue #17), without root: every program's --version; `cmake --install`
# into a DESTDIR puts each file where docs/INSTALL.md says; the installed
# CLI runs a stack from there (it finds its programs next to itself, not in
# the build tree): up, import, count, down; the bash completion completes
# commands, options, profile names and the running stack's group names.
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d /tmp/ts-inst.XXXXXX)
ROOT=$TMP/root
DATA=$TMP/d
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cleanup() {
    [ -x "$ROOT/usr/bin/trajstore" ] && "$ROOT/usr/bin/trajstore" down --data "$DATA" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- --version -----------------------------------------------------------------
# the version the build wrote (build/generated/ts_version_git.h), which must
# name a commit of this tree (a build of an older commit than HEAD is fine:
# the tests may run after a commit without a rebuild)
want=$(sed -n 's/.*TS_BUILD_VERSION "\(.*\)"/\1/p' "$BUILD/generated/ts_version_git.h")
hash=$(echo "$want" | sed -n 's/.*\.g\([0-9a-f]\{7,\}\).*/\1/p')
if [ -d "$SRC/.git" ] || [ -f "$SRC/.git" ]; then
    if [ -n "$hash" ]; then
        git -C "$SRC" cat-file -e "$hash^{commit}" 2>/dev/null \
            || bad "the build's version '$want' names no commit of $SRC"
    else      # a release: its tag
        git -C "$SRC" rev-parse -q --verify "refs/tags/v${want%.dirty}" >/dev/null \
            || bad "the build's version '$want' is neither a commit nor a tag v${want%.dirty}"
    fi
fi
progs="tools/trajstore tools/trajstore-gen producer/trajstore-producer \
       workers/trajstore-worker aggregator/trajstore-aggregator api/trajstore-api"
[ -x "$BUILD/http/trajstore-http" ] && progs="$progs http/trajstore-http"
for p in $progs; do
    name=$(basename "$p")
    out=$("$BUILD/$p" --version) || bad "$name --version exited $?"
    echo "$out" | head -n 1 | grep -q "^$name [0-9]" || bad "$name --version: first line is not '$name VERSION': $out"
    v=$(echo "$out" | head -n 1 | cut -d' ' -f2)
    [ "$v" = "$want" ] || bad "$name --version says $v, the build wrote $want"
    echo "$out" | grep -q "^key layout [0-9]" || bad "$name --version: no key layout"
    for lib in "Kyoto Cabinet" ZeroMQ msgpack-c simdjson; do
        echo "$out" | grep -q "$lib [0-9]" || bad "$name --version: no $lib version"
    done
done
[ "$("$BUILD/tools/trajstore" version)" = "$("$BUILD/tools/trajstore" --version)" ] \
    || bad "trajstore version and trajstore --version differ"

# --- make install into a DESTDIR ------------------------------------------------
DESTDIR=$ROOT cmake --install "$BUILD" --prefix /usr >"$TMP/install.log" 2>&1 \
    || { cat "$TMP/install.log"; bad "cmake --install failed"; exit 1; }
for f in usr/bin/trajstore usr/bin/trajstore-producer usr/bin/trajstore-worker \
         usr/bin/trajstore-aggregator usr/bin/trajstore-api usr/bin/trajstore-gen \
         usr/share/man/man1/trajstore.1.gz usr/share/man/man8/trajstore-worker.8.gz \
         usr/share/bash-completion/completions/trajstore \
         usr/share/doc/trajstore/copyright lib/systemd/system/trajstore.service \
         etc/default/trajstore; do
    [ -e "$ROOT/$f" ] || bad "make install did not install /$f"
done
if [ -d "$SRC/http/static" ]; then
    [ -d "$ROOT/usr/share/trajstore/static" ] || bad "the HTTP gateway's static files are not in /usr/share/trajstore/static"
fi
grep -q '^ExecStart=/usr/bin/trajstore supervise ' "$ROOT/lib/systemd/system/trajstore.service" \
    || bad "the unit does not run /usr/bin/trajstore supervise"
grep -q '^EnvironmentFile=-/etc/default/trajstore$' "$ROOT/lib/systemd/system/trajstore.service" \
    || bad "the unit does not read /etc/default/trajstore"

# the unit as systemd reads it (its ExecStart pointed at the staged program;
# systemd-analyze exits 0 even on unknown keys: any message is a failure)
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s#=/usr/bin/#=$ROOT/usr/bin/#" "$ROOT/lib/systemd/system/trajstore.service" >"$TMP/trajstore.service"
    msg=$(systemd-analyze verify --man=no "$TMP/trajstore.service" 2>&1)
    [ -z "$msg" ] || bad "systemd-analyze verify trajstore.service: $msg"
else
    echo "(systemd-analyze is not installed: the unit is not verified)"
fi

# --- the installed CLI runs a stack ---------------------------------------------
export PATH="$ROOT/usr/bin:/usr/bin:/bin"
TS=$ROOT/usr/bin/trajstore
"$TS" up --data "$DATA" --workers 1 >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; bad "installed trajstore up failed"; exit 1; }
for prog in trajstore-aggregator trajstore-worker trajstore-api; do
    pid=$(pgrep -f "^$ROOT/usr/bin/$prog .*$DATA" | head -n 1)
    [ -n "$pid" ] || bad "no $prog from $ROOT/usr/bin runs (ps: $(pgrep -af "$prog.*$DATA"))"
done
trajstore-gen --records 60 --per-group 6 | "$TS" import --data "$DATA" --quiet --run gen - >"$TMP/import.log" 2>&1 \
    || { cat "$TMP/import.log"; bad "installed trajstore import failed"; }
n=$("$TS" count --data "$DATA")
[ "$n" = 60 ] || bad "installed trajstore count says '$n', not 60"

# --- bash completion --------------------------------------------------------------
complete_line() {   # words... ; prints COMPREPLY, one a line
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
    # shellcheck disable=SC1090,SC1091
    source "$ROOT/usr/share/bash-completion/completions/trajstore"
    _trajstore 2>/dev/null
    printf '%s\n' "${COMPREPLY[@]}"
}
[ "$(complete_line trajstore li)" = list ] || bad "completion of 'trajstore li': $(complete_line trajstore li)"
complete_line trajstore "" | grep -qx supervise || bad "completion of commands lacks supervise"
complete_line trajstore list --cu | grep -qx -- --cursor || bad "completion of 'list --cu' lacks --cursor"
complete_line trajstore import --profile "" | grep -qx tau || bad "completion of --profile lacks tau"
group=$("$TS" groups --data "$DATA" --json --limit 1 | sed -n 's/.*"group": *"\([^"]*\)".*/\1/p')
[ -n "$group" ] || bad "no group to complete"
complete_line trajstore list --data "$DATA" --group "" | grep -qx "$group" \
    || bad "completion of --group lacks $group (got: $(complete_line trajstore list --data "$DATA" --group "" | head -3))"
complete_line trajstore list --data "$DATA" --run "" | grep -qx gen \
    || bad "completion of --run lacks the run gen (got: $(complete_line trajstore list --data "$DATA" --run "" | head -3))"

"$TS" down --data "$DATA" >/dev/null 2>&1 || bad "installed trajstore down failed"
[ $fail = 0 ] && echo "install_cli: ok"
exit $fail
