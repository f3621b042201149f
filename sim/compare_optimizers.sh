#!/usr/bin/env bash
# Runs the server-optimizer comparison of docs/benchmarks.md ("Server optimizers"): the default
# federation once per server optimizer, one run after the other, same seed, each with its
# default hyper-parameters. Prints a Markdown table: the first round whose test accuracy reaches
# 80%, the best and the final accuracy, and the mean of the last 10 rounds (the round-to-round
# swing of a small cohort makes the final round alone a noisy measure).
#
# COMPARE_TABLE_ONLY=1 prints the table from the runs already in $COMPARE_OUT.
#
#   sim/compare_optimizers.sh [path/to/cohort-sim] [extra cohort-sim flags...]
#
# Results stay in out/compare_optimizers/<optimizer>/.
set -euo pipefail

SIM=${1:-build/release/sim/cohort-sim}
shift || true
OUT=${COMPARE_OUT:-out/compare_optimizers}
EXTRA="$*"
OPTIMIZERS=${OPTIMIZERS:-"fedavg fedavgm fedadagrad fedadam fedyogi"}

for o in $OPTIMIZERS; do
  [[ ${COMPARE_TABLE_ONLY:-0} == 1 ]] && break
  echo "== $o: $SIM --optimizer=$o $EXTRA" >&2
  # shellcheck disable=SC2086
  "$SIM" --quiet --optimizer="$o" --output_dir="$OUT/$o" $EXTRA >&2
done

# Columns of metrics.csv: 1 round, 2 committed, 7 test_accuracy.
echo
echo "| Server optimizer | Rounds to 80% test accuracy | Best test accuracy | Final test accuracy | Mean of last 10 rounds | Rounds committed |"
echo "|---|---|---|---|---|---|"
for o in $OPTIMIZERS; do
  awk -F, -v name="$o" 'NR > 1 && $2 == 1 {
      n++; acc = $7; last[n] = acc; if (acc > best) best = acc
      if (reached == "" && acc >= 0.80) reached = $1
    }
    END {
      for (i = (n > 10 ? n - 9 : 1); i <= n; i++) { sum += last[i]; k++ }
      if (n == 0) { printf "| %s | not reached | - | - | - | 0 |\n", name; exit }
      printf "| %s | %s | %.2f%% | %.2f%% | %.2f%% | %d |\n", name,
        reached == "" ? "not reached" : reached, 100 * best, 100 * acc, 100 * sum / k, n
    }' "$OUT/$o/metrics.csv"
done
