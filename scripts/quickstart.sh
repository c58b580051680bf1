#!/usr/bin/env bash
# The main job: builds anvil, then runs the quickstart end to end on 2 CPU cores in minutes, with no
# download: synthetic reasoning tasks -> byte-level BPE tokenizer -> token shards -> a ~1.7M-parameter
# LLaMA-style model trained with AdamW + cosine -> held-out evaluation (exact match of the answer after
# the model's own <think> steps, perplexity, speed) -> reports. Outputs go to runs/quickstart/.
#   bash scripts/quickstart.sh            (after: sudo bash scripts/setup.sh)
# `anvil run` (issue 8) will chain the same steps from one config with reuse of unchanged steps.
# Knobs (the e2e test uses them for a reduced run): QUICKSTART_RUN (output dir), QUICKSTART_TASKS
# (training problems), QUICKSTART_STEPS (optimizer steps), QUICKSTART_EVAL (held-out problems scored),
# ANVIL (a prebuilt binary: skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."

run=${QUICKSTART_RUN:-runs/quickstart}
tasks=${QUICKSTART_TASKS:-40000}
steps=${QUICKSTART_STEPS:-600}
n_eval=${QUICKSTART_EVAL:-200}
anvil=${ANVIL:-}
if [ -z "$anvil" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j"$(nproc)" --target anvil
  anvil=build/anvil
fi
mkdir -p "$run/data"

echo "== 1/6 synthetic reasoning data (arithmetic chains with <think> steps)"
"$anvil" synth --task arithmetic --difficulty 2 --n "$tasks" --seed 1 --split train --format text \
  --out "$run/data/train.txt"
"$anvil" synth --task arithmetic --difficulty 2 --n 500 --seed 2 --split eval --format docs \
  --out "$run/data/eval.jsonl"

echo "== 2/6 tokenizer (byte-level BPE, 512 tokens)"
"$anvil" tokenizer train --input "$run/data/train.txt" --vocab-size 512 --special "<|endoftext|>" \
  --out "$run/tokenizer.json"

echo "== 3/6 token shards (5% of documents held out for validation)"
"$anvil" tokenize --tokenizer "$run/tokenizer.json" --input "$run/data/train.txt" --format text \
  --text-unit blank-line --val-fraction 0.05 --out "$run/shards"

echo "== 4/6 pretraining (examples/quickstart.toml)"
rm -rf "$run/train"
sed "s#runs/quickstart#$run#g" examples/quickstart.toml > "$run/quickstart.toml"
"$anvil" train --config "$run/quickstart.toml" --steps "$steps"
model="$run/train/checkpoints/$(sed -n 's/.*"dir": *"\([^"]*\)".*/\1/p' "$run/train/checkpoints/latest.json")"
cp "$run/tokenizer.json" "$model/"

echo "== 5/6 evaluation on held-out problems (questions never seen in training)"
"$anvil" eval --model "$model" --tasks "synth:arithmetic,ppl:$run/shards/val/shard-00000.tok" --limit "$n_eval" \
  --max-new-tokens 160 --out "$run/eval"

echo "== 6/6 training report"
"$anvil" report "$run/train"
echo
echo "Model:    $model (try: $anvil generate --model $model --prompt 'Question: What is 12 + 34?')"
echo "Reports:  $run/train/report.html  $run/eval/eval_report.html"
