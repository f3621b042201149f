#!/usr/bin/env bash
# Runs the privacy-utility comparison of docs/benchmarks.md ("Privacy-utility (cohort-sim)"):
# one federation (4000 devices, 400 per round with 1.3x over-selection, softmax model, 30 rounds,
# seed 1) without DP and with the distributed discrete Gaussian calibrated to epsilon 8, 3 and 1
# at delta 1e-5 over the 30 rounds (and Skellam at epsilon 3), one run after the other. Prints a
# Markdown table and writes an SVG plot of test accuracy per round and against epsilon.
#
#   sim/dp_compare.sh [path/to/cohort-sim] [extra cohort-sim flags...]
#
# Results stay in out/dp_compare/<run>/; the plot in $DP_PLOT (default out/dp_compare/plot.svg).
# DP_COMPARE_TABLE_ONLY=1 skips the runs and rebuilds the table and plot from those results.
set -euo pipefail

SIM=${1:-build/release/sim/cohort-sim}
shift || true
OUT=${DP_COMPARE_OUT:-out/dp_compare}
PLOT=${DP_PLOT:-$OUT/plot.svg}
# Phase deadlines sized for 520 selected devices on a shared 2-core machine.
COMMON="--devices=4000 --cohort_size=400 --rounds=30 --model=softmax --forming_timeout=5 --key_phase_timeout=30 --masked_input_timeout=60"
RUNS=${DP_RUNS:-"nodp ddg8 ddg3 ddg1 skellam3"}

run() {
  local name=$1
  shift
  echo "== $name: $SIM $COMMON $* $EXTRA" >&2
  # shellcheck disable=SC2086
  "$SIM" --quiet --output_dir="$OUT/$name" $COMMON "$@" $EXTRA >&2
}

EXTRA="$*"
# Parameters of the softmax model (784 x 10 + 10): the denominator of bytes per coordinate.
PARAMS=7850
for name in $RUNS; do
  [[ ${DP_COMPARE_TABLE_ONLY:-0} == 1 ]] && break
  case $name in
    nodp) run nodp ;;
    ddg8) run ddg8 --dp=ddg --dp_target_epsilon=8 ;;
    ddg3) run ddg3 --dp=ddg --dp_target_epsilon=3 ;;
    ddg1) run ddg1 --dp=ddg --dp_target_epsilon=1 ;;
    skellam3) run skellam3 --dp=skellam --dp_target_epsilon=3 ;;
  esac
done

# metrics.csv columns: 2 committed, 4 cohort, 5 survivors, 7 test_accuracy, 12 up/device,
# 14 round_seconds, 15 epsilon_spent, 16 dp_bits.
summary() {
  awk -F, 'NR > 1 && $2 == 1 { n++; acc = $7; up += $12; t += $14; surv += $5; coh += $4;
                               eps = $15; bits = $16 }
           NR > 1 && $2 == 0 { failed++ }
           END { printf "%.2f %.0f %.2f %d %d %.1f %.1f %.3f %d\n", 100 * acc, up / n, t / n, n,
                 failed, coh / n, surv / n, eps, bits }' "$OUT/$1/metrics.csv"
}

echo
echo "| Run | epsilon spent (delta 1e-5) | Final test accuracy | Rounds committed / failed | Mean cohort / survivors | Ring bits per coordinate | Bytes up per device per round | Bytes up per coordinate | Mean round time |"
echo "|---|---|---|---|---|---|---|---|---|"
for name in $RUNS; do
  read -r acc up t n fail coh surv eps bits < <(summary "$name")
  case $name in
    nodp) label="no DP (SecAgg+, 8-bit quantized)"; eps_text="∞ (no DP)"; bits_text="m = codec modulus" ;;
    ddg*) label="distributed discrete Gaussian, target ${name#ddg}"; eps_text=$eps; bits_text=$bits ;;
    skellam*) label="distributed Skellam, target ${name#skellam}"; eps_text=$eps; bits_text=$bits ;;
  esac
  awk -v l="$label" -v e="$eps_text" -v acc="$acc" -v n="$n" -v fail="${fail:-0}" -v coh="$coh" \
      -v surv="$surv" -v b="$bits_text" -v up="$up" -v t="$t" -v d="$PARAMS" 'BEGIN {
    printf "| %s | %s | %.2f%% | %d / %d | %.1f / %.1f | %s | %.1f KiB | %.2f | %.2f s |\n",
      l, e, acc, n, fail, coh, surv, b, up / 1024, up / d, t }'
done

# The plot: accuracy per round (left) and final accuracy against epsilon (right, log scale).
{
  for name in $RUNS; do
    awk -F, -v run="$name" 'NR > 1 && $2 == 1 { print run, $1, $7, $15 }' "$OUT/$name/metrics.csv"
  done
} | awk '
  function x1(r) { return 60 + (r - 1) * 380 / 29 }
  function y(a) { return 330 - a * 280 }
  function x2(e) { return 520 + (log(e) / log(10) + 0.2) * 300 / 1.4 }
  BEGIN { color["nodp"] = "#222"; color["ddg8"] = "#1f77b4"; color["ddg3"] = "#ff7f0e";
          color["ddg1"] = "#d62728"; color["skellam3"] = "#2ca02c" }
  { run = $1; path[run] = path[run] sprintf("%s%.1f,%.1f", path[run] == "" ? "M" : " L", x1($2), y($3));
    last[run] = $3; eps[run] = $4; order[run] = ++seen[run] == 1 ? ++n : order[run]; names[order[run]] = run }
  END {
    print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"860\" height=\"380\" font-family=\"sans-serif\" font-size=\"12\">"
    print "<rect width=\"860\" height=\"380\" fill=\"white\"/>"
    print "<text x=\"60\" y=\"24\" font-size=\"14\">Test accuracy per round (softmax, 4000 devices, 400 per round)</text>"
    print "<text x=\"520\" y=\"24\" font-size=\"14\">Final accuracy against epsilon (delta 1e-5)</text>"
    for (a = 0; a <= 1.0001; a += 0.2) {
      printf "<line x1=\"60\" x2=\"440\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"30\" y=\"%.1f\">%.1f</text>\n", y(a), y(a), y(a) + 4, a
      printf "<line x1=\"520\" x2=\"820\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", y(a), y(a)
    }
    printf "<text x=\"230\" y=\"365\">round</text><text x=\"640\" y=\"365\">epsilon (log)</text>\n"
    split("1 3 8 20", ticks, " ")
    for (i = 1; i <= 4; i++) printf "<text x=\"%.1f\" y=\"348\">%s</text>\n", x2(ticks[i]) - 4, ticks[i]
    for (i = 1; i <= n; i++) {
      r = names[i]
      printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", path[r], color[r]
      printf "<text x=\"450\" y=\"%d\" fill=\"%s\">%s %.1f%%</text>\n", 60 + 16 * i, color[r], r, 100 * last[r]
      if (r == "nodp") {
        printf "<line x1=\"520\" x2=\"820\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-dasharray=\"6,4\"/><text x=\"700\" y=\"%.1f\">no DP</text>\n", y(last[r]), y(last[r]), y(last[r]) - 6
      } else {
        printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", x2(eps[r]), y(last[r]), color[r]
      }
    }
    print "</svg>"
  }' > "$PLOT"
echo "plot: $PLOT" >&2
