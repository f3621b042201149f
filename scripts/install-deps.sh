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
)
# `kubectl kustomize` renders the overlays. Any kubectl will do: Debian's kubernetes-client only
# when none is installed (another package, e.g. a cloud SDK's kubectl, may own /usr/bin/kubectl).
command -v kubectl >/dev/null || packages+=(kubernetes-client)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
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
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
