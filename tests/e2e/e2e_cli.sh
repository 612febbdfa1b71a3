#!/bin/sh
# e2e_cli.sh BUILD_DIR: the `trajstore` CLI end to end, on the real
# programs, in a temporary data directory: up, status --json, a worker
# killed with -9 and restarted by the supervisor, a second up refused,
# down, status with nothing running, bad usage, and (when the producer is
# built) an import whose report adds up, imported again as duplicates.
# On any failure every log in DATA/logs is printed.
set -u

BUILD=${1:?usage: e2e_cli.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
TS="$BUILD/tools/trajstore"
GEN="$BUILD/tools/trajstore-gen"
PRODUCER="$BUILD/producer/trajstore-producer"

. "$(dirname "$0")/e2e_stack.sh"
stack_dirs cli

[ -x "$TS" ] || fail "no $TS"

step "usage"
"$TS" help >"$T/help" 2>&1 || fail "help exited $?"
for cmd in up down status import; do
    grep -q "trajstore $cmd" "$T/help" || fail "help does not list $cmd"
done
"$TS" bogus >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "an unknown command must exit 2"
grep -q "usage" "$T/err" || fail "an unknown command must print the usage on stderr"
"$TS" up --bogus --data "$D" >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "a bad option must exit 2"
grep -q "usage" "$T/err" || fail "a bad option must print the usage on stderr"

step "up --workers 2"
"$TS" up --workers 2 --data "$D" >"$T/up" 2>&1 || { cat "$T/up"; fail "up exited $?"; }
cat "$T/up"
[ -f "$D/supervisor.pid" ] || fail "no supervisor.pid"
[ -f "$D/supervisor.state" ] || fail "no supervisor.state"

step "status --json"
"$TS" status --json --data "$D" >"$T/st" 2>&1 || fail "status exited $?: $(cat "$T/st")"
expect "status" "$T/st" 'd["workers_alive"]' 2
expect "status" "$T/st" 'd["shards_assigned"]' 16
expect "status" "$T/st" 'd["nshards"]' 16
# the api runs when its program is built, the HTTP gateway when both are
alive="['aggregator', 'w1', 'w2']"
[ -x "$BUILD/api/trajstore-api" ] && alive="['aggregator', 'api', 'w1', 'w2']"
[ -x "$BUILD/api/trajstore-api" ] && [ -x "$BUILD/http/trajstore-http" ] \
    && alive="['aggregator', 'api', 'http', 'w1', 'w2']"
expect "status" "$T/st" 'sorted(p["name"] for p in d["processes"] if p["alive"])' "$alive"
expect "status" "$T/st" 'sum(len(w["shards"]) for w in d["aggregator"]["workers"] if w["alive"])' 16
"$TS" status --data "$D" >"$T/table" 2>&1 || fail "status (table) exited $?"
grep -q "^w1 " "$T/table" || fail "the status table lists no w1: $(cat "$T/table")"

step "kill -9 w1: the supervisor restarts it"
old=$(json "$T/st" '[p["pid"] for p in d["processes"] if p["name"] == "w1"][0]')
kill -9 "$old" || fail "cannot kill w1 (pid $old)"
ok=0
i=0
while [ $i -lt 100 ]; do                # up to 10 s
    if "$TS" status --json --data "$D" >"$T/st" 2>/dev/null \
    && [ "$(json "$T/st" '[(p["restarts"], p["alive"], p["pid"] != '"$old"') for p in d["processes"] if p["name"] == "w1"][0]')" = "(1, True, True)" ] \
    && [ "$(json "$T/st" '(d["workers_alive"], d["shards_assigned"])')" = "(2, 16)" ]; then
        ok=1
        break
    fi
    sleep 0.1
    i=$((i + 1))
done
[ $ok -eq 1 ] || fail "w1 not restarted and alive again: $(cat "$T/st")"
expect "restart" "$T/st" '[p["last_exit"] for p in d["processes"] if p["name"] == "w1"][0]' \
    "signal 9 (Killed)"

step "up twice: the second refuses"
"$TS" up --workers 2 --data "$D" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -ne 0 ] || fail "a second up must fail"
grep -q "already running" "$T/err" || fail "a second up must say it is already running: $(cat "$T/err")"

if [ -x "$PRODUCER" ] && [ -x "$GEN" ]; then
    step "import"
    "$GEN" --records 2000 --dup-rate 0.02 --bad-rate 0.01 --out "$T/sample.jsonl" \
        || fail "trajstore-gen exited $?"
    "$TS" import --json --quiet --data "$D" "$T/sample.jsonl" >"$T/rep" 2>"$T/err"
    rc=$?
    [ $rc -le 1 ] || fail "import exited $rc: $(cat "$T/rep" "$T/err")"
    cat "$T/rep"
    expect "import" "$T/rep" 'd["lines"]' 2000
    expect "import" "$T/rep" 'd["imported"] + d["duplicates"] + d["rejected"] + d["blank"] == d["lines"]' True
    expect "import" "$T/rep" 'd["imported"] > 0 and d["duplicates"] > 0 and d["rejected"] > 0' True
    imported=$(json "$T/rep" 'd["imported"]')
    rejected=$(json "$T/rep" 'd["rejected"]')
    [ $rc -eq 1 ] || fail "an import with rejected lines must exit 1, not $rc"

    step "import again: every good line is a duplicate"
    "$TS" import --json --quiet --data "$D" "$T/sample.jsonl" >"$T/rep2" 2>"$T/err"
    rc=$?
    [ $rc -le 1 ] || fail "the second import exited $rc: $(cat "$T/rep2" "$T/err")"
    expect "reimport" "$T/rep2" 'd["imported"]' 0
    expect "reimport" "$T/rep2" 'd["rejected"]' "$rejected"
    expect "reimport" "$T/rep2" 'd["duplicates"] + d["rejected"] + d["blank"] == d["lines"]' True

    "$TS" status --json --data "$D" >"$T/st" 2>&1 || fail "status after import exited $?"
    expect "jobs" "$T/st" 'len(d["aggregator"]["jobs"])' 2
    expect "jobs" "$T/st" 'sum(j["imported"] for j in d["aggregator"]["jobs"])' "$imported"
    expect "jobs" "$T/st" 'all(j["state"] == "done" for j in d["aggregator"]["jobs"])' True

    "$TS" import --data "$D" "$T/missing.jsonl" >"$T/out" 2>"$T/err"
    [ $? -eq 2 ] || fail "importing a missing file must exit 2"

    step "up again on a store with records: statistics and reads ready when up returns"
    "$TS" down --data "$D" >"$T/out" 2>&1 || fail "down exited $?"
    "$TS" up --workers 2 --data "$D" >"$T/up" 2>&1 || { cat "$T/up"; fail "up exited $?"; }
    # no waiting here: up returns once the statistics are rebuilt from the
    # shards' snapshots and the api answers a count from every shard
    "$TS" health --json --data "$D" >"$T/h" 2>&1 || fail "health after up exited $?: $(cat "$T/h")"
    expect "health after up" "$T/h" 'd["stats_complete"]' True
    "$TS" count --json --data "$D" >"$T/c" 2>&1 || fail "count after up exited $?: $(cat "$T/c")"
    expect "count after up" "$T/c" 'd["count"]' "$imported"
else
    step "import skipped: no $PRODUCER"
fi

step "down"
"$TS" down --data "$D" >"$T/out" 2>&1 || fail "down exited $?"
grep -q "^stopped" "$T/out" || fail "down must print stopped: $(cat "$T/out")"
if pgrep -f "$D" >"$T/left"; then
    fail "processes of $D still running after down: $(cat "$T/left")"
fi
[ ! -f "$D/supervisor.pid" ] || fail "supervisor.pid left behind"
"$TS" down --data "$D" >"$T/out" 2>&1 || fail "a second down exited $?"
grep -q "not running" "$T/out" || fail "down with nothing running must say so: $(cat "$T/out")"

step "status with nothing running"
"$TS" status --data "$D" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] || fail "status with nothing running must exit 2, not $rc"
[ -s "$T/err" ] || fail "status with nothing running must say why on stderr"
cat "$T/err"
"$TS" status --json --data "$D" >"$T/st" 2>/dev/null
[ $? -eq 2 ] || fail "status --json with nothing running must exit 2"
expect "status" "$T/st" 'd["running"]' False

step "import with nothing running"
if [ -x "$PRODUCER" ]; then
    "$TS" import --data "$D" "$T/sample.jsonl" >"$T/out" 2>"$T/err"
    [ $? -eq 2 ] || fail "import with nothing running must exit 2"
fi

step "a shard that cannot be opened: health says which and why"
[ -f "$D/shards/shard-003.kct" ] || fail "no shard-003.kct to spoil"
printf 'not a Kyoto Cabinet file\n' >"$D/shards/shard-003.kct"
"$TS" up --workers 1 --data "$D" >"$T/up" 2>&1 || { cat "$T/up"; fail "up exited $?"; }
# up does not wait for statistics a shard that cannot be opened holds back
grep -q "worker w1 reports: .*shard-003.kct" "$T/up" || fail "up does not say which shard holds it back: $(cat "$T/up")"
said=
for i in $(seq 1 100); do
    "$TS" health --data "$D" >"$T/out" 2>&1
    if grep -q "error: .*shard-003.kct: cannot open: not a shard file" "$T/out"; then said=1; break; fi
    sleep 0.1
done
cat "$T/out"
[ -n "$said" ] || fail "health does not name the shard that cannot be opened"
"$TS" health --json --data "$D" >"$T/h" 2>&1
expect "health" "$T/h" '[w["error"] is not None and "shard-003.kct" in w["error"] for w in d["workers"]]' "[True]"
"$TS" down --data "$D" >"$T/out" 2>&1 || fail "down exited $?"

echo "e2e_cli: ok"
