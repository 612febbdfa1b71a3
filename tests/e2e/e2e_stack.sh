# tests/e2e/e2e_stack.sh: the scaffolding of the drivers that run a stack
# through the `trajstore` CLI (e2e_cli, e2e_api, e2e_formats), sourced.
# Expects TS (the CLI). Gives E2E_DIR, PY, step, fail, json, expect and stack_dirs.

# this folder (e2e_lib.py for the Python checkers)
E2E_DIR=$(cd "$(dirname "$0")" && pwd)

# process and log helpers (print_files)
. "$(dirname "$0")/e2e_procs.sh"

# Debian's python3 (scripts/deps.sh: python3-zmq, python3-msgpack) starts in
# a tenth of the time a version manager's shim takes, and has the modules
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

step () {
    echo "--- $*"
}

# fail MESSAGE: says it, prints the logs of the data directories in
# LOG_DIRS (default: D), exits 1
fail () {
    echo "FAIL: $*" >&2
    for _logdir in ${LOG_DIRS:-$D}; do
        print_files "$_logdir"/logs/*.log
    done
    exit 1
}

# json FILE EXPR: evaluates a Python expression over the JSON object in
# FILE (bound to d) and prints the result.
json () {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

# expect WHAT FILE EXPR WANT
expect () {
    got=$(json "$2" "$3") || fail "$1: cannot read $2: $(cat "$2")"
    [ "$got" = "$4" ] || fail "$1: $3 is '$got', expected '$4' in $(cat "$2")"
}

# on_exit: a driver's own clean-up, run first at exit (redefine it)
on_exit () { :; }

stack_cleanup () {
    on_exit
    "$TS" down --data "$D" >/dev/null 2>&1
    rm -rf "$D" "$T"
}

# stack_dirs NAME: D (the data directory) and T (scratch) under /tmp (ipc
# socket paths are limited to 107 bytes: kept short); at exit the stack in
# D is stopped and both are removed
stack_dirs () {
    D=$(mktemp -d "/tmp/ts-$1.XXXXXX") || exit 1
    T=$(mktemp -d "/tmp/ts-$1-out.XXXXXX") || exit 1
    trap stack_cleanup EXIT
    trap 'exit 130' INT TERM
}
