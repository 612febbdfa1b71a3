#!/bin/sh
# Builds a minimal Debian 12 (bookworm) root filesystem once and keeps it.
#
#   sh scripts/base-image.sh            the podman image localhost/debian:bookworm-slim
#                                       (what the Dockerfile starts FROM), imported from
#                                       the root filesystem below; skipped when present
#   sh scripts/base-image.sh --rootfs   only the root filesystem, as a tarball; prints
#                                       its path (the package test unpacks it as a chroot)
#
# Why: no image registry is reachable here, only Debian's package archive, so the
# base image is made with debootstrap (--variant=minbase, about 45 s) from the same
# mirror apt uses. Docker users on the internet are unaffected: `FROM
# debian:bookworm-slim` resolves from Docker Hub there, and from this local image
# here. The tarball is cached in $TRAJSTORE_CACHE (default ~/.cache/trajstore) and
# reused by every later run; delete it to rebuild.
set -eu

IMAGE=${TRAJSTORE_BASE_IMAGE:-localhost/debian:bookworm-slim}
CACHE=${TRAJSTORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trajstore}
# The version of what build_rootfs makes: a cached tarball or an imported image of
# another version is rebuilt (2: apt keeps no caches, as in the official image).
VERSION=2
TARBALL="$CACHE/bookworm-minbase-v$VERSION.tar"
MIRROR=${TRAJSTORE_MIRROR:-}

mode=image
case "${1:-}" in
    --rootfs) mode=rootfs ;;
    "") ;;
    *) echo "usage: sh scripts/base-image.sh [--rootfs]" >&2; exit 2 ;;
esac

# The mirror apt is configured with (deb822 or one-line sources), else Debian's.
if [ -z "$MIRROR" ]; then
    MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
             | grep -v security | head -n 1)
    [ -n "$MIRROR" ] || MIRROR=$(grep -hs '^deb ' /etc/apt/sources.list \
             | awk '{print $2}' | grep -v security | head -n 1)
    [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi

build_rootfs() {
    [ -s "$TARBALL" ] && return 0
    command -v debootstrap >/dev/null 2>&1 || {
        echo "base-image: debootstrap is missing (sh scripts/deps.sh installs it)" >&2
        exit 1
    }
    mkdir -p "$CACHE"
    dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    echo "base-image: debootstrap --variant=minbase bookworm from $MIRROR" >&2
    if ! debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        echo "base-image: debootstrap failed; its log: $CACHE/debootstrap.log" >&2
        tail -n 20 "$CACHE/debootstrap.log" >&2
        exit 1
    fi
    # What debian:bookworm-slim leaves out: the downloaded packages, apt's lists
    # and caches, documentation, man pages and translations (and, like it, a
    # dpkg rule that keeps later installs from adding them back).
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
           "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* "$dir"/usr/share/man/* \
           "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
    cat > "$dir"/etc/dpkg/dpkg.cfg.d/docker-slim <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
    # ...and, like it, apt rules that delete the downloaded packages and the
    # package caches (/var/cache/apt/*.bin, about 90 MB after an `apt-get
    # update`) after every run, so that an image layer that installs something
    # keeps only what was installed.
    cat > "$dir"/etc/apt/apt.conf.d/docker-clean <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    echo 'Acquire::Languages "none";' > "$dir"/etc/apt/apt.conf.d/docker-no-languages
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        > "$dir"/etc/apt/apt.conf.d/docker-autoremove-suggests
    tar -C "$dir" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$dir"
    trap - EXIT
}

build_rootfs
if [ "$mode" = rootfs ]; then
    echo "$TARBALL"
    exit 0
fi

command -v podman >/dev/null 2>&1 || {
    echo "base-image: podman is missing (sh scripts/deps.sh installs it)" >&2
    exit 1
}
# present and made from this version's root filesystem: nothing to do
old=$(podman image inspect --format '{{.Id}} {{index .Config.Labels "trajstore.base-image"}}' \
      "$IMAGE" 2>/dev/null || true)
if [ "${old#* }" = "$VERSION" ]; then
    exit 0
fi
podman import --change 'CMD ["/bin/bash"]' --change "LABEL trajstore.base-image=$VERSION" \
    "$TARBALL" "$IMAGE" >/dev/null
echo "base-image: imported $IMAGE (version $VERSION)" >&2
# the image of an older version, now untagged: removed unless something uses it
if [ -n "$old" ]; then
    podman rmi "${old%% *}" >/dev/null 2>&1 || true
fi
