# One image holding every Tasker binary, built from this checkout with
# Debian 12's own toolchain and libraries (docs/deploy.md).
#
#   docker build -t tasker:0.1.0 .
#   docker run --rm tasker:0.1.0 storage-service --help
#
# The build stage reaches only Debian's apt repositories: Bazel is Debian's
# bazel-bootstrap 4.2.3, the C++ libraries are Debian's -dev packages, V8 is
# Debian's libnode108 unpacked as tools/setup does, and Bazel's own rules come
# from the in-tree local repositories (WORKSPACE), so `bazel build` downloads
# nothing. The runtime stage holds only the shared libraries the binaries
# load (tests/deploy/dockerfile_test checks both lists against the binaries'
# NEEDED entries) and runs as the numeric non-root user 65532.
#
# Nothing secret is built in: certificates, tokens, the master key and the
# database URL come from Kubernetes Secrets (deploy/kubernetes) at run time.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ------------------------------------------------------------------ build
FROM ${DEBIAN_IMAGE} AS build

# The -dev packages tools/setup installs for the build (its test-only ones,
# GoogleTest, PostgreSQL and chromium, are not needed to build the binaries).
# libnode108's runtime dependencies are listed because it is unpacked, not
# installed: the linker must find them behind libnode.so.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bazel-bootstrap g++ ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev libpqxx-dev libpq-dev libsqlite3-dev libzstd-dev libssl-dev libcurl4-openssl-dev \
      nlohmann-json3-dev libcpp-httplib-dev prometheus-cpp-dev \
      libuv1 libc-ares2 libicu72 libnghttp2-14 libbrotli1 \
 && rm -rf /var/lib/apt/lists/*

# V8 10.2 from libnode108 + libnode-dev, where WORKSPACE's @libnode expects it.
RUN apt-get update \
 && mkdir -p /tmp/libnode /opt/tasker-libnode \
 && cd /tmp/libnode \
 && apt-get download libnode108 libnode-dev \
 && for deb in ./*.deb; do dpkg-deb -x "$deb" /opt/tasker-libnode; done \
 && test -f /opt/tasker-libnode/usr/lib/x86_64-linux-gnu/libnode.so.108 \
 && test -f /opt/tasker-libnode/usr/include/node/v8.h \
 && rm -rf /tmp/libnode /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# The binaries of the image; each is copied below from its bazel-bin path.
# Local spawns: a container build usually may not create the namespaces
# Bazel's sandbox needs. BAZEL_JOBS: --build-arg for a bigger builder.
ARG BAZEL_JOBS=2
RUN bazel build --jobs="${BAZEL_JOBS}" --spawn_strategy=local \
      //services/storage:storage-service \
      //services/executor:task-executor \
      //runtime/js:tasker-js-worker \
      //services/processor:stack-processor \
      //services/keystore:keystore \
      //services/proxy:wrapped-service-proxy \
      //services/cli:tasker \
 && install -d /out/opt/tasker/bin \
 && install -m 0755 -t /out/opt/tasker/bin \
      bazel-bin/services/storage/storage-service \
      bazel-bin/services/executor/task-executor \
      bazel-bin/runtime/js/tasker-js-worker \
      bazel-bin/services/processor/stack-processor \
      bazel-bin/services/keystore/keystore \
      bazel-bin/services/proxy/wrapped-service-proxy \
      bazel-bin/services/cli/tasker \
 && bazel shutdown

# ------------------------------------------------------------------ runtime
FROM ${DEBIAN_IMAGE} AS runtime

# Only the shared libraries the binaries load (and the CA bundle for the
# proxy's and fetch's outbound HTTPS). libnode108 installs normally here: a
# clean bookworm has no Node.js 20 to conflict with; the binaries' RUNPATH
# (/opt/tasker-libnode, absent here) falls through to the system's copy.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates tzdata \
      libabsl20220623 libgrpc29 libgrpc++1.51 libprotobuf32 \
      libpqxx-6.4 libpq5 libsqlite3-0 libzstd1 libssl3 libcurl4 libcpp-httplib0.11 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libnode108 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 tasker \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/tasker --no-create-home \
      --shell /usr/sbin/nologin tasker \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/tasker

COPY --from=build /out/opt/tasker/bin/ /opt/tasker/bin/

ENV PATH=/opt/tasker/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The default SQLite database (storage-service without a URL) lives in
# /var/lib/tasker: mount a volume there, or give TASKER_DATABASE_URL.
WORKDIR /var/lib/tasker
USER 65532:65532

# Public gRPC, HTTPS API, internal gRPC (storage, executor, keystore, proxy,
# processor), plaintext health, Prometheus metrics: the ports the manifests use.
EXPOSE 50050 8443 50051 50052 50053 50054 50055 8081 9090

# Every binary is on PATH; Kubernetes' `command:` picks one. Without one, the
# image prints the CLI's help.
CMD ["tasker", "--help"]
