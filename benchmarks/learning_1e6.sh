#!/usr/bin/env bash
# The zoo's full-budget MuJoCo learning study (issue 30): fasttrpo and sb3-contrib, 1e6 steps,
# the five MuJoCo tasks, stored in benchmarks/results/learning-1e6/<lib>/<task>/seed<k>.json.
#
#   benchmarks/learning_1e6.sh 205            # one more seed (both libraries, five tasks)
#   benchmarks/learning_1e6.sh 200 201 202    # several, seed by seed
#
# Seed-major (per seed: per task: fasttrpo, then sb3), so partial sweeps stay balanced; one
# run per process, one at a time, pinned to core $CORE (default 1; CORE= for no pinning).
# Existing runs are skipped (the harness checks the file), so a stopped sweep resumes.
# Set NUMBA_CACHE_DIR to a cache warmed by one process first (see benchmarks/learning.py).
set -u
cd "$(dirname "$0")/.."
OUT=benchmarks/results/learning-1e6
TASKS="Hopper-v5 Walker2d-v5 HalfCheetah-v5 Swimmer-v5 Ant-v5"
CORE=${CORE-1}
PIN=()
if [ -n "$CORE" ]; then PIN=(taskset -c "$CORE"); fi
status=0
for seed in "$@"; do
  for task in $TASKS; do
    for lib in fasttrpo sb3; do
      "${PIN[@]}" python -m benchmarks.learning --lib "$lib" --tasks "$task" \
        --seeds "$seed" --out "$OUT" || status=1
    done
  done
done
exit $status
