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
steps=${QUICKSTART_STEPS:-900}
n_eval=${QUICKSTART_EVAL:-200}
anvil=${ANVIL:-}
if [ -z "$anvil" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build -j"$(nproc)" --target anvil
  anvil=build/anvil
fi
mkdir -p "$run/data"

echo "== 1/6 synthetic reasoning data: arithmetic chains, 3/4 with <think> steps, 1/4 answered directly"
"$anvil" synth --task arithmetic --difficulty 2 --n "$((tasks * 3 / 4))" --seed 1 --split train --style cot \
  --format text --out "$run/data/cot.txt"
"$anvil" synth --task arithmetic --difficulty 2 --n "$((tasks / 4))" --seed 3 --split train --style direct \
  --format text --out "$run/data/direct.txt"

echo "== 2/6 tokenizer (byte-level BPE, 512 tokens)"
"$anvil" tokenizer train --input "$run/data/cot.txt" "$run/data/direct.txt" --vocab-size 512 --special "<|endoftext|>" \
  --out "$run/tokenizer.json"

echo "== 3/6 token shards (5% of documents held out for validation)"
"$anvil" tokenize --tokenizer "$run/tokenizer.json" --input "$run/data/cot.txt" "$run/data/direct.txt" --format text \
  --text-unit blank-line --val-fraction 0.05 --out "$run/shards"

echo "== 4/6 pretraining (examples/quickstart.toml)"
rm -rf "$run/train"
sed "s#runs/quickstart#$run#g" examples/quickstart.toml > "$run/quickstart.toml"
"$anvil" train --config "$run/quickstart.toml" --steps "$steps"
model="$run/train/checkpoints/$(sed -n 's/.*"dir": *"\([^"]*\)".*/\1/p' "$run/train/checkpoints/latest.json")"
cp "$run/tokenizer.json" "$model/"

echo "== 5/6 evaluation on held-out problems (questions never seen in training): with and without <think>"
"$anvil" eval --model "$model" --tasks "synth:arithmetic,ppl:$run/shards/val/shard-00000.tok" --limit "$n_eval" \
  --synth-style cot --max-new-tokens 160 --out "$run/eval"
"$anvil" eval --model "$model" --tasks "synth:arithmetic" --limit "$n_eval" --synth-style direct \
  --max-new-tokens 16 --out "$run/eval-direct" -q
/usr/bin/env python3 - "$run" <<'PY' || true
import json, sys
def em(path):
    def find(o):
        if isinstance(o, dict):
            if "exact_match" in o and isinstance(o["exact_match"], (int, float)): return o["exact_match"]
            for v in o.values():
                r = find(v)
                if r is not None: return r
        if isinstance(o, list):
            for v in o:
                r = find(v)
                if r is not None: return r
    return find(json.load(open(path)))
run = sys.argv[1]
print(f"held-out arithmetic, exact match: {em(run + '/eval/eval_report.json'):.1%} thinking in <think> "
      f"vs {em(run + '/eval-direct/eval_report.json'):.1%} answering directly (same model)")
PY

echo "== 6/6 training report"
"$anvil" report "$run/train"
echo
echo "Model:    $model"
echo "Try:      $anvil generate --model $model --temperature 0 --prompt \$'Question: What is 86 - 29?\\n'"
echo "Reports:  $run/train/report.html  $run/eval/eval_report.html  $run/eval-direct/eval_report.html"
