# Skycamp's one image: `docker build .` compiles it; the entrypoint is `skycamp` (default `up`,
# the whole platform in one process; Kubernetes runs `serve <service>`, see deploy/k8s).
#
#   build      compiles a stripped release binary (needs crates.io; on a rust:*-bookworm image)
#   host       takes a binary built outside, from dist/skycamp (BINARY=host), for machines that
#              cannot pull the Rust image (scripts/image does this)
#   libs       the binary's shared libraries (glibc, libgcc, zlib), found with ldd, from the same
#              Debian release the binary was built on
#   runtime    FROM scratch: the binary, its libraries, a passwd entry and /data; nothing else
#              (no shell, no package manager), runs as uid 65532 with a read-only root filesystem
ARG BINARY=build
ARG RUST_IMAGE=rust:1.94-slim-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# librdkafka is built from source by rdkafka-sys (make, a C and C++ compiler, perl for its configure);
# the web sites' htmx comes from the npm registry at build time (crates/web/build.rs runs npm ci).
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make perl zlib1g-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p skycamp \
 && mkdir -p /out \
 && strip -o /out/skycamp target/release/skycamp

FROM scratch AS host
COPY dist/skycamp /out/skycamp

FROM ${BINARY} AS binary

FROM ${BASE_IMAGE} AS libs
COPY --from=binary /out/skycamp /usr/local/bin/skycamp
# Exactly the libraries the binary loads, at their own paths, and the one user it runs as.
RUN set -eu; \
    mkdir -p /rootfs/etc /rootfs/data /rootfs/tmp; \
    for lib in $(ldd /usr/local/bin/skycamp | grep -o '/[^ ]*'); do cp --parents -L "$lib" /rootfs/; done; \
    echo 'skycamp:x:65532:65532:skycamp:/data:/nonexistent' > /rootfs/etc/passwd; \
    echo 'skycamp:x:65532:' > /rootfs/etc/group; \
    chown 65532:65532 /rootfs/data; \
    chmod 1777 /rootfs/tmp

FROM scratch AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="skycamp" \
      org.opencontainers.image.description="Flight and campsite reservations as event-driven microservices" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://github.com/skycamp/skycamp"
COPY --from=libs /rootfs/ /
COPY --from=binary /out/skycamp /usr/local/bin/skycamp
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# Listen on every interface inside the container; data (SQLite files, the event log) in /data.
ENV SKYCAMP_BIND=0.0.0.0 \
    SKYCAMP_DATA_DIR=/data
# The gateway is 8080; the services 8081-8088 (`skycamp serve` listens on its own).
EXPOSE 8080-8088
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/skycamp"]
CMD ["up"]
