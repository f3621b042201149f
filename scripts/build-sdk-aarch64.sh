#!/usr/bin/env bash
# Cross-compiles the client SDK (libcohort_client.so) for aarch64, the CPU of phones, and runs its
# C participation test under qemu-aarch64: three aarch64 devices through the C ABI in one
# secure-aggregation round against a server built for this machine, on loopback. Then prints the
# library's stripped size and the shared libraries it needs. scripts/test.sh runs it as the
# "aarch64" build; needs the packages of scripts/install-deps.sh.
#
#   bash scripts/build-sdk-aarch64.sh                 # host server from build/release
#   COHORT_HOST_BUILD=build/dev bash scripts/build-sdk-aarch64.sh
#
# Only the two targets are built (SDK-only configuration, no debug info), into build/aarch64,
# with gRPC, OpenSSL, c-ares and zlib linked into the library (cmake/CohortStaticGrpc.cmake).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/build/aarch64"
host=${COHORT_HOST_BUILD:-"$root/build/release"}
[[ "$host" == /* ]] || host="$root/$host"
triplet=aarch64-linux-gnu
start=$SECONDS

# XNNPACK, pthreadpool and cpuinfo: their arm64 packages cannot be installed next to the amd64
# ones the host build uses, so their .debs are fetched (no root needed) and unpacked here.
sysroot="$dir/sysroot"
debs=(libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo-dev libcpuinfo0)
stamp="$sysroot/.debs"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${debs[*]}" ]]; then
  echo "== aarch64: unpacking ${debs[*]} (arm64) into $sysroot"
  rm -rf "$sysroot" "$dir/debs"
  mkdir -p "$sysroot" "$dir/debs"
  # As root, apt would hand the download to its _apt user, who cannot write to this tree.
  apt_opts=()
  ((EUID != 0)) || apt_opts=(-o APT::Sandbox::User=root)
  (cd "$dir/debs" && apt-get download -qq "${apt_opts[@]}" "${debs[@]/%/:arm64}")
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  rm -rf "$dir/debs"
  echo "${debs[*]}" >"$stamp"
fi

# The test's server runs natively: the host build's client_sdk_test_server, built if missing
# (only that target, configured like scripts/test.sh's release build).
server="$host/tests/client_sdk/client_sdk_test_server"
if [[ ! -x "$server" ]]; then
  echo "== aarch64: building the host's client_sdk_test_server in $host"
  [[ -f "$host/CMakeCache.txt" ]] || cmake -S "$root" -B "$host" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
  cmake --build "$host" --target client_sdk_test_server
fi

echo "== aarch64 build ($dir)"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/cmake/$triplet.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DCOHORT_SDK_ONLY=ON \
  -DCOHORT_SDK_STATIC_GRPC=ON -DCOHORT_AARCH64_SYSROOT="$sysroot" -DCOHORT_TEST_SERVER="$server" \
  >/dev/null
cmake --build "$dir" --target cohort_client_shared c_api_participation_test
built=$SECONDS

# ctest runs the aarch64 test binary through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR). The
# aarch64 loader and glibc are the multiarch ones (/lib/ld-linux-aarch64.so.1); the unpacked
# libraries are found through the build tree's RUNPATH.
ctest --test-dir "$dir" --output-on-failure --no-tests=error -V -R c_api_participation
tested=$SECONDS

# Sizes: the stripped library, and each shared library it needs (transitively) as installed for
# arm64 here, apart from the C library (glibc here, bionic on Android), which every device has.
lib="$dir/client_sdk/src/libcohort_client.so"
"$triplet-strip" -o "$dir/libcohort_client.stripped.so" "$lib"
echo "aarch64: libcohort_client.so $(stat -c %s "$lib") bytes, stripped" \
  "$(stat -c %s "$dir/libcohort_client.stripped.so") bytes"
declare -A seen=()
queue=("$lib")
count=0
total=0
while ((${#queue[@]})); do
  file=${queue[0]}
  queue=("${queue[@]:1}")
  for needed in $("$triplet-readelf" -dW "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ -n "${seen[$needed]:-}" ]] && continue
    seen[$needed]=1
    case "$needed" in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux-*) continue ;; esac
    found=""
    for libdir in "$sysroot/usr/lib/$triplet" "/usr/lib/$triplet" "/lib/$triplet"; do
      if [[ -e "$libdir/$needed" ]]; then found=$(readlink -f "$libdir/$needed"); break; fi
    done
    [[ -n "$found" ]] || { echo "aarch64: $needed not found" >&2; exit 1; }
    queue+=("$found")
    "$triplet-strip" -o "$dir/needed.stripped" "$found"
    size=$(stat -c %s "$dir/needed.stripped")
    count=$((count + 1))
    total=$((total + size))
    printf '  needs %-50s %9d bytes stripped\n' "$needed" "$size"
  done
done
rm -f "$dir/needed.stripped"
echo "aarch64: needs $count shared libraries besides the C library," \
  "${total} bytes stripped"
echo "aarch64: build $((built - start))s, qemu test $((tested - built))s"
