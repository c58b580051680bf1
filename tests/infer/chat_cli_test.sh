#!/usr/bin/env bash
# `anvil chat` through a pipe on a random tiny model made with `anvil model init` + `anvil tokenizer train`:
# each greedy reply equals `anvil generate` on the conversation rendered with the default chat template
# ("Question: ...\n", stop "\n\nQuestion:"); /reset forgets the first exchange, without it the second
# prompt carries the first exchange; the same with the fp32 and int8 KV caches; end of input exits 0; usage errors
# (a bad --kv-cache too) exit 2.
# Usage: chat_cli_test.sh ANVIL WORK_DIR
set -euo pipefail
anvil=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cat > "$work/config.json" <<'JSON'
{"model_type":"llama","vocab_size":320,"hidden_size":48,"intermediate_size":96,"num_hidden_layers":2,
 "num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":128,"initializer_range":0.3}
JSON
for i in $(seq 200); do echo "Question: What is $i + $((i % 7))?"; echo "Answer: $((i + i % 7))"; echo; done > "$work/text.txt"
"$anvil" tokenizer train --input "$work/text.txt" --vocab-size 300 --special "<|endoftext|>" \
  --out "$work/tokenizer.json" > /dev/null 2>&1

flags=(--temperature 0 --max-tokens 12)
fail() { echo "FAIL: $*" >&2; exit 1; }
# Output of `anvil generate` for a prompt, as a file (byte-exact; generate ends with one "\n" like chat).
gen() { "$anvil" generate --model "$work/model" --prompt "$1" "${flags[@]}" --stop $'\n\nQuestion:' 2> /dev/null; }

# A random model whose first reply has no NUL byte (the history goes back to `generate` as an argument).
for seed in $(seq 1 20); do
  rm -rf "$work/model"
  "$anvil" model init --config "$work/config.json" --out "$work/model" --seed "$seed" > /dev/null 2>&1
  cp "$work/tokenizer.json" "$work/model/"
  gen $'Question: What is 2 + 3?\n' > "$work/reply1.txt"
  tr -d '\000' < "$work/reply1.txt" | cmp -s - "$work/reply1.txt" && break
done

# With /reset: two independent single-question prompts.
printf 'What is 2 + 3?\n/reset\nWhat is 4 - 1?\n' |
  "$anvil" chat --model "$work/model" "${flags[@]}" > "$work/chat_reset.txt" 2> "$work/chat_reset.err"
{ gen $'Question: What is 2 + 3?\n'; gen $'Question: What is 4 - 1?\n'; } > "$work/want_reset.txt"
cmp "$work/chat_reset.txt" "$work/want_reset.txt" || fail "chat with /reset differs from generate"
grep -q "conversation cleared" "$work/chat_reset.err" || fail "no /reset acknowledgement on stderr"

# Without /reset (and /quit before the third line): the second prompt holds the first exchange.
reply1=$(cat "$work/reply1.txt"; echo x)
reply1=${reply1%$'\nx'}
printf 'What is 2 + 3?\n\nWhat is 4 - 1?\n/quit\nnever answered\n' |
  "$anvil" chat --model "$work/model" "${flags[@]}" > "$work/chat_keep.txt" 2> /dev/null
{ cat "$work/reply1.txt"; gen "Question: What is 2 + 3?"$'\n'"$reply1"$'\n\n'"Question: What is 4 - 1?"$'\n'; } \
  > "$work/want_keep.txt"
cmp "$work/chat_keep.txt" "$work/want_keep.txt" || fail "chat without /reset differs from generate on the history"

# The fp32 KV cache (--kv-cache f32) through both commands: the same equality.
printf 'What is 2 + 3?\n' | "$anvil" chat --model "$work/model" "${flags[@]}" --kv-cache f32 > "$work/chat_f32.txt" 2> /dev/null
"$anvil" generate --model "$work/model" --prompt $'Question: What is 2 + 3?\n' "${flags[@]}" --kv-cache f32 \
  --stop $'\n\nQuestion:' > "$work/want_f32.txt" 2> /dev/null
cmp "$work/chat_f32.txt" "$work/want_f32.txt" || fail "chat --kv-cache f32 differs from generate --kv-cache f32"
# And the int8 one.
printf 'What is 2 + 3?\n' | "$anvil" chat --model "$work/model" "${flags[@]}" --kv-cache int8 > "$work/chat_i8.txt" 2> /dev/null
"$anvil" generate --model "$work/model" --prompt $'Question: What is 2 + 3?\n' "${flags[@]}" --kv-cache int8 \
  --stop $'\n\nQuestion:' > "$work/want_i8.txt" 2> /dev/null
cmp "$work/chat_i8.txt" "$work/want_i8.txt" || fail "chat --kv-cache int8 differs from generate --kv-cache int8"

# Usage errors exit 2; a model directory that is not one exits 1 or 2 with a message.
set +e
"$anvil" generate --model "$work/model" --prompt x --kv-cache bf16 > /dev/null 2> "$work/err.txt"; rc=$?
[[ $rc -eq 2 ]] || fail "--kv-cache bf16 exited $rc, expected 2"
grep -q -- "--kv-cache" "$work/err.txt" || fail "the error does not name --kv-cache"

"$anvil" chat < /dev/null > /dev/null 2>&1; rc=$?
[[ $rc -eq 2 ]] || fail "missing --model exited $rc, expected 2"
"$anvil" chat --model "$work/nowhere" < /dev/null > /dev/null 2> "$work/err.txt"; rc=$?
[[ $rc -eq 2 ]] || fail "missing tokenizer.json exited $rc, expected 2"
grep -q "tokenizer.json" "$work/err.txt" || fail "the error does not name tokenizer.json"
echo "chat_cli_test: ok"
