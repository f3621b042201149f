#!/usr/bin/env bash
# README command one: installs what is missing, builds cohort-server and cohort-sim, and runs
# the default simulated federation (extra arguments go to cohort-sim; try --help).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
dir="$root/build/release"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" --target cohort-sim cohort-server
exec "$dir/sim/cohort-sim" --output_dir="$root/out/sim" "$@"
