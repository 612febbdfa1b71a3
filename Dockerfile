# trajstore image: every program in /usr/local/bin, run as user trajstore,
# data directory /data (a volume). docker-compose.yml runs the aggregator,
# the workers, the api and the producer from this one image.
#
#   docker build -t trajstore .
#
# Stage "build" builds with CMake in Release from Debian 12's packages (the
# list of scripts/deps.sh, without the test, benchmark and CI tools); the
# image is stage "runtime" (Debian 12 slim, the runtime libraries, the user)
# plus the programs. With podman, `podman build --format docker`: its default
# OCI format drops HEALTHCHECK.

# Stage "runtime": the base with the shared libraries and the user, nothing
# of the sources (so it stays cached while they change).
FROM debian:bookworm-slim AS runtime

ARG DEBIAN_FRONTEND=noninteractive
# the shared libraries the programs link (ldd), by their Debian 12 names
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libzmq5 libczmq4 libkyotocabinet16v5 libmsgpackc2 libsimdjson14 \
        libxxhash0 libzstd1 zlib1g libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/*

# a fixed uid/gid, so that a volume keeps one owner across rebuilds
RUN groupadd --gid 10001 trajstore \
 && useradd --uid 10001 --gid trajstore --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin trajstore \
 && mkdir -p /data \
 && chown trajstore:trajstore /data


# Stage "build": the programs, compiled from the sources.
FROM debian:bookworm-slim AS build

ARG DEBIAN_FRONTEND=noninteractive
# libcmocka-dev: CMakeLists.txt requires it at configure time (unit tests)
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config g++ \
        libzmq3-dev libczmq-dev libkyotocabinet-dev libmsgpack-dev libsimdjson-dev \
        libxxhash-dev libzstd-dev zlib1g-dev libcmocka-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# .dockerignore keeps build trees, data, tests and benchmarks out
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build -j "$(nproc)" \
 && DESTDIR=/out cmake --install /build --strip \
 && install -m 0755 docker/worker-entrypoint.sh /out/usr/local/bin/trajstore-worker-entrypoint \
 && install -m 0755 docker/healthcheck.sh /out/usr/local/bin/trajstore-healthcheck \
 && ls -l /out/usr/local/bin


FROM runtime

COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# the web viewer's files (trajstore-http finds them at bin/../share/trajstore)
COPY --from=build /out/usr/local/share/trajstore/static/ /usr/local/share/trajstore/static/

# a new named volume is created from the image's /data: owned by trajstore
VOLUME ["/data"]
WORKDIR /data
ENV TRAJSTORE_DATA=/data
USER trajstore:trajstore

# ingest, control, query (aggregator); peers (workers); api; HTTP gateway
EXPOSE 7100 7101 7102 7200 7400 7480

# every long-running program stops cleanly on SIGTERM (docker stop)
STOPSIGNAL SIGTERM
# the check follows the program running as PID 1 (see docker/healthcheck.sh);
# docker-compose.yml names each service's role
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["trajstore-healthcheck"]

# a service says which program it runs (docker-compose.yml); alone, the
# image prints the CLI's usage
CMD ["trajstore", "help"]
