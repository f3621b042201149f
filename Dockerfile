# syntax=docker/dockerfile:1
#
# cohort-server and cohortctl in a container (Debian 12, as everything else in Cohort).
#
#   docker build -t cohort-server .
#   docker run --rm cohort-server migrate --store=postgresql://...
#   docker run -p 8443:8443 -p 8444:8444 -v $PWD/etc:/etc/cohort:ro cohort-server
#
# Build stage: the -dev packages of scripts/install-deps.sh. Runtime stage: bookworm-slim with
# only the shared libraries the two binaries load, running as an unprivileged user.

FROM debian:bookworm AS build
# The model folder reads ONNX files; the SDK folder (configured, not built, for the sources' one
# CMake project) finds XNNPACK. scripts/check-dockerfile.sh (a test) configures these COPYs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libssl-dev libeigen3-dev libpq-dev libspdlog-dev zlib1g-dev \
      prometheus-cpp-dev libcli11-dev libonnx-dev \
      libxnnpack-dev libpthreadpool-dev libcpuinfo-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only, folder by folder: a developer's build/ trees never enter the image, and BuildKit
# sends only these paths of the context.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY base/ base/
COPY cli/ cli/
COPY protos/ protos/
COPY secagg/ secagg/
COPY codec/ codec/
COPY privacy/ privacy/
COPY model/ model/
COPY server/ server/
COPY migrations/ migrations/
COPY client_sdk/ client_sdk/
COPY sim/ sim/
COPY tools/ tools/
COPY testing/ testing/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DCOHORT_BUILD_BENCHMARKS=OFF -DCOHORT_MODEL_ARCH=off \
 && cmake --build /build --target cohort-server cohortctl \
 && install -D -m 0755 -s /build/server/cohort-server /out/usr/local/bin/cohort-server \
 && install -D -m 0755 -s /build/tools/cohortctl /out/usr/local/bin/cohortctl

FROM debian:bookworm-slim
# Runtime libraries of cohort-server and cohortctl (their dependencies, e.g. libgrpc29, libfmt9
# and libcivetweb1, come along). The SQL migrations are compiled into cohort-server.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libssl3 libpq5 libspdlog1.10 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libonnx1 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cohort \
 && useradd --system --uid 10001 --gid cohort --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cohort
COPY --from=build /out/ /
COPY deploy/config/server.textproto /etc/cohort/server.textproto

USER 10001:10001
# Device service, admin service, Prometheus /metrics (as in deploy/config/server.textproto).
EXPOSE 8443 8444 9090

# A TCP-level check of the device port. A gRPC health check needs a gRPC client in the image:
# grpc_health_probe is not packaged in Debian and cohortctl has no health command (and would
# need the admin token and the TLS material). Connecting shows the listener is up whether or not
# TLS is on; Kubernetes uses its native gRPC probes instead (deploy/k8s/base/deployment.yaml).
ENV COHORT_HEALTH_PORT=8443
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${COHORT_HEALTH_PORT}"]

ENTRYPOINT ["/usr/local/bin/cohort-server"]
CMD ["serve", "--config=/etc/cohort/server.textproto"]
