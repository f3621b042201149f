#!/bin/bash
# Runs the whole release test suite N times in a row from a fresh clone while a second full
# build of another fresh clone runs beside it (restarted whenever it finishes), and prints each
# run's time and result. Stops at the first failing run. This is how the suite is shown not to
# depend on an idle machine (issue 20).
#
#   bash scripts/suite-under-load.sh [runs=5] [work_dir=$(mktemp -d)]
set -u
runs=${1:-5}
work=${2:-$(mktemp -d)}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
flags=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
       "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$work/summary.txt"; }

git clone -q "$repo" "$work/suite" && git clone -q "$repo" "$work/beside" || exit 1
cmake -S "$work/suite" -B "$work/suite/build" "${flags[@]}" > "$work/configure.log" 2>&1 || exit 1
start=$(date +%s)
ninja -C "$work/suite/build" > "$work/build.log" 2>&1 || { log "build failed"; exit 1; }
log "suite build: $(( $(date +%s) - start )) s"

(
  n=0
  while [ ! -e "$work/done" ]; do
    n=$((n + 1)); rm -rf "$work/beside/build"
    cmake -S "$work/beside" -B "$work/beside/build" "${flags[@]}" > /dev/null 2>&1
    t=$(date +%s); ninja -C "$work/beside/build" > "$work/beside-build.log" 2>&1
    log "beside build $n: rc=$? $(( $(date +%s) - t )) s"
  done
) &
beside=$!
sleep 60  # let the second build get going before the first run

status=0
for i in $(seq 1 "$runs"); do
  t=$(date +%s)
  (cd "$work/suite/build" && ctest -j2 --output-on-failure > "$work/run$i.log" 2>&1)
  rc=$?
  log "run $i: rc=$rc $(( $(date +%s) - t )) s, $(grep -E 'tests passed' "$work/run$i.log")," \
      "load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $rc -ne 0 ]; then status=1; break; fi
done
touch "$work/done"
kill -- "$beside" 2>/dev/null; pkill -f "ninja -C $work/beside/build" 2>/dev/null
wait
echo "logs in $work"
exit $status
