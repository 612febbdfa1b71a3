#!/bin/bash
# e2e_containers.sh BUILD_DIR: the image and docker-compose.yml for real, with
# podman (runtime runc), podman-compose and a network of this run's own:
#
#   1. the base image (scripts/base-image.sh), then the image from the
#      Dockerfile (multi-stage): non-root, no compiler, every program's
#      libraries present, a HEALTHCHECK, at most 150 MB (size printed);
#   2. `podman-compose up -d` with docker-compose.yml and a small override
#      (below: only what podman-compose 1.0.3 lacks), the api published on
#      127.0.0.1 at a free port;
#   3. every container's health check healthy (time printed);
#   4. a generated dump imported by the producer service from a bind mount;
#      from the host, over the published port: examples/client.py, count,
#      every id, sampled records, stats, all equal to an oracle;
#   5. a second dump fed slowly to the producer: during it the workers are
#      scaled 1 -> 3 -> 1, then the worker is killed (SIGKILL) and started
#      again; the import is exact, `trajstore check` is clean;
#   6. `down`: the offline recount of the volume's shard files (e2e_check)
#      equals the stats served; `up`: the store is all there, stats unchanged;
#   7. everything this run made is removed on exit, failed or not:
#      containers, the network, the volume, the image of the run.
#
# Kept between runs, as caches: the base image localhost/debian:bookworm-slim
# and the Dockerfile's stages "runtime" and "build" (localhost/trajstore-e2e-
# cache:runtime and :build, one each, replaced when they change), so that a
# run whose sources did not change builds in seconds, and one whose sources
# changed only compiles.
#
# Exit 77 (skipped, with the reason) when the engine cannot run here: no
# podman, podman-compose or runc, or podman cannot start a container (no
# permission). E2E_BENCH_RECORDS=N also times the import of an N-record
# dump in the containers and on the host (`trajstore up`), for the docs.
# E2E_KEEP=1 keeps everything for a look (and prints how to remove it).
set -u

BUILD=${1:?usage: e2e_containers.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 2
SRC=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
PY=/usr/bin/python3                  # Debian's, with python3-zmq and python3-msgpack
LIB="$SRC/tests/e2e/e2e_lib.py"
MAX_MB=150                           # the image's size target (issue #16)
RECORDS_A=${E2E_RECORDS_A:-5000}     # the bind-mount import
RECORDS_B=${E2E_RECORDS_B:-20000}    # the import during scaling and the kill

skip () {
    echo "e2e_containers: SKIP: $*"
    exit 77
}
step () {
    echo "--- $(date +%T) $*"
}

# --- can it run here? ----------------------------------------------------------

for tool in podman podman-compose runc; do
    command -v "$tool" >/dev/null 2>&1 || skip "no $tool (sh scripts/deps.sh installs it)"
done
"$PY" -c 'import zmq, msgpack' 2>/dev/null \
    || { echo "FAIL: $PY lacks python3-zmq or python3-msgpack (scripts/deps.sh)" >&2; exit 1; }
for p in tools/trajstore tools/trajstore-gen tests/e2e_check producer/trajstore-producer; do
    [ -x "$BUILD/$p" ] || { echo "FAIL: $BUILD/$p is not built" >&2; exit 1; }
done

T=$(mktemp -d /tmp/ts-ctr.XXXXXX) || exit 1
chmod 755 "$T"                       # the bind mount below is read by uid 10001
mkdir -p "$T/import" "$T/log"

# Everything named after this run: nothing collides with another run or user.
RUN="tsctr$$$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')"
PROJ=$RUN                            # compose project: containers PROJ_*, network PROJ_default
IMAGE="localhost/trajstore-e2e:$RUN"
CACHE="localhost/trajstore-e2e-cache"     # the stages kept between runs
export TRAJSTORE_IMAGE=$IMAGE

# Podman's settings for this run only (CONTAINERS_CONF replaces the system's
# files for every podman this script and podman-compose start):
#  - runtime runc: crun, podman's default, refuses here ("cgroups in hybrid
#    mode not supported");
#  - ulimits no higher than this process's: as root, podman asks runc for
#    nofile 1048576 and nproc 4194304, which a sandboxed kernel refuses
#    ("error setting rlimit type 7: operation not permitted").
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu)
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt 16384 ]; } && nproc=16384
cat >"$T/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$T/containers.conf"

# The compose override, for what podman-compose 1.0.3 (Debian 12) lacks:
#  - `run -v` is ignored, so the bind mount of the dumps is declared here
#    (with Docker: `docker compose run -v DIR:/import:ro producer ...`);
#  - `up --scale worker=N` is parsed and ignored, but deploy.replicas is
#    read, so scaling up writes N here and runs `up -d` again (scaling down
#    stops and removes the highest-numbered replicas, as compose does).
# podman-compose merges the mount into every service of the shared anchor:
# harmless, read-only.
override () {
    cat >"$T/podman.yml" <<EOF
services:
  producer:
    volumes:
      - $T/import:/import:ro
  worker:
    deploy:
      replicas: $1
EOF
}
override 1
PC=(podman-compose -p "$PROJ" -f "$SRC/docker-compose.yml" -f "$T/podman.yml")

cleanup () {
    local rc=$?
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "E2E_KEEP=1: kept project $PROJ, image $IMAGE, $T; remove with:"
        echo "  podman rm -f \$(podman ps -aq --filter label=io.podman.compose.project=$PROJ);" \
             "podman network rm ${PROJ}_default; podman volume rm ${PROJ}_data;" \
             "podman rmi $IMAGE; rm -rf $T"
        return $rc
    fi
    local ids
    # the pacer of step 5, if a failure left it holding
    [ -s "$T/holds/pid" ] && kill "$(cat "$T/holds/pid")" 2>/dev/null
    ids=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJ" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && podman rm -f -t 5 $ids >/dev/null 2>&1
    podman network rm -f "${PROJ}_default" >/dev/null 2>&1
    podman volume rm -f "${PROJ}_data" >/dev/null 2>&1
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    # what is left must be nothing of this run's
    ids="$(podman ps -aq --filter "label=io.podman.compose.project=$PROJ" 2>/dev/null)"
    ids="$ids$(podman network ls -q --filter "name=^${PROJ}_" 2>/dev/null)"
    ids="$ids$(podman volume ls -q --filter "name=^${PROJ}_" 2>/dev/null)"
    [ -z "$ids" ] || echo "e2e_containers: WARNING: left behind: $ids" >&2
    rm -rf "$T"
    return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail () {
    echo "FAIL: $*" >&2
    local c
    for c in $(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$PROJ" \
               2>/dev/null); do
        echo "===== logs of $c ($(podman inspect -f '{{.State.Status}} exit {{.State.ExitCode}}' "$c" 2>/dev/null))" >&2
        podman logs --tail 40 "$c" >&2 2>&1
    done
    exit 1
}
lib () {
    "$PY" "$LIB" "$@"
}
json () {           # json FILE EXPR: EXPR over the JSON object in FILE (d)
    lib json "$1" "$2"
}
expect_eq () {      # expect_eq WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: $2, want $3"
    echo "    $1: $2"
}
now () {
    date +%s.%N
}
since () {          # since T0: seconds since T0, 1 decimal
    "$PY" -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"
}

# --- 1. the images ---------------------------------------------------------------

step "base image (scripts/base-image.sh)"
sh "$SRC/scripts/base-image.sh" >"$T/log/base.log" 2>&1 \
    || { cat "$T/log/base.log"; fail "scripts/base-image.sh failed"; }
if ! podman run --rm --network none localhost/debian:bookworm-slim true >"$T/log/probe.log" 2>&1; then
    skip "podman cannot start a container here: $(tail -n 3 "$T/log/probe.log" | tr '\n' ' ')"
fi

# --format docker: podman's default (OCI) image format has no HEALTHCHECK
build () {          # build LOG ARGS...: podman build of the Dockerfile
    local log=$1
    shift
    podman build --format docker -f "$SRC/Dockerfile" "$@" "$SRC" >"$T/log/$log" 2>&1 \
        || { tail -n 40 "$T/log/$log"; fail "podman build $* failed"; }
}
# cache STAGE: the Dockerfile's stage STAGE, tagged $CACHE:STAGE and so kept
# for the next run; the image of the stage before it, if the sources
# changed since, is removed (nothing uses it any more)
cache () {
    local old new t0
    old=$(podman image inspect -f '{{.Id}}' "$CACHE:$1" 2>/dev/null)
    t0=$(now)
    build "stage-$1.log" --target "$1" -t "$CACHE:$1"
    new=$(podman image inspect -f '{{.Id}}' "$CACHE:$1")
    echo "    stage $1: $(since "$t0") s ($(grep -c 'Using cache' "$T/log/stage-$1.log") steps from the cache)"
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        podman rmi "$old" >/dev/null 2>&1
    fi
}
step "stages runtime and build, kept as $CACHE:runtime and $CACHE:build"
T_BUILD=$(now)
cache runtime
cache build
step "image $IMAGE"
t0=$(now)
build image.log -t "$IMAGE"
echo "    $(since "$t0") s ($(grep -c 'Using cache' "$T/log/image.log") steps from the cache);" \
     "the three builds: $(since "$T_BUILD") s"

size=$(podman image inspect -f '{{.Size}}' "$IMAGE")
echo "    size: $(( size / 1000000 )) MB ($size bytes; the base image: $(( $(podman image inspect \
    -f '{{.Size}}' localhost/debian:bookworm-slim) / 1000000 )) MB)"
[ "$size" -le $(( MAX_MB * 1000000 )) ] || fail "the image is $(( size / 1000000 )) MB, more than $MAX_MB MB"
expect_eq "user" "$(podman image inspect -f '{{.Config.User}}' "$IMAGE")" "trajstore:trajstore"
expect_eq "uid in a container" "$(podman run --rm --network none "$IMAGE" id -u)" 10001
expect_eq "image HEALTHCHECK" "$(podman image inspect -f '{{.Config.Healthcheck.Test}}' "$IMAGE")" \
    "[CMD trajstore-healthcheck]"
# runtime libraries only: no toolchain, no headers, every library found
podman run --rm --network none "$IMAGE" sh -c '
    for t in cc gcc g++ cmake make ld; do command -v $t && exit 1; done
    [ -z "$(ls /usr/include 2>/dev/null)" ] || { echo "/usr/include is not empty"; exit 1; }
    for b in /usr/local/bin/*; do
        if ldd "$b" >/dev/null 2>&1; then ldd "$b" | grep "not found" && exit 1; fi
    done
    trajstore help >/dev/null' >"$T/log/image-check.log" 2>&1 \
    || fail "the image holds build tools or misses a library: $(cat "$T/log/image-check.log")"
echo "    no toolchain, no headers, every program's libraries found"

# --- 2-3. up, healthy ---------------------------------------------------------------

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TRAJSTORE_API_PORT=$PORT
HTTP_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TRAJSTORE_HTTP_PORT=$HTTP_PORT
API="tcp://127.0.0.1:$PORT"

# the services' containers that run (not the one-off producers)
running () {
    podman ps --format '{{.Names}}' --filter "label=io.podman.compose.project=$PROJ" \
        --filter status=running | grep -v '_producer_' | sort
}
# wait_healthy SECONDS: every running service container reports healthy.
# Without systemd podman runs no health check on its own (it schedules them
# with systemd timers), so this runs each container's check, as Docker's
# daemon would, once a second.
wait_healthy () {
    local deadline=$(( $(date +%s) + $1 )) c pending
    while :; do
        pending=""
        for c in $(running); do
            podman healthcheck run "$c" >/dev/null 2>&1 || pending="$pending $c"
        done
        [ -n "$(running)" ] && [ -z "$pending" ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || {
            for c in $pending; do
                echo "    $c: $(podman inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$c")" \
                     "$(podman inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$c" | tail -n 1)"
            done
            fail "not healthy after $1 s:$pending"
        }
        sleep 1
    done
}
# status: the aggregator's status (JSON) into T/st, asked from the api container
status () {
    podman exec "${PROJ}_api_1" trajstore status --json >"$T/st" 2>"$T/st.err"
}
# wait_workers N: N live workers own every shard, each at least one
wait_workers () {
    local i
    for ((i = 0; i < 120; i++)); do
        status && [ "$(json "$T/st" '(d["workers_alive"], d["shards_assigned"] == d["nshards"],
             all(len(w["shards"]) > 0 for w in d["aggregator"]["workers"] if w["alive"]))' \
             2>/dev/null)" = "($1, True, True)" ] && { echo "    $1 live workers own every shard"; return 0; }
        sleep 1
    done
    fail "the aggregator does not show $1 live workers owning every shard: $(cat "$T/st" "$T/st.err")"
}
up () {
    "${PC[@]}" up -d >"$T/log/up.log" 2>&1 || { cat "$T/log/up.log"; fail "podman-compose up failed"; }
}

step "podman-compose up -d (project $PROJ, api on 127.0.0.1:$PORT)"
t0=$(now)
up
echo "    podman-compose up -d returned after $(since "$t0") s"
wait_healthy 180
echo "    healthy: $(running | tr '\n' ' ')$(since "$t0") s after up began"
wait_workers 1
# a published port on the loopback only
podman port "${PROJ}_api_1" | grep -qx "7400/tcp -> 127.0.0.1:$PORT" \
    || fail "the api's port: $(podman port "${PROJ}_api_1")"

# --- 4. an import through the producer service, a client on the host -------------

# produce NAME ARGS...: `podman-compose run --rm -T producer --json ARGS`; its
# report (the one JSON line) in T/NAME.json. (podman-compose prints its own
# lines around the program's, and not the program's exit status.)
produce () {
    local name=$1
    shift
    "${PC[@]}" run --rm -T --no-deps producer --json --quiet "$@" >"$T/log/$name.out" 2>&1
    grep '^{' "$T/log/$name.out" | tail -n 1 >"$T/$name.json"
    [ -s "$T/$name.json" ] || fail "the producer printed no report: $(tail -n 20 "$T/log/$name.out")"
    cat "$T/$name.json"
}

step "import $RECORDS_A generated records: podman-compose run producer /import/a.jsonl"
"$BUILD/tools/trajstore-gen" --records "$RECORDS_A" --seed 16 --out "$T/import/a.jsonl" \
    || fail "trajstore-gen failed"
chmod 644 "$T/import/a.jsonl"
lib oracle "$T/import/a.jsonl" "$T/a.oracle.json" --ids "$T/a.oracle.ids" >/dev/null
produce a /import/a.jsonl
lib check-report "$T/a.json" "$T/a.oracle.json" || fail "the report of the import"

# check_store ORACLE...: what the api on the host's port serves is exactly
# the oracles' records, and `trajstore check` in the api container is clean
check_store () {
    local want=0 args="" o
    for o in "$@"; do
        want=$(( want + $(json "$T/$o.oracle.json" 'd["imported"]') ))
        args="$args $T/$o.oracle.ids $T/$o.oracle.json"
    done
    lib api "$API" '{"v": 1, "op": "count"}' >"$T/count.json" || fail "count"
    expect_eq "count" "$(json "$T/count.json" 'd["count"]')" "$want"
    lib ids "$API" "$T/api.ids" >/dev/null || fail "cannot list the ids"
    # shellcheck disable=SC2086
    lib check-ids "$T/api.ids" $args --what "list (every id)" || fail "the listed ids"
    echo "    list: every id of the oracle, once, in order"
    for o in "$@"; do
        lib check-sample "$API" "$T/import/$o.jsonl" 50 | sed 's/^/    get: /' \
            || fail "records read back"
    done
    lib api "$API" '{"v": 1, "op": "stats"}' >"$T/stats.json" || fail "stats"
    podman exec "${PROJ}_api_1" trajstore check --api tcp://127.0.0.1:7400 --json \
        >"$T/check.json" 2>"$T/check.err" \
        || fail "trajstore check: $(cat "$T/check.json" "$T/check.err")"
    expect_eq "trajstore check: problems" "$(json "$T/check.json" 'd["problems"]')" 0
    expect_eq "trajstore check: records" "$(json "$T/check.json" 'd["records"]')" "$want"
    expect_eq "stats: records" "$(json "$T/stats.json" 'd["totals"]["records"]')" "$want"
    # the HTTP gateway's service, through its published port: the same count
    "$PY" -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen("http://127.0.0.1:%s/v1/count" % sys.argv[1], timeout=10))["count"])' \
        "$HTTP_PORT" >"$T/http-count.txt" 2>&1 || fail "GET /v1/count: $(cat "$T/http-count.txt")"
    expect_eq "http: GET /v1/count" "$(cat "$T/http-count.txt")" "$want"
}
step "from the host through 127.0.0.1:$PORT: examples/client.py, count, list, get, stats"
TRAJSTORE_API=$API "$PY" "$SRC/examples/client.py" >"$T/client.out" 2>&1 \
    || fail "examples/client.py exited $?: $(cat "$T/client.out")"
sed -n '1p;$p' "$T/client.out" | sed 's/^/    client.py: /'
want=$(json "$T/a.oracle.json" 'd["imported"]')
grep -q "^stats: records=$want " "$T/client.out" || fail "client.py's stats line, want records=$want"
grep -q "^paged: sort=id records=$want " "$T/client.out" || fail "client.py's paged line, want $want"
check_store a

# --- 5. scaling 1 -> 3 -> 1 and a SIGKILL during an import --------------------------

# The dump reaches the producer through a pipe that holds at a quarter, a
# half and three quarters of the file until the test has done that step:
# every step happens while the import runs, however fast or slow it is.
cat >"$T/pacer.py" <<'EOF'
import os, sys, time
path, holds = sys.argv[1], sys.argv[2]
open(os.path.join(holds, "pid"), "w").write("%d\n" % os.getpid())
lines = open(path, "rb").read().splitlines(keepends=True)
out = sys.stdout.buffer
for k in (1, 2, 3):
    part = lines[(k - 1) * len(lines) // 4:k * len(lines) // 4]
    out.writelines(part)
    out.flush()
    open(os.path.join(holds, "at%d" % k), "w").close()
    while not os.path.exists(os.path.join(holds, "go%d" % k)):
        time.sleep(0.1)
out.writelines(lines[3 * len(lines) // 4:])
out.flush()
EOF
# at K: wait until the pacer holds at point K (the producer still runs)
at () {
    local i
    for ((i = 0; i < 600; i++)); do
        [ -e "$T/holds/at$1" ] && return 0
        kill -0 "$PRODUCER_PID" 2>/dev/null || fail "the producer ended before point $1: $(cat "$T/log/b.out")"
        sleep 0.2
    done
    fail "the pacer did not reach point $1 in 120 s"
}

step "import $RECORDS_B records through a pipe (podman-compose run -T producer -)"
"$BUILD/tools/trajstore-gen" --records "$RECORDS_B" --seed 1616 --out "$T/import/b.jsonl" \
    || fail "trajstore-gen failed"
lib oracle "$T/import/b.jsonl" "$T/b.oracle.json" --ids "$T/b.oracle.ids" >/dev/null
mkdir -p "$T/holds"
"$PY" "$T/pacer.py" "$T/import/b.jsonl" "$T/holds" \
    | "${PC[@]}" run --rm -T --no-deps producer --json --quiet --run b - >"$T/log/b.out" 2>&1 &
PRODUCER_PID=$!

at 1
step "scale up: worker=3 (the import at a quarter)"
override 3
up
wait_healthy 120
wait_workers 3
touch "$T/holds/go1"

at 2
step "scale down: worker=1, replicas 3 and 2 stopped (SIGTERM) and removed (the import at a half)"
override 1
podman stop -t 30 "${PROJ}_worker_3" "${PROJ}_worker_2" >/dev/null || fail "podman stop"
podman rm "${PROJ}_worker_3" "${PROJ}_worker_2" >/dev/null || fail "podman rm"
wait_workers 1
touch "$T/holds/go2"

at 3
step "podman kill -s KILL ${PROJ}_worker_1 (the import at three quarters), then up -d again"
podman kill -s KILL "${PROJ}_worker_1" >/dev/null || fail "podman kill"
expect_eq "worker_1 exit status" "$(podman inspect -f '{{.State.ExitCode}}' "${PROJ}_worker_1")" 137
touch "$T/holds/go3"
# podman does not restart a container it killed itself (restart:
# unless-stopped treats it as stopped by hand): up -d starts it again
up
wait_healthy 120
wait_workers 1

wait "$PRODUCER_PID"
grep '^{' "$T/log/b.out" | tail -n 1 >"$T/b.json"
[ -s "$T/b.json" ] || fail "the producer printed no report: $(tail -n 20 "$T/log/b.out")"
cat "$T/b.json"
lib check-report "$T/b.json" "$T/b.oracle.json" || fail "the report of the import during scaling"
check_store a b
cp "$T/stats.json" "$T/stats-before.json"

# --- 6. down, up: the volume keeps the store -----------------------------------------

step "podman-compose down -t 30, then up -d: the named volume keeps the store"
"${PC[@]}" down -t 30 >"$T/log/down.log" 2>&1 || { cat "$T/log/down.log"; fail "down failed"; }
[ -z "$(running)" ] || fail "still running after down: $(running)"
podman volume exists "${PROJ}_data" || fail "down removed the volume ${PROJ}_data"
# the store stopped: the offline recount of its shard files, in the volume,
# is the oracle of the stats served before
vol=$(podman volume inspect -f '{{.Mountpoint}}' "${PROJ}_data") || fail "volume inspect"
"$BUILD/tests/e2e_check" --ids "$T/check.ids" "$vol" >"$T/recount.json" 2>"$T/recount.err" \
    || fail "the offline check of the volume: $(cat "$T/recount.json" "$T/recount.err")"
expect_eq "offline recount of the volume: records" "$(json "$T/recount.json" 'd["records"]')" \
    "$(json "$T/count.json" 'd["count"]')"
lib check-ids "$T/check.ids" "$T/a.oracle.ids" "$T/a.oracle.json" "$T/b.oracle.ids" \
    "$T/b.oracle.json" --what "the shard files" || fail "the ids in the shard files"
lib check-stats "$T/stats-before.json" "$T/recount.json" || fail "the stats served before down"
echo "    the stats served before down equal the offline recount"
t0=$(now)
up
wait_healthy 180
echo "    healthy again in $(since "$t0") s"
wait_workers 1
check_store a b
"$PY" - "$T/stats-before.json" "$T/stats.json" <<'EOF' || fail "the stats changed across down and up"
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
# the shard map's epoch starts again at 1 with a new aggregator: not the
# data's; means and deviations are sums in another order: equal to 1e-9
def same(x, y):
    if isinstance(x, float) or isinstance(y, float):
        return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y))
    return x == y
drop = lambda d: {k: v for k, v in d.items() if k not in ("rid", "epoch")}
if not same(drop(a), drop(b)):
    diff = [k for k in set(drop(a)) | set(drop(b)) if not same(a.get(k), b.get(k))]
    sys.exit("%s differ: before %s, after %s" % (diff, json.dumps({k: a.get(k) for k in diff})[:600],
                                                  json.dumps({k: b.get(k) for k in diff})[:600]))
print("    stats: the same before and after")
EOF

# --- the figures for the docs (E2E_BENCH_RECORDS=N) ------------------------------------

if [ -n "${E2E_BENCH_RECORDS:-}" ]; then
    n=$E2E_BENCH_RECORDS
    step "throughput: $n records, one worker, in the containers and on the host"
    "$BUILD/tools/trajstore-gen" --records "$n" --seed 1 --out "$T/import/bench.jsonl" \
        || fail "trajstore-gen failed"
    chmod 644 "$T/import/bench.jsonl"
    t0=$(now)
    produce bench /import/bench.jsonl >/dev/null
    tc=$(since "$t0")
    # on the host: the same program into a fresh `trajstore up` (ipc://),
    # chunks as references to the file (the default there) and, as across
    # containers, carrying their lines (--send-bytes)
    for mode in refs bytes; do
        H=$(mktemp -d /tmp/ts-ctrh.XXXXXX)
        "$BUILD/tools/trajstore" up --workers 1 --data "$H" >/dev/null 2>&1 || fail "trajstore up"
        opt=""
        [ $mode = bytes ] && opt=--send-bytes
        t0=$(now)
        # shellcheck disable=SC2086
        "$BUILD/producer/trajstore-producer" --data "$H" --quiet --json $opt "$T/import/bench.jsonl" \
            >"$T/host-$mode.json" 2>&1 || fail "host import: $(cat "$T/host-$mode.json")"
        since "$t0" >"$T/host-$mode.wall"
        "$BUILD/tools/trajstore" down --data "$H" >/dev/null 2>&1
        rm -rf "$H"
    done
    "$PY" - "$n" "$tc" "$T" <<'EOF' || fail "the figures"
import json, sys
n, wall, t = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rows = [("containers: podman-compose run producer (tcp)", wall,
         json.load(open(t + "/bench.json"))["seconds"])]
for mode, what in (("refs", "host: trajstore-producer (ipc, references)"),
                   ("bytes", "host: trajstore-producer (ipc, --send-bytes)")):
    rows.append((what, float(open("%s/host-%s.wall" % (t, mode)).read()),
                 json.load(open("%s/host-%s.json" % (t, mode)))["seconds"]))
for what, w, s in rows:
    print("    %-46s %6.1f s wall, import %6.1f s: %6d records/s" % (what, w, s, n / s))
EOF
fi

step "tear down"
echo "e2e_containers: ok"
