#!/usr/bin/env bash
# README command two: installs what is missing, then builds and runs every test twice, a
# release build and an AddressSanitizer + UndefinedBehaviorSanitizer build, cross-compiles the
# client SDK for aarch64 and runs its C participation test under qemu against the release
# build's server (scripts/build-sdk-aarch64.sh), and runs every libFuzzer target (clang,
# ASan + UBSan) for a bounded time on a scratch copy of its seeds.
#
#   bash scripts/test.sh            # all four
#   COHORT_TEST_BUILDS=release bash scripts/test.sh   # any of: release, aarch64, asan, fuzz
#   COHORT_FUZZ_SECONDS=300 COHORT_FUZZ_RUNS=-1 COHORT_TEST_BUILDS=fuzz bash scripts/test.sh   # longer
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"

builds=${COHORT_TEST_BUILDS:-"release aarch64 asan fuzz"}
jobs=$(nproc)
# The aarch64 test's server is the release build's client_sdk_test_server: on CI the release
# tree stays until the aarch64 build has used it (right after, in the default order).
release_done=false
aarch64_done=false

run_build() {
  local name=$1; shift
  local dir="$root/build/$name"
  echo "== $name build ($dir)"
  # Line tables only (-g1): enough for sanitizer and crash backtraces with file:line, and a
  # fraction of the disk and compile time of full debug info (a full -g ASan tree filled a CI disk).
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    "$@" >/dev/null
  cmake --build "$dir"
  # Tests that bind ports or time real deadlines are marked RUN_SERIAL; the rest run in parallel.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs"
  # On CI nothing reads a passed build again: free its disk before the next one is built.
  if [[ "${CI:-}" == true &&
        ! ("$name" == release && " $builds " == *" aarch64 "* && "$aarch64_done" == false) ]]; then
    rm -rf "$dir"
  fi
}

run_aarch64() {
  # Builds the host server into build/release itself when that tree has none (configured as
  # run_build does, so a later release build reuses it).
  COHORT_HOST_BUILD="$root/build/release" bash "$root/scripts/build-sdk-aarch64.sh"
  if [[ "${CI:-}" == true ]]; then
    rm -rf "$root/build/aarch64"
    if [[ "$release_done" == true ]]; then rm -rf "$root/build/release"; fi
  fi
}

run_fuzzers() {
  local dir="$root/build/fuzz"
  local seconds=${COHORT_FUZZ_SECONDS:-10}
  echo "== fuzz build ($dir), ${seconds}s per target"
  local runs=${COHORT_FUZZ_RUNS:-500000}
  # A fixed seed makes a CI failure reproducible and a pass repeatable; exploration with other
  # seeds is a longer run (COHORT_FUZZ_SEED=0 lets libFuzzer pick one).
  local seed=${COHORT_FUZZ_SEED:-1}
  # -O1 and line tables only: what libFuzzer's docs use, and half the compile time of -O2 -g.
  # Only the fuzzers and the libraries they link are built (not `all`: no tests, no tools).
  CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only" \
    -DCOHORT_BUILD_FUZZERS=ON -DCOHORT_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$dir" -j "$jobs" --target cohort_fuzzers
  mkdir -p "$dir/artifacts"
  for seeds in "$root"/fuzz/corpus/*/; do
    local name log scratch
    name=$(basename "$seeds")
    log="$dir/artifacts/$name.log"
    # New inputs go to the scratch dir (the first one), so the committed seeds stay as they are.
    scratch=$(mktemp -d)
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$dir/fuzz/${name}_fuzzer" -max_total_time="$seconds" -runs="$runs" -seed="$seed" -timeout=60 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" "$scratch" "$seeds" \
        >"$log" 2>&1; then
      echo "fuzz $name: no failure; $(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)"
      rm -rf "$scratch"
    else
      cat "$log"
      echo "fuzz $name: FAILED; the input is in $dir/artifacts/, the log in $log" >&2
      exit 1
    fi
  done
  if [[ "${CI:-}" == true ]]; then rm -rf "$dir"; fi
}

for build in $builds; do
  case "$build" in
    release) run_build release; release_done=true ;;
    aarch64) run_aarch64; aarch64_done=true ;;
    asan) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
            run_build asan -DCOHORT_SANITIZE=ON -DCOHORT_BUILD_BENCHMARKS=OFF ;;
    fuzz) run_fuzzers ;;
    *) echo "unknown build '$build': expected release, aarch64, asan or fuzz" >&2; exit 2 ;;
  esac
done
