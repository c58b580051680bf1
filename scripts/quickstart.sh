#!/usr/bin/env bash
# The main job: builds anvil, then `anvil run examples/quickstart.toml` — on 2 CPU cores in minutes, with
# no download: synthetic reasoning tasks + packaged real text (Debian fortunes) -> prep -> byte-level BPE
# -> token shards -> a ~1.7M-parameter LLaMA-style model (AdamW + cosine) -> held-out exact match with
# <think> vs answering directly -> runs/quickstart/report.html + summary.json. Run it again and every
# step is reused; change a setting in the config and only that step and the later ones rerun.
#   bash scripts/quickstart.sh [extra anvil run options, e.g. --dry-run or --from train]
#                                       (after: sudo bash scripts/setup.sh)
# Knobs (the e2e test uses them for a reduced run), each an `anvil run --set` override of the config:
# QUICKSTART_RUN (run dir), QUICKSTART_TASKS (training problems, 3/4 with <think>), QUICKSTART_STEPS
# (optimizer steps), QUICKSTART_EVAL (held-out problems per style), ANVIL (a prebuilt binary: no build).
set -euo pipefail
cd "$(dirname "$0")/.."

anvil=${ANVIL:-}
if [ -z "$anvil" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j"$(nproc)" --target anvil
  anvil=build/anvil
fi

sets=()
if [ -n "${QUICKSTART_RUN:-}" ]; then sets+=(--set "run.dir='${QUICKSTART_RUN}'"); fi
if [ -n "${QUICKSTART_TASKS:-}" ]; then
  sets+=(--set "synth[0].n=$((QUICKSTART_TASKS * 3 / 4))" --set "synth[1].n=$((QUICKSTART_TASKS / 4))")
fi
if [ -n "${QUICKSTART_STEPS:-}" ]; then sets+=(--set "train.schedule.steps=${QUICKSTART_STEPS}"); fi
if [ -n "${QUICKSTART_EVAL:-}" ]; then sets+=(--set "eval.limit=${QUICKSTART_EVAL}"); fi

exec "$anvil" run examples/quickstart.toml ${sets[@]+"${sets[@]}"} "$@"
