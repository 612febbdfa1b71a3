#!/bin/sh
# trajstore-healthcheck [aggregator|worker|api|supervise]: the container
# health check of the trajstore image (Dockerfile HEALTHCHECK, and the
# healthchecks of docker-compose.yml). Exit 0 healthy, 1 unhealthy, with one
# line saying why (docker inspect shows it).
#
# Without an argument the role is the program running as PID 1.
#   aggregator  answers a status request on its query endpoint
#               ($TRAJSTORE_QUERY, a bind address such as tcp://*:7102 is
#               asked on 127.0.0.1)
#   worker      the aggregator ($TRAJSTORE_QUERY, e.g. tcp://aggregator:7102)
#               lists this worker ($TRAJSTORE_WORKER_NAME, else the hostname,
#               as worker-entrypoint.sh names it) as alive
#   api         its port ($TRAJSTORE_API, default 7400) accepts connections
#   http        GET /v1/health on its port ($TRAJSTORE_HTTP, default 7480)
#               answers 200 (the gateway reaches the api, the api its workers)
#   supervise   `trajstore status` answers (a one-container stack)
# Anything else (the producer, a shell) has nothing to check: healthy.
set -u

fail () {
    echo "unhealthy: $*"
    exit 1
}

# the endpoint to connect to for a bind endpoint (tcp://*:P -> 127.0.0.1:P)
local_endpoint () {
    case "$1" in
        tcp://\*:*)       echo "tcp://127.0.0.1:${1#tcp://\*:}" ;;
        tcp://0.0.0.0:*)  echo "tcp://127.0.0.1:${1#tcp://0.0.0.0:}" ;;
        *)                echo "$1" ;;
    esac
}

# status_json QUERY_ENDPOINT: the aggregator's status, one JSON line
status_json () {
    if [ -n "$1" ]; then
        TRAJSTORE_QUERY=$1 trajstore status --json 2>&1
    else
        trajstore status --json 2>&1
    fi
}

role=${1:-}
if [ -z "$role" ]; then
    prog=$(tr '\0' '\n' </proc/1/cmdline 2>/dev/null | head -n 1)
    case "${prog##*/}" in
        trajstore-aggregator) role=aggregator ;;
        trajstore-worker)     role=worker ;;
        trajstore-api)        role=api ;;
        trajstore-http)       role=http ;;
        trajstore)
            if tr '\0' '\n' </proc/1/cmdline | grep -qx supervise; then role=supervise; fi ;;
    esac
fi

case "$role" in
aggregator|supervise)
    ep=$(local_endpoint "${TRAJSTORE_QUERY:-}")
    out=$(status_json "$ep") || fail "the aggregator does not answer${ep:+ on $ep}: $out"
    echo "healthy: the aggregator answers${ep:+ on $ep}"
    ;;
worker)
    [ -n "${TRAJSTORE_QUERY:-}" ] || fail "TRAJSTORE_QUERY (the aggregator's query endpoint) is not set"
    name=${TRAJSTORE_WORKER_NAME:-$(uname -n)}
    out=$(status_json "$TRAJSTORE_QUERY") \
        || fail "the aggregator does not answer on $TRAJSTORE_QUERY: $out"
    # the aggregator's list of workers, one {"name":...} object a line
    workers=${out#*\"workers\":\[}
    workers=${workers%%\],\"jobs\":*}
    printf '%s\n' "$workers" | sed 's/{"name":/\n&/g' | grep -F "{\"name\":\"$name\"," \
        | grep -qF '"alive":true' || fail "the aggregator does not list worker $name as alive"
    echo "healthy: worker $name is alive"
    ;;
api)
    ep=${TRAJSTORE_API:-tcp://*:7400}
    case "$ep" in
        tcp://*:*) port=${ep##*:} ;;
        *)         fail "the api endpoint $ep is not tcp: nothing to probe" ;;
    esac
    bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null \
        || fail "nothing accepts connections on port $port"
    echo "healthy: the api accepts connections on port $port"
    ;;
http)
    addr=${TRAJSTORE_HTTP:-127.0.0.1:7480}
    port=${addr##*:}
    line=$(bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
                    printf "GET /v1/health HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3
                    IFS= read -r status <&3; printf "%s" "$status"' _ "$port" 2>/dev/null) \
        || fail "nothing accepts connections on port $port"
    case "$line" in
        "HTTP/1."?" 200"*) ;;
        *) fail "GET /v1/health on port $port: ${line:-no answer}" ;;
    esac
    echo "healthy: the HTTP gateway answers /v1/health on port $port"
    ;;
*)
    echo "healthy: nothing to check${role:+ for $role}"
    ;;
esac
exit 0
