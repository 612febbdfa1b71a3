#!/bin/sh
# trajstore-worker-entrypoint: starts a worker in a container, where every
# replica of a scaled service (`docker compose up --scale worker=N`) must
# have a name of its own and an endpoint its peers and the api can reach.
#
# The container's hostname gives both (it is unique per replica, and the
# network's DNS resolves it): unless the environment already sets them,
#   TRAJSTORE_WORKER_NAME    = the hostname
#   TRAJSTORE_PEER_BIND      = tcp://*:PORT
#   TRAJSTORE_PEER_ADVERTISE = tcp://<hostname>:PORT
# with PORT from $TRAJSTORE_PEER_PORT (default 7200). Arguments are passed
# to trajstore-worker; exec keeps the worker as the process that receives
# SIGTERM on `docker stop`.
set -eu

host=$(uname -n)
port=${TRAJSTORE_PEER_PORT:-7200}
: "${TRAJSTORE_WORKER_NAME:=$host}"
: "${TRAJSTORE_PEER_BIND:=tcp://*:$port}"
: "${TRAJSTORE_PEER_ADVERTISE:=tcp://$host:$port}"
export TRAJSTORE_WORKER_NAME TRAJSTORE_PEER_BIND TRAJSTORE_PEER_ADVERTISE

exec trajstore-worker "$@"
