#!/usr/bin/env bash
# Matrix products: gradtape's engine against numpy/OpenBLAS, measured in the
# same run, as ratios (this machine is shared and noisy: absolute numbers from
# another run mean little).
#
#   benches/compare_numpy.sh [NUMPY_THREADS]
#
# Runs ../shared/bench/numpy_gemm.py (fails loudly if missing) and
# `cargo bench --bench matmul` (FMA peak + every kernel) alternately, ROUNDS
# times each (default 2), and prints per shape: numpy GFLOP/s and the
# engine's (each side's best round), engine/numpy, and both as a fraction of
# the machine's FMA peak. Then numpy_step.py and `cargo bench --bench step`
# alternately, ROUNDS times each, and the ratio of their best medians. Raw lines are kept in $OUT_DIR
# (default: a fresh temp dir, printed at the end).
#
# Environment: NUMPY_BENCH_DIR (default <repo>/../shared/bench),
# BENCH_FILTER (kernel/shape filters passed to the cargo bench, default none),
# OUT_DIR. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for the numpy runs
# only (they slow a current numpy on some CPUs); threadpoolctl reports which
# OpenBLAS kernel ran (kept in numpy*.err).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${NUMPY_BENCH_DIR:-$ROOT/../shared/bench}"
NUMPY_THREADS="${1:-}"
OUT_DIR="${OUT_DIR:-$(mktemp -d -t gradtape-matmul.XXXXXX)}"
mkdir -p "$OUT_DIR"

if [ ! -f "$BENCH_DIR/numpy_gemm.py" ]; then
  echo "compare_numpy: $BENCH_DIR/numpy_gemm.py is missing (set NUMPY_BENCH_DIR)" >&2
  exit 1
fi
if ! python3 -c 'import numpy' 2>/dev/null; then
  echo "compare_numpy: numpy missing: python3 -m pip install numpy threadpoolctl" >&2
  exit 1
fi

numpy_gemm() { # $1: label, $2: output file
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    python3 "$BENCH_DIR/numpy_gemm.py" "$1" $NUMPY_THREADS >"$2" 2>"$2.err"
  cat "$2.err" >&2
}

cd "$ROOT"
echo "== building the bench" >&2
cargo bench --bench matmul --no-run >&2

# Alternate numpy and the Rust bench, ROUNDS times each (default 2), and
# keep each side's best figure per kernel and shape: the machine is shared,
# and the best of a few runs is the least disturbed one, for both sides alike.
ROUNDS="${ROUNDS:-2}"
for r in $(seq 1 "$ROUNDS"); do
  echo "== numpy ($r/$ROUNDS)" >&2
  numpy_gemm numpy "$OUT_DIR/numpy$r.tsv"
  echo "== cargo bench --bench matmul ${BENCH_FILTER:-} ($r/$ROUNDS)" >&2
  # shellcheck disable=SC2086 # BENCH_FILTER is a list of words
  cargo bench -q --bench matmul -- ${BENCH_FILTER:-} >"$OUT_DIR/rust$r.tsv"
done

cat "$OUT_DIR"/rust*.tsv "$OUT_DIR"/numpy*.tsv
echo

# Every kernel side by side: GFLOP/s (best of the rounds), one row per
# kernel, one column per shape.
awk -F'\t' '
  $1 == "RESULT" {
    if (!($2 in ks)) { ks[$2] = 1; ko[++nk] = $2 }
    if (!($3 in ss)) { ss[$3] = 1; so[++ns] = $3 }
    if (!(($2, $3) in g) || $7 + 0 > g[$2, $3]) g[$2, $3] = $7 + 0
  }
  END {
    printf "%-18s", "GFLOP/s"
    for (i = 1; i <= ns; i++) { split(so[i], w, " "); printf " %6s", w[1] }
    print ""
    for (j = 1; j <= nk; j++) {
      printf "%-18s", ko[j]
      for (i = 1; i <= ns; i++) printf " %6s", ((ko[j], so[i]) in g) ? sprintf("%.1f", g[ko[j], so[i]]) : "-"
      print ""
    }
  }' "$OUT_DIR"/numpy*.tsv "$OUT_DIR"/rust*.tsv
echo

awk -F'\t' '
  $1 == "PEAK" && (!($3 in peak) || $4 + 0 > peak[$3]) { peak[$3] = $4 + 0; if ($3 + 0 > maxthreads) { maxthreads = $3 + 0 } }
  $1 == "RESULT" && $2 == "numpy" {
    if (!($3 in np) || $7 + 0 > np[$3]) { np[$3] = $7 + 0; npms[$3] = $8 + 0 }
    if (!($3 in seen)) { seen[$3] = 1; order[++nshape] = $3; m[$3] = $4; k[$3] = $5; n[$3] = $6 }
  }
  $1 == "RESULT" && $2 != "numpy" && (!(($2, $3) in gf) || $7 + 0 > gf[$2, $3]) { gf[$2, $3] = $7 + 0; ms[$2, $3] = $8 + 0 }
  END {
    mp = peak[maxthreads]
    printf "FMA peak: %s GFLOP/s on 1 core, %s GFLOP/s on %d cores (machine)\n\n", peak[1], mp, maxthreads
    printf "%-32s %9s %9s %8s %8s %8s   %s\n", "shape", "numpy", "engine", "eng/np", "eng%pk", "np%pk", "best rust kernel"
    for (i = 1; i <= nshape; i++) {
      s = order[i]
      best = ""; bgf = 0
      for (key in gf) { split(key, kk, SUBSEP); if (kk[2] == s && gf[key] > bgf) { bgf = gf[key]; best = kk[1] } }
      e = ((("engine", s) in gf) ? gf["engine", s] : 0)
      printf "%-32s %9.2f %9.2f %8.3f %8.3f %8.3f   %s %.2f\n", s, np[s], e, (np[s] > 0 ? e / np[s] : 0), (mp > 0 ? e / mp : 0), (mp > 0 ? np[s] / mp : 0), best, bgf
      if (s !~ /^sq/) {   # the training step shapes: total flops / total time
        fl = 2 * m[s] * k[s] * n[s]; tf += fl
        tn += npms[s]; if (("engine", s) in ms) te += ms["engine", s]
      }
    }
    if (tn > 0 && te > 0) {
      g_np = tf / tn / 1e6; g_e = tf / te / 1e6
      printf "%-32s %9.2f %9.2f %8.3f %8.3f %8.3f\n", "step shapes (sum flops/sum time)", g_np, g_e, g_e / g_np, g_e / mp, g_np / mp
    }
  }' "$OUT_DIR"/numpy*.tsv "$OUT_DIR"/rust*.tsv

# ---- training-step time ratio -------------------------------------------
# Place for the whole-step comparison (numpy_step.py against the engine's
# training-step benchmark). It runs only once that benchmark exists: a
# `[[bench]] name = "step"` in Cargo.toml that prints a numpy_step.py-style
# line `TRAIN<TAB>label<TAB>dtype<TAB>median_s=...`.
echo
if grep -q '^name = "step"' "$ROOT/Cargo.toml" && [ -f "$BENCH_DIR/numpy_step.py" ]; then
  echo "== training step: numpy_step.py vs cargo bench --bench step" >&2
  for r in $(seq 1 "$ROUNDS"); do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      python3 "$BENCH_DIR/numpy_step.py" ${NUMPY_THREADS:+--threads $NUMPY_THREADS} >"$OUT_DIR/step_numpy$r.tsv"
    cargo bench -q --bench step >"$OUT_DIR/step_rust$r.tsv"
  done
  cat "$OUT_DIR"/step_numpy*.tsv "$OUT_DIR"/step_rust*.tsv
  awk -F'\t' '$1 == "TRAIN" { for (i = 4; i <= NF; i++) if ($i ~ /^median_s=/) { split($i, kv, "="); v = kv[2] + 0
        if (FILENAME ~ /step_numpy/) { if (np == 0 || v < np) np = v } else { if (rs == 0 || v < rs) rs = v } } }
    END { if (np > 0 && rs > 0) printf "STEP median (best of the rounds): numpy %.2f ms, engine %.2f ms, engine time / numpy time = %.3f\n", np * 1e3, rs * 1e3, rs / np
          else print "STEP: could not read a median_s= from both runs" }' \
    "$OUT_DIR"/step_numpy*.tsv "$OUT_DIR"/step_rust*.tsv
else
  echo "STEP: skipped (no [[bench]] named \"step\" yet); matrix products only"
fi
echo "raw output: $OUT_DIR" >&2
