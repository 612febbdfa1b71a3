#!/bin/sh
# Installs trajstore's build, test and benchmark dependencies from Debian's
# packages when any is missing. Safe to run again: it does nothing when all
# are present. Needs root (or sudo) only when something must be installed.
# libmicrohttpd-dev: the HTTP gateway's server (http/); chromium and
# python3-websocket: the viewer's test drives headless Chromium over the
# DevTools protocol (tests/e2e/e2e_browser.py).
#
# The container test (tests/e2e/e2e_containers.sh) needs podman with the runc
# runtime (crun, podman's default, refuses cgroups in hybrid mode), netavark
# and aardvark-dns (a network with names), iptables (netavark's firewall
# rules and published ports), podman-compose, and debootstrap (the base
# image, scripts/base-image.sh: no image registry is reachable here).
set -eu

PKGS="build-essential cmake pkg-config g++ clang libclang-rt-14-dev \
libzmq3-dev libczmq-dev libkyotocabinet-dev libmsgpack-dev libsimdjson-dev \
libxxhash-dev libzstd-dev zlib1g-dev libcmocka-dev \
sqlite3 libsqlite3-dev python3 python3-zmq python3-msgpack python3-yaml \
iproute2 docker-compose procps \
libmicrohttpd-dev chromium python3-websocket scdoc lintian \
podman podman-compose runc netavark aardvark-dns iptables debootstrap"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
