#!/usr/bin/env bash
# README command two: installs what is missing, then builds and runs every test twice: a
# release build and an AddressSanitizer + UndefinedBehaviorSanitizer build.
#
#   bash scripts/test.sh            # both builds
#   COHORT_TEST_BUILDS=release bash scripts/test.sh   # one of: release, asan
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"

builds=${COHORT_TEST_BUILDS:-"release asan"}
jobs=$(nproc)

run_build() {
  local name=$1; shift
  local dir="$root/build/$name"
  echo "== $name build ($dir)"
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir"
  # Tests that bind ports or time real deadlines are marked RUN_SERIAL; the rest run in parallel.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs"
}

for build in $builds; do
  case "$build" in
    release) run_build release ;;
    asan) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
            run_build asan -DCOHORT_SANITIZE=ON -DCOHORT_BUILD_BENCHMARKS=OFF ;;
    *) echo "unknown build '$build': expected release or asan" >&2; exit 2 ;;
  esac
done
