#!/usr/bin/env bash
# e2e: a reduced quickstart (synth -> tokenizer -> shards -> train -> eval -> report) through the real
# CLI, then checks that the reports hold sane numbers: validation loss well under the unigram baseline
# of the data, a well-formed <think> rate, accuracies in [0, 1], and both HTML pages written.
#   tests/e2e/quickstart_test.sh ANVIL_BINARY WORK_DIR
set -euo pipefail
anvil=$(realpath "$1")
work=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
ANVIL="$anvil" QUICKSTART_RUN="$work/run" QUICKSTART_TASKS=8000 QUICKSTART_STEPS=150 QUICKSTART_EVAL=20 \
  bash "$repo/scripts/quickstart.sh"
/usr/bin/python3 - "$work/run" <<'PY'
import json, math, sys, collections
run = sys.argv[1]
metrics = [json.loads(l) for l in open(f"{run}/train/metrics.jsonl") if l.strip()]
train = [m for m in metrics if m["kind"] == "train"]
val = [m for m in metrics if m["kind"] == "val"]
assert len(train) == 150, f"expected 150 train lines, got {len(train)}"
# unigram entropy of the training shards' tokens is the baseline a model must beat
import struct
def tokens(path):
    data = open(path, "rb").read()
    width = struct.unpack_from("<I", data, 12)[0]
    fmt = "H" if width == 2 else "I"
    return struct.unpack_from(f"<{(len(data) - 32) // width}{fmt}", data, 32)
import glob
counts = collections.Counter()
for f in glob.glob(f"{run}/shards/train/*.tok"):
    counts.update(tokens(f))
n = sum(counts.values())
unigram = -sum(c / n * math.log(c / n) for c in counts.values())
final_val = val[-1]["val_loss"]
print(f"unigram baseline {unigram:.3f} nats, first loss {train[0]['loss']:.3f}, final val loss {final_val:.3f}")
assert final_val < 0.5 * unigram, "validation loss is not well below the unigram baseline"
for m in train:
    assert math.isfinite(m["loss"]) and m["tokens_per_s"] > 0 and 0 < m["mfu"] < 1.5 and m["peak_rss_mib"] > 0
report = json.load(open(f"{run}/eval/eval_report.json"))
text = json.dumps(report)
assert "exact_match" in text and "format_rate" in text, "eval report lacks the synthetic task metrics"
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("exact_match", "format_rate") and isinstance(v, (int, float)):
                assert 0.0 <= v <= 1.0, (k, v)
            walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(report)
for page in (f"{run}/train/report.html", f"{run}/eval/eval_report.html"):
    html = open(page).read()
    assert "<svg" in html or "<table" in html, page
print("quickstart e2e: ok")
PY
