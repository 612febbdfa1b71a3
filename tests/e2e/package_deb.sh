#!/bin/bash
# package_deb.sh BUILD_DIR SOURCE_DIR: the Debian package (issue #17), built
# by CPack from this build, checked by lintian (no errors), then installed
# into a Debian 12 chroot (scripts/base-image.sh --rootfs, unpacked into a
# temporary directory; the dependencies come from Debian's archive with apt):
# the files are in place, `trajstore --version` runs, the supervisor runs in
# the foreground as trajstore.service runs it (its user, umask, environment
# and ExecStart, read from the unit), a dump is imported and queried (also
# by a member of the trajstore group), and `dpkg -r` keeps the data and the
# settings while `dpkg -P` removes them.
#
# Exit 77 (CTest: skipped, with the reason) when it cannot run here: not
# root, no debootstrap root filesystem, no unshare, or Debian's archive is
# out of reach. The chroot lives in its own mount and pid namespaces, so its
# mounts and processes end with it even on failure; the trap removes it.
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (chroot, mounts, dpkg inside the chroot)"
for tool in cpack dpkg-deb lintian unshare chroot; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (sh scripts/deps.sh)"
done
unshare --mount --pid --fork true 2>/dev/null || skip "unshare cannot make mount and pid namespaces here"
TARBALL=$(sh "$SRC/scripts/base-image.sh" --rootfs) || skip "no Debian 12 root filesystem (scripts/base-image.sh --rootfs failed)"

TMP=$(mktemp -d /var/tmp/ts-pkg.XXXXXX)
cleanup() {
    # the namespace took its mounts along; never delete through one that stayed
    if grep -q " $TMP/" /proc/self/mounts; then
        grep " $TMP/" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l
    fi
    rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
CACHE=${TRAJSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trajstore}/package-test
mkdir -p "$CACHE/lists/partial" "$CACHE/archives/partial"

# --- the package, and lintian ---------------------------------------------------
cpack -G DEB -B "$TMP/pkg" --config "$BUILD/CPackConfig.cmake" >"$TMP/cpack.log" 2>&1 \
    || { cat "$TMP/cpack.log"; echo "FAIL: cpack"; exit 1; }
DEB=$(ls "$TMP"/pkg/trajstore_*.deb)
echo "package: $(basename "$DEB"); $(dpkg-deb -f "$DEB" Depends) (${SECONDS}s)"
lintian --fail-on error --suppress-tags binary-has-unneeded-section "$DEB" 2>/dev/null >"$TMP/lintian.log"
rc=$?
cat "$TMP/lintian.log"
[ $rc = 0 ] || { echo "FAIL: lintian found errors"; exit 1; }
echo "lintian: no errors (${SECONDS}s)"

# --- the chroot -------------------------------------------------------------------
ROOT=$TMP/root
mkdir "$ROOT" && tar -xf "$TARBALL" -C "$ROOT" || { echo "FAIL: cannot unpack $TARBALL"; exit 1; }
chmod 755 "$ROOT"       # the tarball's top directory was debootstrap's private temp dir
# a server keeps man pages and documentation (the slim image's dpkg rule drops them)
rm -f "$ROOT/etc/dpkg/dpkg.cfg.d/docker-slim"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
cp "$DEB" "$ROOT/tmp/trajstore.deb"
VERSION=$("$BUILD/tools/trajstore" --version | head -n 1)

# phase 1, with the network: the package and its dependencies, by apt
cat > "$ROOT/tmp/install.sh" <<'INSIDE'
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
apt-get update -qq >/tmp/apt.log 2>&1 \
    || { tail -n 5 /tmp/apt.log; echo "SKIPPED: Debian's archive is out of reach (apt-get update failed)"; exit 77; }
apt-get install -y -qq --no-install-recommends /tmp/trajstore.deb >>/tmp/apt.log 2>&1 \
    || { tail -n 30 /tmp/apt.log; echo "FAIL: apt-get install of the package"; exit 1; }
echo "installed with its dependencies from the archive (${SECONDS}s in the chroot)"
INSIDE

# phase 2, in a network namespace of its own (loopback only: whatever the
# stack binds, e.g. the HTTP gateway's default port, cannot meet another
# test's): the checks
cat > "$ROOT/tmp/in-chroot.sh" <<'INSIDE'
set -u
fail=0
bad() { echo "FAIL: $*"; fail=1; }
export LC_ALL=C

# files, user, data directory
for f in /usr/bin/trajstore /usr/bin/trajstore-producer /usr/bin/trajstore-worker \
         /usr/bin/trajstore-aggregator /usr/bin/trajstore-api /usr/bin/trajstore-gen \
         /lib/systemd/system/trajstore.service /etc/default/trajstore \
         /usr/share/man/man1/trajstore.1.gz /usr/share/man/man8/trajstore-aggregator.8.gz \
         /usr/share/bash-completion/completions/trajstore /usr/share/doc/trajstore/copyright; do
    [ -e "$f" ] || bad "$f is not installed"
done
uid=$(getent passwd trajstore | cut -d: -f3)
[ -n "$uid" ] && [ "$uid" -lt 1000 ] || bad "no trajstore system user (uid '$uid')"
[ "$(stat -c '%U:%G %a' /var/lib/trajstore)" = "trajstore:trajstore 750" ] \
    || bad "/var/lib/trajstore is $(stat -c '%U:%G %a' /var/lib/trajstore 2>&1)"
[ "$(trajstore --version | head -n 1)" = "$VERSION" ] \
    || bad "trajstore --version in the chroot: $(trajstore --version 2>&1 | head -n 1), built: $VERSION"

# the supervisor as the unit runs it
unit=/lib/systemd/system/trajstore.service
user=$(sed -n 's/^User=//p' $unit)
mask=$(sed -n 's/^UMask=//p' $unit)
envs=$(sed -n 's/^Environment=//p' $unit)
envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' $unit)
exec_start=$(sed -n 's/^ExecStart=//p' $unit)
data=$(sed -n 's/^ReadWritePaths=//p' $unit)
# (setpriv execs: $! is the supervisor itself, as systemd's main pid is)
setpriv --reuid "$user" --regid "$user" --init-groups \
    sh -c "umask $mask; set -a; $envs; . $envfile; set +a; exec $exec_start" \
    >/tmp/supervise.log 2>&1 </dev/null &
sup=$!
ready=0
for i in $(seq 1 100); do
    if runuser -u "$user" -- trajstore health --data "$data" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 $sup 2>/dev/null || break
    sleep 0.3
done
[ $ready = 1 ] || { cat /tmp/supervise.log; bad "the stack did not answer health"; }
workers=$(. "$envfile"; echo "$TRAJSTORE_WORKERS")
n=0       # (minbase has no procps)
for p in /proc/[0-9]*; do
    [ "$(stat -c %U "$p" 2>/dev/null)" = "$user" ] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q '^/usr/bin/trajstore-worker ' && n=$((n + 1))
done
[ "$n" = "$workers" ] || bad "$n workers run as $user, the settings say $workers"

# import and query, as the service's user
runuser -u "$user" -- sh -c "trajstore-gen --records 300 --per-group 5 > /tmp/dump.jsonl"
runuser -u "$user" -- trajstore import --data "$data" --quiet /tmp/dump.jsonl >/tmp/import.log 2>&1 \
    || { cat /tmp/import.log; bad "trajstore import"; }
n=$(runuser -u "$user" -- trajstore count --data "$data")
[ "$n" = 300 ] || bad "trajstore count says '$n', not 300"
runuser -u "$user" -- trajstore stats --data "$data" --json | grep -q '"records": *300' \
    || bad "trajstore stats does not say 300 records"
# a member of the trajstore group reads too (UMask 0007: the sockets are the group's)
useradd -m -G trajstore alice
n=$(runuser -u alice -- trajstore count --data "$data" 2>&1)
[ "$n" = 300 ] || bad "a member of the trajstore group: trajstore count says '$n'"
# ... and imports, with a rejects file of their own (docs/INSTALL.md); from a
# home the service's user cannot read, so the producer sends the lines
runuser -u alice -- sh -c "cd && trajstore-gen --records 40 --seed 7 > more.jsonl \
    && trajstore-producer --data $data --rejects ./rejects.tsv --quiet more.jsonl" >/tmp/alice.log 2>&1 \
    || { cat /tmp/alice.log; bad "a member of the trajstore group cannot import"; }
n=$(runuser -u alice -- trajstore count --data "$data" 2>&1)
[ "$n" = 340 ] || bad "after the group member's import trajstore count says '$n', not 340"

kill -TERM $sup
for i in $(seq 1 100); do kill -0 $sup 2>/dev/null || break; sleep 0.3; done
kill -0 $sup 2>/dev/null && bad "the supervisor did not stop on SIGTERM"
wait $sup; rc=$?
[ $rc = 0 ] || { tail -n 20 /tmp/supervise.log; bad "the supervisor exited $rc on SIGTERM"; }

# remove keeps the data and the settings; purge removes them
dpkg -r trajstore >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; bad "dpkg -r"; }
[ -e /usr/bin/trajstore ] && bad "dpkg -r left /usr/bin/trajstore"
ls /var/lib/trajstore/shards/shard-*.kct >/dev/null 2>&1 || bad "dpkg -r removed the data in /var/lib/trajstore"
[ -f /etc/default/trajstore ] || bad "dpkg -r removed /etc/default/trajstore (a conffile)"
dpkg -P trajstore >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; bad "dpkg -P"; }
[ -e /var/lib/trajstore ] && bad "dpkg -P left /var/lib/trajstore"
[ -e /etc/default/trajstore ] && bad "dpkg -P left /etc/default/trajstore"
dpkg -s trajstore >/dev/null 2>&1 && bad "dpkg -P left the package known to dpkg"
[ $fail = 0 ] && echo "in the chroot: ok"
exit $fail
INSIDE

# Each phase in its own mount and pid namespaces: the mounts go away with
# them, and so do the processes (the first one is init there; --kill-child
# ends it with us). $1: more unshare options, $2: the script.
in_chroot() {
    # shellcheck disable=SC2086
    unshare --mount --pid --fork --kill-child $1 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        VERSION="$VERSION" http_proxy="${http_proxy:-}" https_proxy="${https_proxy:-}" \
        sh -c '
        ROOT=$1; CACHE=$2; SCRIPT=$3
        mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" \
            && mount -t tmpfs tmpfs "$ROOT/run" \
            && mount --bind "$CACHE/lists" "$ROOT/var/lib/apt/lists" \
            && mount --bind "$CACHE/archives" "$ROOT/var/cache/apt/archives" || exit 1
        ip link set lo up 2>/dev/null
        exec chroot "$ROOT" /bin/bash "$SCRIPT"' sh "$ROOT" "$CACHE" "$2"
}
# (apt's lists and downloads are shared with other runs of this test: one
# apt at a time on them)
exec 9>"$CACHE/lock"
flock 9
in_chroot "" /tmp/install.sh
rc=$?
flock -u 9
if [ $rc = 0 ]; then
    if unshare --net true 2>/dev/null; then
        in_chroot --net /tmp/in-chroot.sh
    else
        echo "(no network namespace here: the stack runs on the host's loopback)"
        in_chroot "" /tmp/in-chroot.sh
    fi
    rc=$?
fi
case $rc in
    0) echo "package_deb: ok" ;;
    77) ;;
    *) echo "FAIL: the package test in the chroot exited $rc" ;;
esac
exit $rc
