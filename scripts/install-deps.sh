#!/usr/bin/env bash
# Installs the Debian 12 packages Cohort needs that are missing; does nothing when all are present.
# Idempotent; runs apt-get as root directly or through sudo.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries (see README "Dependencies")
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libeigen3-dev libpq-dev libspdlog-dev zlib1g-dev
  prometheus-cpp-dev libcli11-dev
  # models: ONNX protos and CMake config for import and export
  libonnx-dev
  # the SDK's inference engine (client_sdk/inference)
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  # tests and benchmarks
  catch2 libbenchmark-dev postgresql openssl binutils
  # fuzzers (libFuzzer ships with clang's runtime)
  clang libclang-rt-14-dev
  # the main job's data
  dataset-fashion-mnist
  # the Kubernetes manifests' check (scripts/check-k8s.py)
  python3-yaml
  # the Kotlin wrapper's JVM tests (client_sdk/bindings/android/src/test): JDK with jni.h,
  # Debian's Kotlin compiler and coroutines (atomicfu is a runtime dependency Debian omits)
  openjdk-17-jdk-headless kotlin libkotlinx-coroutines-java libkotlinx-atomicfu-java
  # the SDK for aarch64 (scripts/build-sdk-aarch64.sh): cross toolchain, qemu for its test, and
  # the arm64 builds of its libraries next to the amd64 ones (multiarch). XNNPACK, pthreadpool
  # and cpuinfo cannot be co-installed; the script unpacks their arm64 .debs into its build tree.
  g++-aarch64-linux-gnu qemu-user
  libgrpc++-dev:arm64 libprotobuf-dev:arm64 libabsl-dev:arm64 libssl-dev:arm64
  libspdlog-dev:arm64 zlib1g-dev:arm64
)
# `kubectl kustomize` renders the overlays. Any kubectl will do: Debian's kubernetes-client only
# when none is installed (another package, e.g. a cloud SDK's kubectl, may own /usr/bin/kubectl).
command -v kubectl >/dev/null || packages+=(kubernetes-client)

# A name without ":arch" is the native package (or an Architecture: all one); dpkg-query lists
# every architecture's instance of it, so only that one's status counts.
native=$(dpkg --print-architecture)
installed() {
  local arch=$native status
  [[ "$1" != *:* ]] || arch=${1##*:}
  status=$(dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null || true)
  grep -qE "^install ok installed ($arch|all)\$" <<<"$status"
}
missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
# The :arm64 packages need dpkg to know the architecture (and apt its package lists, below).
if ! grep -qx arm64 <<<"$(dpkg --print-foreign-architectures)"; then
  "${sudo[@]}" dpkg --add-architecture arm64
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
