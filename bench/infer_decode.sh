#!/usr/bin/env bash
# Batch-1 decode speed of `anvil generate` on the LLaMA shape llama.cpp's 15M row uses in
# /work/shared/peers/RESULTS.md (dim 288, 6 layers, 6 heads, ffn 768, vocab 32000, random weights), fp32,
# 2 threads. Prints the generator's TTFT and decode tokens/s line for each run. Peer: llama.cpp b4748
# `llama-bench` tg128 F32 = 724 tok/s on this machine (RESULTS.md; measured side by side on 2026-11-29:
# 481 tok/s against anvil's 996, docs/serve.md).
# Usage: [THREADS=2] bench/infer_decode.sh [BUILD_DIR] [N_TOKENS] [RUNS]. Needs a quiet machine: with
# more runnable processes than cores, OpenMP barriers make multi-threaded decode wait on the scheduler.
set -euo pipefail
build=${1:-build}
n_tokens=${2:-128}
runs=${3:-3}
threads=${THREADS:-2}
anvil="$build/anvil"
[[ -x "$anvil" ]] || { echo "no $anvil (build the 'anvil' target first)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/config.json" <<'JSON'
{"model_type":"llama","vocab_size":32000,"hidden_size":288,"intermediate_size":768,"num_hidden_layers":6,
 "num_attention_heads":6,"num_key_value_heads":6,"max_position_embeddings":256,"tie_word_embeddings":true}
JSON
"$anvil" model init --config "$work/config.json" --out "$work/model" --seed 1 > /dev/null 2>&1
# A small byte-level tokenizer (the model's 32000-row head is still computed in full every token).
python3 -c "import sys; sys.stdout.write(('the quick brown fox jumps over the lazy dog. ' * 2000))" > "$work/text.txt"
"$anvil" tokenizer train --input "$work/text.txt" --out "$work/model/tokenizer.json" --vocab-size 400 -q > /dev/null
for _ in $(seq "$runs"); do
  "$anvil" -t "$threads" generate --model "$work/model" --prompt "the quick brown fox" --max-tokens "$n_tokens" \
    --temperature 0 --ignore-eos > /dev/null
done
