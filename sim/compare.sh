#!/usr/bin/env bash
# Runs the comparison of docs/benchmarks.md ("Simulation (cohort-sim)") in one go, one run after
# the other on the same machine, same seed: SecAgg+ with 8-bit quantization (the default), plain
# float32 FedAvg, and SecAgg+ 8-bit with 20% dropout. Prints a Markdown table.
#
#   sim/compare.sh [path/to/cohort-sim] [extra cohort-sim flags...]
#
# Results stay in out/compare/{secagg8,float32,dropout20}/.
set -euo pipefail

SIM=${1:-build/release/sim/cohort-sim}
shift || true
OUT=${COMPARE_OUT:-out/compare}

run() {
  local name=$1
  shift
  echo "== $name: $SIM $* $EXTRA" >&2
  # shellcheck disable=SC2086
  "$SIM" --quiet --output_dir="$OUT/$name" "$@" $EXTRA >&2
}

EXTRA="$*"
run secagg8
run float32 --no-secagg --float32
run dropout20 --dropout=0.2

# Columns of metrics.csv: 1 round, 2 committed, 7 test_accuracy, 12 up/device, 13 down/device,
# 14 round_seconds.
summary() {
  awk -F, 'NR > 1 && $2 == 1 { n++; acc = $7; up += $12; down += $13; t += $14; surv += $5; coh += $4 }
           NR > 1 && $2 == 0 { failed++ }
           END { printf "%.2f %.0f %.0f %.2f %d %d %.1f %.1f\n", 100 * acc, up / n, down / n, t / n, n, failed, coh / n, surv / n }' \
    "$OUT/$1/metrics.csv"
}

read -r f_acc f_up f_down f_t f_n f_fail f_coh f_surv < <(summary float32)
echo
echo "| Run | Final test accuracy | Rounds committed / failed | Mean cohort / survivors | Bytes up per device per round | Bytes down per device per round | Mean round time | Round time vs float32 |"
echo "|---|---|---|---|---|---|---|---|"
for name in secagg8 float32 dropout20; do
  read -r acc up down t n fail coh surv < <(summary "$name")
  label=$name
  case $name in
    secagg8) label="SecAgg+, 8-bit" ;;
    float32) label="Plain float32 FedAvg" ;;
    dropout20) label="SecAgg+, 8-bit, 20% dropout" ;;
  esac
  awk -v l="$label" -v acc="$acc" -v up="$up" -v down="$down" -v t="$t" -v ft="$f_t" -v n="$n" \
      -v fail="${fail:-0}" -v coh="$coh" -v surv="$surv" 'BEGIN {
    printf "| %s | %.2f%% | %d / %d | %.1f / %.1f | %.1f KiB | %.1f KiB | %.2f s | %.2fx |\n",
      l, acc, n, fail, coh, surv, up / 1024, down / 1024, t, t / ft }'
done
