#!/usr/bin/env bash
# e2e: a reduced quickstart through the real CLI (`anvil run examples/quickstart.toml` via
# scripts/quickstart.sh's knobs), then checks RUN_DIR/summary.json and report.html hold sane numbers
# (validation loss well under the unigram baseline of the shards, accuracies in [0, 1], throughput and
# MFU plausible, every document accounted for), that a second run reuses every step, that the domain
# model example plans with --dry-run, and that a config error exits 2 naming the key.
#   tests/e2e/quickstart_test.sh ANVIL_BINARY WORK_DIR
set -euo pipefail
anvil=$(realpath "$1")
work=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
knobs=(ANVIL="$anvil" QUICKSTART_RUN="$work/run" QUICKSTART_TASKS=8000 QUICKSTART_STEPS=150 QUICKSTART_EVAL=20)

start=$(date +%s)
env "${knobs[@]}" bash "$repo/scripts/quickstart.sh" | tee "$work/first.log"
echo "first run: $(( $(date +%s) - start )) s"

/usr/bin/python3 - "$work/run" <<'PY'
import collections, glob, json, math, struct, sys
run = sys.argv[1]
s = json.load(open(f"{run}/summary.json"))
steps = {x["step"]: x for x in s["steps"]}
assert all(steps[k]["status"] == "completed" for k in ("synth", "prep", "tokenizer", "tokenize", "train", "eval")), steps
d = s["data"]
assert d["docs_in"] == d["docs_kept"] + d["docs_dropped"], d
assert d["docs_kept"] > 6000 and d["output_docs"] > 0, d
assert any(k != "mixing_downsample" for k in d["dropped"]) or d["docs_dropped"] == 0, d  # cleaning counted by reason
assert s["tokens"]["train"] > 100000 and s["tokens"]["val"] > 0, s["tokens"]
t = s["train"]
assert t["steps"] == 150, t
assert 0 < t["tokens_per_s"] and 0 < t["mfu"] < 1.5, t
metrics = [json.loads(l) for l in open(f"{run}/05-train/metrics.jsonl") if l.strip()]
assert len([m for m in metrics if m["kind"] == "train"]) == 150
counts = collections.Counter()
for f in glob.glob(f"{run}/04-tokenize/train/*.tok"):
    data = open(f, "rb").read()
    width = struct.unpack_from("<I", data, 12)[0]
    counts.update(struct.unpack_from(f"<{(len(data) - 32) // width}{'H' if width == 2 else 'I'}", data, 32))
n = sum(counts.values())
unigram = -sum(c / n * math.log(c / n) for c in counts.values())
print(f"unigram baseline {unigram:.3f} nats, loss {t['first_loss']:.3f} -> {t['final_loss']:.3f}, "
      f"final val loss {t['final_val_loss']:.3f}")
assert math.isfinite(t["final_loss"]) and t["final_val_loss"] < 0.5 * unigram, "val loss not well below unigram"
held = s["eval"]["held_out"]
assert set(held) == {"cot", "direct"}, held
for style, v in held.items():
    assert 0.0 <= v["exact_match"] <= 1.0 and 0.0 <= v["format_rate"] <= 1.0, (style, v)
print(f"held-out exact match: {held['cot']['exact_match']:.0%} with <think>, {held['direct']['exact_match']:.0%} direct")
html = open(f"{run}/report.html").read()
for part in ("<svg", "prep_report.html", "05-train/report.html", "cot/eval_report.html", "direct/eval_report.html",
             "fortunes"):
    assert part in html, part
assert "<script" not in html and 'src="http' not in html and 'href="http' not in html
for page in ("02-prep/prep_report.html", "05-train/report.html", "06-eval/cot/eval_report.html",
             "06-eval/direct/eval_report.html"):
    assert "<table" in open(f"{run}/{page}").read(), page
print("summary and report: ok")
PY
grep -q "Report:   $work/run/report.html" "$work/first.log"
grep -q "held-out exact match, <think>" "$work/first.log"

# A second run changes nothing: every step is reused and nothing is rewritten.
before=$(cat "$work"/run/0*/step.json | md5sum)
env "${knobs[@]}" bash "$repo/scripts/quickstart.sh" | tee "$work/second.log"
[ "$(grep -c ' reused (unchanged' "$work/second.log")" -eq 7 ]
! grep -q "running" "$work/second.log"
[ "$(cat "$work"/run/0*/step.json | md5sum)" = "$before" ]

# A changed eval setting reruns eval and report only (dry run: the plan).
env "${knobs[@]}" bash "$repo/scripts/quickstart.sh" --set eval.limit=10 --dry-run | tee "$work/plan.log"
[ "$(grep -c ' reuse ' "$work/plan.log")" -eq 5 ]
grep -q "6 eval *run *settings changed" "$work/plan.log"

# Ctrl-C during training (SIGINT to `anvil run`, as a terminal sends it): the trainer checkpoints, the
# step is marked interrupted, the command exits 130 and upstream steps stay completed; the next run
# resumes training from that checkpoint (not from step 0), finishes it and reruns eval and report.
longer=(QUICKSTART_STEPS=400)
env "${knobs[@]}" "${longer[@]}" bash "$repo/scripts/quickstart.sh" > "$work/interrupt.log" 2>&1 &
pid=$!
train_lines() {  # training steps logged so far in this attempt's metrics.jsonl
  local f="$work/run/05-train/metrics.jsonl"
  if [ -f "$f" ]; then grep -c '"kind":"train"' "$f" || true; else echo 0; fi
}
for _ in $(seq 1200); do
  # the rerun starts a fresh metrics.jsonl: wait until it is well into the new schedule
  if grep -q "running" "$work/interrupt.log" && [ "$(train_lines)" -ge 40 ] &&
     [ "$(train_lines)" -lt 150 ]; then break; fi
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
cat "$work/interrupt.log" | tr '\r' '\n' | tail -5
[ "$rc" -eq 130 ] || { echo "interrupted run exited $rc, want 130"; exit 1; }
/usr/bin/python3 - "$work/run" <<'PY'
import json, sys
run = sys.argv[1]
st = {s: json.load(open(f"{run}/{s}/step.json"))["status"] for s in ("01-synth", "02-prep", "03-tokenizer", "04-tokenize", "05-train")}
assert st["05-train"] == "interrupted" and all(v == "completed" for k, v in st.items() if k != "05-train"), st
PY
steps_at_stop=$(train_lines)
env "${knobs[@]}" "${longer[@]}" bash "$repo/scripts/quickstart.sh" > "$work/resume.log" 2>&1
grep -q "\[5/7\] train *resuming (previous attempt interrupted" "$work/resume.log" ||
  { grep -n "train" "$work/resume.log" | head; exit 1; }
from=$(sed -nE 's/.*train: resuming from the checkpoint at step ([0-9]+).*/\1/p' "$work/resume.log")
[ -n "$from" ] && [ "$from" -ge $((steps_at_stop - 1)) ] && [ "$from" -le $((steps_at_stop + 1)) ] ||
  { echo "resumed from step '$from', but $steps_at_stop steps were logged before the interrupt"; exit 1; }
/usr/bin/python3 - "$work/run" "$steps_at_stop" <<'PY'
import json, sys
run, at_stop = sys.argv[1], int(sys.argv[2])
steps = [json.loads(l)["step"] for l in open(f"{run}/05-train/metrics.jsonl") if '"kind":"train"' in l]
assert steps[-1] == 400, steps[-5:]
assert steps[0] == 1 and len(steps) >= 400, "the resumed run lost the steps before the interrupt"
s = json.load(open(f"{run}/summary.json"))
assert all(x["status"] == "completed" for x in s["steps"]), s["steps"]
print(f"interrupted after {at_stop} train steps, resumed to 400: ok")
PY

# --serve: after the steps (eval reruns first, so the OpenMP pool exists when serving starts), the trained
# model answers over HTTP until SIGINT; then the command drains and exits 0.
env "${knobs[@]}" "${longer[@]}" bash "$repo/scripts/quickstart.sh" --serve --set serve.port=0 \
  --set eval.limit=5 > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1500); do
  grep -q "listening on http" "$work/serve.log" && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.2
done
port=$(sed -nE 's/.*listening on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$work/serve.log")
[ -n "$port" ] || { echo "anvil run --serve did not start serving:"; tail -20 "$work/serve.log"; exit 1; }
/usr/bin/python3 - "$port" <<'PY'
import json, sys, urllib.request
port = sys.argv[1]
body = json.dumps({"model": "run", "prompt": "Question: What is 12 + 30?\n", "max_tokens": 40,
                   "temperature": 0}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"})
r = json.load(urllib.request.urlopen(req, timeout=60))
assert r["model"] == "run" and r["choices"][0]["text"], r
models = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10))
assert [m["id"] for m in models["data"]] == ["run"], models
print("served after the run:", repr(r["choices"][0]["text"][:60]))
PY
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 0 ] || { echo "anvil run --serve exited $rc after SIGINT, want 0"; tail -5 "$work/serve.log"; exit 1; }
grep -q "stopped after 1 completed requests" "$work/serve.log"

# The domain model example parses and plans (its data files are placeholders).
cd "$repo"
"$anvil" run --dry-run examples/domain_model.toml --set "run.dir='$work/domain'" | tee "$work/domain.log"
grep -q "2 prep *run *input 'data/general/web.jsonl.zst' does not exist" "$work/domain.log"

# A mistyped key is a usage error naming the key path and line.
sed -E 's/^steps = ([0-9]+)/stepz = \1/' examples/quickstart.toml > "$work/bad.toml"
grep -q '^stepz = ' "$work/bad.toml"  # the misspelling really is in the config under test
set +e
"$anvil" run "$work/bad.toml" 2> "$work/bad.err"
rc=$?
set -e
[ "$rc" -eq 2 ]
grep -q "unknown key 'train.schedule.stepz' (line" "$work/bad.err"
# The same for `anvil train` with its own config format.
sed -E 's/^lr = /lr = "fast" # /' examples/train.toml > "$work/bad_train.toml"
set +e
"$anvil" train --config "$work/bad_train.toml" 2> "$work/bad_train.err"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "anvil train on a mistyped config exited $rc, want 2"; cat "$work/bad_train.err"; exit 1; }
grep -q "optim.lr" "$work/bad_train.err"
echo "quickstart e2e: ok"
