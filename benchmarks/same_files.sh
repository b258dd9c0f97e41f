#!/usr/bin/env bash
# Issue 27's "same files before and after": run a tiny grid, expand --from it with --train,
# compare, transfer --from the grid and train on one member through the CLI of CHECKOUT,
# each with fixed seeds, one process, one thread, on the CPU; write everything under OUT.
# Run it for two checkouts (one after the other), then compare the two out dirs with
#   python benchmarks/same_files.py BEFORE_OUT AFTER_OUT --details DIFFS.txt
# e.g. (issue 27: before = 219bb6f, after = main):
#   git worktree add --detach /work/wt-before 219bb6f; git worktree add --detach /work/wt-after main
#   PYTHON=/tmp/ci7/.venv/bin/python benchmarks/same_files.sh /work/wt-before /work/exp/same-files/before
#   PYTHON=/tmp/ci7/.venv/bin/python benchmarks/same_files.sh /work/wt-after  /work/exp/same-files/after
#   /tmp/ci7/.venv/bin/python benchmarks/same_files.py /work/exp/same-files/before /work/exp/same-files/after
# About 6 min for the first checkout (a cold cache measures memory formats), 3 min for the second,
# on 2 busy cores.
#
# usage: benchmarks/same_files.sh CHECKOUT OUT [BASELINE]
#   CHECKOUT  a scalesearch checkout (its scalesearch/ package is what runs: PYTHONPATH)
#   OUT       an empty or missing folder
#   BASELINE  resnet18 (default) or mobilenetv2: spaces without `dropout_growth:`, which
#             0da3cb7 (grid points train with the phi = 1 member's grown dropout) leaves alone
# env: PYTHON (default: python3), SCALESEARCH_CACHE (shared by both runs, so both read the same
#      measured memory-format choice; default OUT/../cache).
set -euo pipefail
CHECKOUT=$(cd "$1" && pwd); OUT=$2; BASELINE=${3:-resnet18}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT/logs" "$OUT/stdout"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$CHECKOUT" COLUMNS=200 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
export SCALESEARCH_CACHE=${SCALESEARCH_CACHE:-$(dirname "$OUT")/cache}
ss() {  # ss NAME ARGS...: run `scalesearch ARGS`, stdout to OUT/stdout/NAME.json, stderr to OUT/logs/NAME.log
  local name=$1; shift
  echo "+ scalesearch $*" | tee -a "$OUT/logs/commands.txt"
  local start=$SECONDS
  (cd "$OUT" && "$PYTHON" -m scalesearch "$@" >"$OUT/stdout/$name.json" 2>"$OUT/logs/$name.log") \
    || { echo "FAILED: $name (see $OUT/logs/$name.log)"; tail -20 "$OUT/logs/$name.log"; exit 1; }
  echo "  $name: $((SECONDS - start)) s" | tee -a "$OUT/logs/commands.txt"
}
(cd "$CHECKOUT" && git log -1 --format='checkout %h %s') >"$OUT/logs/checkout.txt"

BUDGET=(--epochs 1 --train-images 128 --batch-size 64 --device cpu)
EVAL=(--val-images 64 --test-images 64)

# The 2-D grid at the space's default step 0.1: 12 points + the baseline, one seed each;
# tie-break by params, not by a timed latency, so the recommendation does not hang on a clock.
ss grid grid -b "$BASELINE" "${BUDGET[@]}" "${EVAL[@]}" --resolution 32 --seed 0 --seeds 1 \
   --workers 1 --threads 1 --tie-break params --out grid --format json
# The grid's leader grown to phi 0 and 1, each member proxy-trained.
ss expand expand -b "$BASELINE" --from grid --phi 0,1 --train "${BUDGET[@]}" --seed 0 \
   --out expand --format json
# compare at 2x: width vs compound, one seed, one process.
ss compare compare -b "$BASELINE" --target 2x --methods width,compound "${BUDGET[@]}" "${EVAL[@]}" \
   --resolution 32 --seeds 1 --seed 0 --workers 1 --threads 1 --out compare --format json
# transfer the grid's top 2 to phi 2 (the grid's budget), one seed.
ss transfer transfer --from grid --phi 2 --top 2 --seeds 1 --device cpu --threads 1 \
   --out transfer --format json
# train the phi = 1 member expand wrote.
MEMBER=$("$PYTHON" - "$OUT/expand" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
doc = json.loads((out.parent / "stdout" / "expand.json").read_text())
members = doc["members"] if isinstance(doc, dict) and "members" in doc else doc
member = [m for m in members if float(m["phi"]) == 1][0]
print(out / member["spec_file"])
PY
)
ss train train -b "$MEMBER" "${BUDGET[@]}" "${EVAL[@]}" --seed 0 --threads 1 --out train --format json
echo "done: $OUT"
