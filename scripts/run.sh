#!/bin/sh
# run.sh BUILD_DIR: what `make run` does. Starts a trajstore on this machine
# (data in ./data-demo, or $TRAJSTORE_DATA), imports a generated sample dump
# of 10,000 records (1% duplicates, 0.2% bad lines, on purpose), shows the
# status, and leaves the stack running. Running it again works: the running
# stack is reused and the second import finds every record already stored
# (all duplicates). It links trajstore and trajstore-gen into ./bin/ and
# says how to put them on the PATH for the README's tour.
set -u

BUILD=${1:-build}
TS="$BUILD/tools/trajstore"
GEN="$BUILD/tools/trajstore-gen"
DATA=${TRAJSTORE_DATA:-./data-demo}

for prog in "$TS" "$GEN"; do
    if [ ! -x "$prog" ]; then
        echo "run.sh: $prog is not built (make build)" >&2
        exit 2
    fi
done
mkdir -p "$DATA" || exit 2
DATA=$(cd "$DATA" && pwd)

if [ -f "$DATA/supervisor.pid" ] && "$TS" status --data "$DATA" >/dev/null 2>&1; then
    echo "trajstore is already running for $DATA"
else
    "$TS" up --workers 2 --data "$DATA" || exit $?
fi

SAMPLE="$DATA/sample-10000.jsonl"
if [ ! -s "$SAMPLE" ]; then
    echo
    echo "generating $SAMPLE"
    "$GEN" --records 10000 --dup-rate 0.01 --bad-rate 0.002 --out "$SAMPLE.tmp" \
        && mv "$SAMPLE.tmp" "$SAMPLE" || exit 2
fi

echo
echo "importing $SAMPLE"
"$TS" import --data "$DATA" "$SAMPLE"
rc=$?
case $rc in
    0) ;;
    1) echo "(exit 1: some lines were rejected; the sample has bad lines on purpose)" ;;
    *) echo "run.sh: the import failed (exit $rc)" >&2; exit $rc ;;
esac

echo
"$TS" status --data "$DATA" || exit $?

# ./bin/: links to the built programs (the CLI finds the daemons from where
# the link points), so that `trajstore` works as the README writes it
BIN=$(pwd)/bin
mkdir -p "$BIN" && for prog in "$TS" "$GEN"; do
    ln -sf "$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog")" "$BIN/$(basename "$prog")"
done

echo
echo "The stack is still running. To use the trajstore command on it (the"
echo "README's tour), in this shell:"
echo "  export PATH=\"$BIN:\$PATH\" TRAJSTORE_DATA=\"$DATA\""
echo "then: trajstore stats; and to stop it: trajstore down"
echo "(or install trajstore for good: sudo make install, docs/INSTALL.md)"
