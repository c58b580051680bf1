#!/usr/bin/env bash
# `anvil lm train|score|info` through the real CLI: a model trained on generated text scores an in-domain
# document lower (perplexity) than an off-domain one, a broken JSONL line is skipped and reported with
# its file, `info` reads the ARPA back, and a missing model or input is an error with the right code.
# Usage: lm_cli_test.sh ANVIL WORK_DIR
set -euo pipefail
anvil=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
for i in $(seq 400); do echo "the cat sat on the mat number $((i % 17)) and the dog sat on the log"; done > ref.txt
"$anvil" lm train --input ref.txt --order 3 --out m.arpa 2> train.err || fail "train: $(cat train.err)"
grep -q "wrote 'm.arpa'" train.err || fail "train did not report the ARPA file: $(cat train.err)"
printf '%s\n' '{"id":"in","text":"the cat sat on the mat"}' '{broken' \
  '{"id":"off","text":"quantum chromodynamics renormalises gluons"}' > docs.jsonl
"$anvil" lm score --model m.arpa --input docs.jsonl > scores.tsv 2> score.err || fail "score: $(cat score.err)"
grep -q "'docs.jsonl': 1 bad records skipped" score.err || fail "the broken line was not reported: $(cat score.err)"
/usr/bin/python3 - scores.tsv <<'PY' || fail "scores: $(cat scores.tsv)"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert rows[0] == ["id", "perplexity", "tokens"], rows[0]
pp = {r[0]: float(r[1]) for r in rows[1:]}
assert set(pp) == {"in", "off"}, pp
assert pp["in"] < pp["off"] / 10, pp
PY
"$anvil" lm info --model m.arpa > info.txt
grep -q "^order: 3" info.txt || fail "info: $(cat info.txt)"
rc=0; "$anvil" lm score --model missing.arpa --input docs.jsonl > /dev/null 2> err.txt || rc=$?
[ "$rc" = 2 ] && grep -q "missing.arpa" err.txt || fail "missing model: exit $rc, $(cat err.txt)"
rc=0; "$anvil" lm train --input nope.txt --out x.arpa > /dev/null 2> err.txt || rc=$?
[ "$rc" != 0 ] && grep -q "nope.txt" err.txt || fail "missing input: exit $rc, $(cat err.txt)"
echo "lm CLI: all checks passed"
