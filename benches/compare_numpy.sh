#!/usr/bin/env bash
# gradtape against numpy/OpenBLAS (and PyTorch, when installed), measured in
# the same run, as ratios (this machine is shared and noisy: absolute numbers
# from another run mean little).
#
#   benches/compare_numpy.sh [NUMPY_THREADS]
#
# Runs ../shared/bench/numpy_gemm.py (fails loudly if missing) and
# `cargo bench --bench matmul` (FMA peak + every kernel) alternately, ROUNDS
# times each (default 2), and prints per shape: numpy GFLOP/s and the
# engine's (each side's best round), engine/numpy, and both as a fraction of
# the machine's FMA peak (the widest vectors the CPU has). Then
# numpy_step.py, torch_step.py (when `import torch` works) and `cargo bench
# --bench step` alternately, ROUNDS times each: the ratio of the engine's
# best median step to numpy's and PyTorch's, and the step against the
# machine's floor that the step bench measures in each round. Raw lines are
# kept in $OUT_DIR (default: a fresh temp dir, printed at the end).
#
# Environment: NUMPY_BENCH_DIR (default <repo>/../shared/bench),
# STEP_PATHS (gemm paths to time the step on as well, forced with
# GRADTAPE_GEMM; default "avx2 matrixmultiply-threaded fallback", "" for none),
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
STEP_PATHS="${STEP_PATHS-avx2 matrixmultiply-threaded fallback}"
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
    printf "%-28s", "GFLOP/s"
    for (i = 1; i <= ns; i++) { split(so[i], w, " "); printf " %6s", w[1] }
    print ""
    for (j = 1; j <= nk; j++) {
      printf "%-28s", ko[j]
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

# ---- training step: engine against numpy, PyTorch and the machine's floor --
echo
if [ -f "$BENCH_DIR/numpy_step.py" ]; then
  HAVE_TORCH=
  if [ -f "$BENCH_DIR/torch_step.py" ] && python3 -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=1
  fi
  echo "== training step: numpy_step.py${HAVE_TORCH:+, torch_step.py} and cargo bench --bench step" >&2
  cargo bench --bench step --no-run >&2
  for r in $(seq 1 "$ROUNDS"); do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      python3 "$BENCH_DIR/numpy_step.py" ${NUMPY_THREADS:+--threads $NUMPY_THREADS} >"$OUT_DIR/step_numpy$r.tsv"
    if [ -n "$HAVE_TORCH" ]; then
      python3 "$BENCH_DIR/torch_step.py" --threads "${NUMPY_THREADS:-$(nproc)}" >"$OUT_DIR/step_torch$r.tsv"
    fi
    cargo bench -q --bench step >"$OUT_DIR/step_rust$r.tsv"
    # The same step on each gemm path, forced (a path the CPU lacks runs
    # the fallback, and the bench's "# gemm path" line says so).
    for path in $STEP_PATHS; do
      GRADTAPE_GEMM=$path cargo bench -q --bench step -- --steps 50 >"$OUT_DIR/step_path_${path}_$r.tsv"
    done
  done
  step_files=("$OUT_DIR"/step_numpy*.tsv)
  if [ -n "$HAVE_TORCH" ]; then step_files+=("$OUT_DIR"/step_torch*.tsv); fi
  step_files+=("$OUT_DIR"/step_rust*.tsv)
  cat "${step_files[@]}"
  awk -F'\t' '
    function field(name,   i, kv) { for (i = 2; i <= NF; i++) if ($i ~ ("^" name "=")) { split($i, kv, "="); return kv[2] + 0 } return -1 }
    $1 == "TRAIN" { v = field("median_s")
      side = FILENAME ~ /step_numpy/ ? "numpy" : (FILENAME ~ /step_torch/ ? "torch" : "engine")
      if (!(side in best) || v < best[side]) best[side] = v }
    $1 == "FLOOR" { n++; r = field("step_over_floor"); f = field("floor_ms")
      ratios = ratios sprintf(" %.3f", r); floors = floors sprintf(" %.2f", f)
      if (minf == 0 || f < minf) minf = f }
    END {
      if (!("numpy" in best) || !("engine" in best)) { print "STEP: could not read a median_s= from both runs"; exit }
      printf "STEP median (best of the rounds): engine %.2f ms, numpy %.2f ms: engine time / numpy time = %.3f\n", best["engine"] * 1e3, best["numpy"] * 1e3, best["engine"] / best["numpy"]
      if ("torch" in best) printf "STEP median (best of the rounds): PyTorch %.2f ms: engine time / PyTorch time = %.3f\n", best["torch"] * 1e3, best["engine"] / best["torch"]
      else print "STEP: PyTorch not measured (torch is not importable)"
      # Noise only raises both the step and the floor (a lower measured
      # peak or bandwidth), so the best step is set against the lowest floor.
      if (n > 0) printf "STEP against the machine floor: best step %.2f ms / lowest floor %.2f ms = %.3f (per round: floor ms%s, step / floor%s)\n", best["engine"] * 1e3, minf, best["engine"] * 1e3 / minf, floors, ratios
    }' "${step_files[@]}"
  for path in $STEP_PATHS; do
    awk -F'\t' -v path="$path" '
      /^# gemm path:/ { split($0, w, " "); ran = w[4] }
      $1 == "TRAIN" { for (i = 4; i <= NF; i++) if ($i ~ /^median_s=/) { split($i, kv, "="); v = kv[2] + 0 }
        if (FILENAME ~ /step_path_/) { if (p == 0 || v < p) p = v } else { if (e == 0 || v < e) e = v } }
      END { if (p > 0 && e > 0) printf "STEP with GRADTAPE_GEMM=%s (ran: %s): %.2f ms, %.3f of the default run\n", path, ran, p * 1e3, p / e }' \
      "$OUT_DIR"/step_rust*.tsv "$OUT_DIR"/step_path_"${path}"_*.tsv
  done
else
  echo "STEP: skipped ($BENCH_DIR/numpy_step.py is missing)"
fi
echo "raw output: $OUT_DIR" >&2
