#!/bin/bash
# e2e_netns.sh BUILD_DIR: the docker-compose.yml topology on several hosts,
# without docker: one network namespace a host on a private bridge, each
# service started with exactly the command, environment and health check
# that docker-compose.yml gives it (read from the file), the container's
# hostname and the service names replaced by the namespaces' addresses,
# /data by a temporary directory shared by all (as the named volume is).
#
#   tsnbr0 (bridge, no address on the host side), 10.231.0.0/24:
#     tsn-agg  10.231.0.10  aggregator
#     tsn-w1   10.231.0.11  worker (worker-entrypoint.sh, hostname 10.231.0.11)
#     tsn-w2   10.231.0.12  worker
#     tsn-api  10.231.0.13  api
#     tsn-prod 10.231.0.14  producer, then a Python client of the api
#     tsn-w3   10.231.0.15  a third worker, started later (--scale worker=3)
#
# It checks: every health check passes; both workers are registered under
# their advertised tcp endpoints and own every shard; a generated dump of
# 5,000 records imported by the producer over tcp is counted, listed, read
# back and in the statistics of the api, asked from another host; so it is
# still when a third worker joins and takes shards, and when it leaves
# again (scaling up and down); SIGTERM stops every service with status 0
# within its stop_grace_period.
#
# Needs root, iproute2, util-linux (unshare, setpriv, flock) and Debian's
# python3 with python3-yaml, python3-zmq, python3-msgpack; without them, or
# when namespaces cannot be created (a container without CAP_SYS_ADMIN), it
# says why and exits 77 (skipped). Runs are serialised by a lock; every
# namespace, link and process it made is removed on exit; the services get
# SIGTERM if this script dies (setpriv --pdeathsig).
set -u

BUILD=${1:?usage: e2e_netns.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
COMPOSE="$SRC/docker-compose.yml"
PY=/usr/bin/python3                 # Debian's, with the Debian modules

NET=10.231.0
BR=tsnbr0
HOSTS="agg w1 w2 api prod w3"
declare -A IP=([agg]=$NET.10 [w1]=$NET.11 [w2]=$NET.12 [api]=$NET.13 [prod]=$NET.14
               [w3]=$NET.15)
# compose service name -> the address its DNS name resolves to
SERVICE_HOSTS="aggregator=${IP[agg]} api=${IP[api]}"

skip () {
    echo "e2e_netns: SKIP: $*"
    exit 77
}

# --- can it run here? --------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
for tool in ip unshare setpriv flock; do
    command -v "$tool" >/dev/null 2>&1 || skip "no $tool (iproute2, util-linux)"
done
[ -x "$PY" ] || skip "no $PY (Debian's python3)"
"$PY" -c 'import yaml, zmq, msgpack' 2>/dev/null \
    || skip "$PY lacks python3-yaml, python3-zmq or python3-msgpack (scripts/deps.sh)"
[ -f "$COMPOSE" ] || { echo "FAIL: no $COMPOSE" >&2; exit 1; }
for p in aggregator/trajstore-aggregator workers/trajstore-worker api/trajstore-api \
         producer/trajstore-producer tools/trajstore tools/trajstore-gen; do
    [ -x "$BUILD/$p" ] || { echo "FAIL: $BUILD/$p is not built" >&2; exit 1; }
done

# One run at a time: the names are fixed.
LOCKDIR=/run/lock
[ -d "$LOCKDIR" ] || LOCKDIR=/tmp
exec 9>"$LOCKDIR/tsn-e2e-netns.lock" || exit 1
flock -w 240 9 || { echo "FAIL: another e2e_netns run held the lock for 240 s" >&2; exit 1; }

# under the lock, a directory of this test is one a killed run left
for old in /tmp/tsn-netns.??????; do
    [ -d "$old" ] && rm -rf "$old"
done
T=$(mktemp -d /tmp/tsn-netns.XXXXXX) || exit 1
D="$T/data"                          # the named volume "data", mounted at /data
mkdir -p "$D" "$T/log" "$T/svc" "$T/bin"

declare -a PIDS=()                   # every service started, for the cleanup
declare -A PID_OF=()
CREATED_NS=""

cleanup () {
    local pid ns i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do          # up to 10 s each
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in $CREATED_NS; do
        ip netns del "$ns" 2>/dev/null          # takes its veth end, and so the pair
    done
    for h in $HOSTS; do
        ip link del "tsnh-$h" 2>/dev/null
    done
    ip link del "$BR" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

step () {
    echo "--- $*"
}

fail () {
    echo "FAIL: $*" >&2
    local f
    for f in "$T"/log/*.log; do
        [ -f "$f" ] || continue
        echo "===== $f" >&2
        tail -n 60 "$f" >&2
    done
    exit 1
}

# --- the services, from docker-compose.yml -----------------------------------
#
# For each service, T/svc/NAME.{argv,entry,env,health} (NUL-separated) and
# NAME.grace (seconds): what docker would run (argv: `up`; entry: the start of
# `run SERVICE ARGS...`), with the service names of the
# endpoints replaced by addresses and /data by the shared directory. The
# file is read through `docker-compose config` when it is installed (so
# interpolation and anchors resolve as compose resolves them), else parsed
# as YAML here. The image's own ENV and CMD come from the Dockerfile.

step "services from $(basename "$COMPOSE")"
if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$COMPOSE" config >"$T/compose.yml" 2>"$T/log/compose-config.log" \
        || fail "docker-compose config failed: $(cat "$T/log/compose-config.log")"
    RESOLVED=1
else
    cp "$COMPOSE" "$T/compose.yml"
    RESOLVED=0
fi
"$PY" - "$T/compose.yml" "$RESOLVED" "$SRC/Dockerfile" "$D" "$T/svc" "$SERVICE_HOSTS" \
    >"$T/log/compose-parse.log" 2>&1 <<'EOF' || fail "cannot derive the services: $(cat "$T/log/compose-parse.log")"
import os, re, shlex, sys, yaml

path, resolved, dockerfile, data, out, hosts = sys.argv[1:7]
hosts = dict(h.split("=", 1) for h in hosts.split())
doc = yaml.safe_load(open(path))

def interpolate(s):
    # compose's ${VAR}, ${VAR:-default}, ${VAR-default}, $$ (the file was not
    # resolved by docker-compose)
    def one(m):
        if m.group(0) == "$$":
            return "$"
        name, op, dflt = m.group(1), m.group(2), m.group(3) or ""
        v = os.environ.get(name)
        if op == ":-":
            return v if v else dflt
        if op == "-":
            return v if v is not None else dflt
        return v or ""
    return re.sub(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}", one, s)

def walk(x):
    if isinstance(x, str):
        return interpolate(x)
    if isinstance(x, list):
        return [walk(i) for i in x]
    if isinstance(x, dict):
        return {k: walk(v) for k, v in x.items()}
    return x

if resolved != "1":
    doc = walk(doc)

# the final stage of the Dockerfile: its ENV and CMD are the image's
image_env, image_cmd, image_entry = {}, [], []
for line in re.sub(r"\\\n", " ", open(dockerfile).read()).splitlines():
    line = line.strip()
    if re.match(r"(?i)^FROM\s", line):
        image_env, image_cmd, image_entry = {}, [], []
    m = re.match(r"(?i)^ENV\s+(.*)$", line)
    if m:
        for kv in shlex.split(m.group(1)):
            k, _, v = kv.partition("=")
            image_env[k] = v
    m = re.match(r"(?i)^(CMD|ENTRYPOINT)\s+(\[.*\])\s*$", line)
    if m:
        import json
        (image_cmd if m.group(1).upper() == "CMD" else image_entry)[:] = json.loads(m.group(2))

def words(v):
    if v is None:
        return None
    return shlex.split(v) if isinstance(v, str) else [str(i) for i in v]

def localize(s):
    # service names -> addresses; /data -> the shared directory
    for name, ip in hosts.items():
        s = re.sub(r"(tcp://)" + re.escape(name) + r"(:\d+)", r"\g<1>" + ip + r"\g<2>", s)
    if s == "/data" or s.startswith("/data/"):
        s = data + s[5:]
    m = re.search(r"tcp://([^:/]+):", s)
    if m and m.group(1) != "*" and not re.fullmatch(r"[\d.]+", m.group(1)):
        raise SystemExit("%s: host %s is not a service of the topology" % (s, m.group(1)))
    return s

def seconds(v):
    if v is None:
        return 10                     # docker's default
    total = 0.0
    for n, unit in re.findall(r"([\d.]+)(ms|us|h|m|s)", str(v)):
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total

services = doc.get("services") or {}
for name in ("aggregator", "worker", "api", "producer"):
    if name not in services:
        raise SystemExit("docker-compose.yml has no service %s" % name)
    svc = services[name]
    entry = words(svc.get("entrypoint"))
    cmd = words(svc.get("command"))
    if entry is not None:             # compose: an entrypoint drops the image's CMD
        argv = entry + (cmd or [])
    else:
        argv = image_entry + (cmd if cmd is not None else image_cmd)
    env = dict(image_env)
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(i.split("=", 1) if "=" in i else (i, os.environ.get(i, "")) for i in e)
    env.update({k: "" if v is None else str(v) for k, v in e.items()})
    env.pop("PATH", None)             # the test's own PATH stands for the image's
    hc = (svc.get("healthcheck") or {}).get("test")
    if isinstance(hc, str):
        hc = ["sh", "-c", hc]
    elif hc and hc[0] == "CMD":
        hc = hc[1:]
    elif hc and hc[0] == "CMD-SHELL":
        hc = ["sh", "-c", hc[1]]
    elif hc and hc[0] == "NONE":
        hc = None
    else:
        hc = ["trajstore-healthcheck"]  # the image's HEALTHCHECK
    def put(suffix, items):
        with open(os.path.join(out, name + suffix), "w") as f:
            f.write("".join(i + "\0" for i in items))
    env = {k: localize(v) for k, v in env.items()}
    # never let a service write outside the test's directory
    if env.get("TRAJSTORE_DATA") != data:
        raise SystemExit("%s: TRAJSTORE_DATA is %r, not /data (the volume)"
                         % (name, env.get("TRAJSTORE_DATA")))
    put(".argv", [localize(a) for a in argv])
    # what `docker compose run SERVICE ARGS` runs: the entrypoint, then ARGS
    put(".entry", [localize(a) for a in (entry if entry is not None else image_entry)])
    put(".env", ["%s=%s" % kv for kv in sorted(env.items())])
    put(".health", [localize(a) for a in hc or []])
    with open(os.path.join(out, name + ".grace"), "w") as f:
        f.write("%d\n" % max(1, round(seconds(svc.get("stop_grace_period")))))
    print(name, argv, sorted(env.items()), hc, svc.get("stop_grace_period"))
EOF
cat "$T/log/compose-parse.log"

# The image's /usr/local/bin, from the build tree and docker/.
for p in aggregator/trajstore-aggregator workers/trajstore-worker api/trajstore-api \
         producer/trajstore-producer tools/trajstore tools/trajstore-gen; do
    ln -s "$BUILD/$p" "$T/bin/$(basename "$p")"
done
ln -s "$SRC/docker/worker-entrypoint.sh" "$T/bin/trajstore-worker-entrypoint"
ln -s "$SRC/docker/healthcheck.sh" "$T/bin/trajstore-healthcheck"
PATHV="$T/bin:/usr/local/bin:/usr/bin:/bin"
# a sanitizer build's options (make test-san) reach the programs too
SAN_ENV=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    [ -n "${!v:-}" ] && SAN_ENV+=("$v=${!v}")
done

# --- the network ---------------------------------------------------------------

step "network: $BR, namespaces $(for h in $HOSTS; do printf 'tsn-%s ' "$h"; done)"
# what an earlier run that was killed (SIGKILL: no cleanup) left behind
for h in $HOSTS; do
    if ip netns list | grep -qw "^tsn-$h"; then
        left=$(ip netns pids "tsn-$h" 2>/dev/null | tr '\n' ' ')
        [ -z "$left" ] || fail "namespace tsn-$h, left by an earlier run, still holds processes: $left"
        ip netns del "tsn-$h" || fail "cannot remove the stale namespace tsn-$h"
    fi
    ip link del "tsnh-$h" 2>/dev/null
done
ip link del "$BR" 2>/dev/null

if ! ip netns add tsn-agg 2>"$T/err"; then
    skip "cannot create a network namespace ('ip netns add' says: $(cat "$T/err"))"
fi
CREATED_NS="tsn-agg"
ip link add "$BR" type bridge 2>"$T/err" || fail "cannot create the bridge $BR: $(cat "$T/err")"
ip link set "$BR" up || fail "cannot bring $BR up"
for h in $HOSTS; do
    ns="tsn-$h"
    if [ "$ns" != tsn-agg ]; then
        ip netns add "$ns" || fail "cannot create $ns"
        CREATED_NS="$CREATED_NS $ns"
    fi
    ip link add "tsnh-$h" type veth peer name "tsnn-$h" || fail "cannot create the veth of $ns"
    ip link set "tsnh-$h" master "$BR" up || fail "cannot attach tsnh-$h to $BR"
    ip link set "tsnn-$h" netns "$ns" || fail "cannot move tsnn-$h into $ns"
    ip -n "$ns" link set lo up || fail "cannot bring lo up in $ns"
    ip -n "$ns" addr add "${IP[$h]}/24" dev "tsnn-$h" || fail "cannot address $ns"
    ip -n "$ns" link set "tsnn-$h" up || fail "cannot bring tsnn-$h up in $ns"
done

# --- running things in the hosts -------------------------------------------------

# host_cmd HOST: into the array HOST_CMD, the command prefix that runs a
# command in HOST's namespace with the hostname the container would have
# (its address: the names are replaced by addresses). Every step execs the
# next: a command started with it in the background is $!.
host_cmd () {
    # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
    HOST_CMD=(ip netns exec "tsn-$1" unshare --uts
              sh -c 'printf %s "$1" >/proc/sys/kernel/hostname && shift && exec "$@"'
              sethost "${IP[$1]}")
}

# in_host HOST CMD...: CMD in HOST, in the foreground
in_host () {
    host_cmd "$1"
    shift
    "${HOST_CMD[@]}" "$@"
}

# svc_env SERVICE: the service's environment into the array ENV
svc_env () {
    mapfile -d '' ENV <"$T/svc/$1.env"
}

# start SERVICE HOST [ARGS...]: the service's command in HOST, in the
# background, with exactly its environment (env -i), SIGTERM if this script
# dies. ARGS replace the compose command, as `docker compose run` does.
start () {
    local svc=$1 h=$2
    shift 2
    svc_env "$svc"
    mapfile -d '' ARGV <"$T/svc/$svc.argv"
    host_cmd "$h"
    # a simple command, not a function: the background job execs it, so $!
    # is the service itself (what docker stop signals)
    "${HOST_CMD[@]}" setpriv --pdeathsig TERM env -i PATH="$PATHV" "${SAN_ENV[@]}" "${ENV[@]}" "${ARGV[@]}" \
        >"$T/log/$svc-$h.log" 2>&1 &
    PIDS+=($!)
    PID_OF[$h]=$!
}

# health SERVICE HOST: the service's health check, in HOST, as docker runs it
# (docker exec: the container's environment, the container's hostname)
health () {
    local svc=$1 h=$2
    svc_env "$svc"
    mapfile -d '' HC <"$T/svc/$svc.health"
    [ ${#HC[@]} -gt 0 ] || return 0
    in_host "$h" env -i PATH="$PATHV" "${SAN_ENV[@]}" "${ENV[@]}" "${HC[@]}"
}

# wait_healthy SERVICE HOST SECONDS
wait_healthy () {
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        health "$1" "$2" >"$T/health" 2>&1 && { echo "    $1 in tsn-$2: $(cat "$T/health")"; return 0; }
        kill -0 "${PID_OF[$2]}" 2>/dev/null || fail "$1 in tsn-$2 exited"
        sleep 0.2
    done
    fail "$1 in tsn-$2 not healthy after $3 s: $(cat "$T/health")
(if the namespaces cannot reach each other: with net.bridge.bridge-nf-call-iptables=1, a host
firewall that drops forwarded packets, such as Docker's, drops the bridge's traffic too)"
}

# json FILE EXPR: a Python expression over the JSON object in FILE (d)
json () {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

expect () {         # expect WHAT FILE EXPR WANT
    local got
    got=$(json "$2" "$3") || fail "$1: cannot read $2: $(cat "$2")"
    [ "$got" = "$4" ] || fail "$1: $3 is '$got', expected '$4' in $(cat "$2")"
}

# the api's client (Python, Debian's zmq and msgpack): count, get, list,
# stats and health, checked against the import
cat >"$T/client.py" <<'EOF'
import json, sys
import msgpack, zmq

endpoint, imported, first_id, dump = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.RCVTIMEO, 15000)
sock.connect(endpoint)

def ask(**req):
    req["v"] = 1
    sock.send(msgpack.packb(req))
    reply = msgpack.unpackb(sock.recv(), raw=False)
    assert reply.get("ok") is True, (req, reply)
    return reply

r = ask(op="count")
assert r["count"] == imported, ("count", r["count"], "imported", imported)
print("count", r["count"])

r = ask(op="get", id=first_id)
with open(dump, encoding="utf-8") as f:
    original = json.loads(f.readline())
assert r["record"] == original, ("get", first_id, "does not give back the first line")
assert r["summary"]["id"] == first_id, r["summary"]
print("get", first_id, "ok")

r = ask(op="list", limit=5, sort="-reward")
assert r["count"] == 5 and len(r["items"]) == 5, r
ids = [i["id"] for i in r["items"]]
rewards = [i["reward"] for i in r["items"]]
assert rewards == sorted(rewards, reverse=True), rewards
g = ask(op="get", id=ids[0])
assert g["summary"]["id"] == ids[0], g["summary"]
print("list + get", ids[0], "ok")

r = ask(op="stats")
assert r["totals"]["records"] == imported, ("stats", r["totals"]["records"], imported)
assert len(r["totals"]["histogram"]) == 22, r["totals"]
assert sum(t["records"] for t in r["models"].values()) == imported, r["models"]
print("stats records", r["totals"]["records"], "groups", r["groups"])

r = ask(op="health")
assert "api" in r and r["api"]["requests_served"] >= 4, r
print("health ok")
EOF

# client WHEN: the Python client in tsn-prod, against the api's address
client () {
    ip netns exec tsn-prod "$PY" "$T/client.py" "tcp://${IP[api]}:7400" "$IMPORTED" "$FIRST_ID" \
        "$D/dump.jsonl" >"$T/client" 2>&1 || { cat "$T/client"; fail "the Python client failed $1"; }
    sed 's/^/    /' "$T/client"
}

AGG_QUERY="tcp://${IP[agg]}:7102"

# wait_workers N: until the aggregator, asked from tsn-prod, shows N live
# workers owning every shard, each at least one; its status in T/st
wait_workers () {
    local i
    for ((i = 0; i < 100; i++)); do
        in_host prod env -i PATH="$PATHV" "${SAN_ENV[@]}" TRAJSTORE_QUERY="$AGG_QUERY" \
            TRAJSTORE_DATA="$D" trajstore status --json >"$T/st" 2>"$T/err"
        [ "$(json "$T/st" '(d["workers_alive"], d["shards_assigned"] == d["nshards"],
             all(len(w["shards"]) > 0 for w in d["aggregator"]["workers"] if w["alive"]))' \
             2>/dev/null)" = "($1, True, True)" ] && return 0
        sleep 0.2
    done
    fail "the aggregator does not show $1 live workers owning every shard: $(cat "$T/st" "$T/err")"
}

# live_peers: the live workers' (name, peer), from T/st
live_peers () {
    json "$T/st" 'sorted((w["name"], w["peer"]) for w in d["aggregator"]["workers"] if w["alive"])'
}

# stop SERVICE HOST: SIGTERM, as docker stop sends it; it must exit 0
# within the service's stop_grace_period
stop () {
    local svc=$1 h=$2 pid=${PID_OF[$2]} grace i rc
    grace=$(cat "$T/svc/$svc.grace")
    kill -TERM "$pid" || fail "$svc in tsn-$h is not running"
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "$svc in tsn-$h still runs ${grace} s (stop_grace_period) after SIGTERM"
    wait "$pid"
    rc=$?
    [ $rc -eq 0 ] || fail "$svc in tsn-$h exited $rc on SIGTERM"
    echo "    $svc in tsn-$h: exit 0 after SIGTERM"
}

# --- the stack -------------------------------------------------------------------

step "aggregator in tsn-agg"
start aggregator agg
wait_healthy aggregator agg 20

step "workers in tsn-w1, tsn-w2 (worker-entrypoint.sh)"
start worker w1
start worker w2
wait_healthy worker w1 20
wait_healthy worker w2 20

step "api in tsn-api"
start api api
wait_healthy api api 20

step "status, asked from tsn-prod: the workers under their names and advertised endpoints"
wait_workers 2
[ "$(live_peers)" = "[('${IP[w1]}', 'tcp://${IP[w1]}:7200'), ('${IP[w2]}', 'tcp://${IP[w2]}:7200')]" ] \
    || fail "live workers: $(live_peers)"

step "import 5,000 generated records with the producer in tsn-prod"
"$BUILD/tools/trajstore-gen" --records 5000 --out "$D/dump.jsonl" || fail "trajstore-gen exited $?"
# `docker compose run --rm producer --json --quiet /data/dump.jsonl`
svc_env producer
mapfile -d '' ENTRY <"$T/svc/producer.entry"
[ ${#ENTRY[@]} -gt 0 ] || fail "the producer service has no entrypoint: run's arguments would be its command"
in_host prod setpriv --pdeathsig TERM env -i PATH="$PATHV" "${SAN_ENV[@]}" "${ENV[@]}" \
    "${ENTRY[@]}" --json --quiet "$D/dump.jsonl" >"$T/rep" 2>"$T/log/producer-prod.log"
rc=$?
cat "$T/rep"
[ $rc -eq 0 ] || fail "the producer exited $rc: $(cat "$T/rep")"
expect "import" "$T/rep" 'd["lines"]' 5000
expect "import" "$T/rep" 'd["imported"] + d["duplicates"] + d["rejected"] + d["blank"] == d["lines"]' True
expect "import" "$T/rep" 'd["imported"] > 0' True
IMPORTED=$(json "$T/rep" 'd["imported"]')
FIRST_ID=$(head -n 1 "$D/dump.jsonl" | "$PY" -c 'import json, sys; print(json.loads(sys.stdin.readline())["id"])')

step "the api at tcp://${IP[api]}:7400, from a Python client in tsn-prod"
client "after the import"

step "health checks after the import"
wait_healthy aggregator agg 5
wait_healthy worker w1 5
wait_healthy worker w2 5
wait_healthy api api 5

step "scale up: a third worker in tsn-w3 takes shards"
start worker w3
wait_healthy worker w3 20
wait_workers 3
client "with three workers"

step "scale down: SIGTERM to the third worker, its shards go back"
stop worker w3
wait_workers 2
client "after the third worker left"

step "SIGTERM: api, workers, aggregator (the order of compose down)"
stop api api
stop worker w1
stop worker w2
stop aggregator agg
PIDS=()

echo "e2e_netns: ok"
