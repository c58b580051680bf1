#!/usr/bin/python3
"""e2e: `anvil train` killed with SIGKILL at a random step, then `anvil train --resume`, produces the
same per-step losses as an uninterrupted run (issue 3: checkpoints resume bit-exactly).

  resume_sigkill_test.py ANVIL_BINARY WORK_DIR
The data is a small synthetic corpus made with the real CLI (synth -> tokenizer -> tokenize).
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

STEPS = 40
CHECKPOINT_EVERY = 4

CONFIG = """
[run]
dir = "{run}"
seed = 7
[model]
config = "{work}/model.json"
[data]
train = ["{work}/shards/train"]
val = ["{work}/shards/val"]
context = 32
batch_size = 4
grad_accum = 2
[optim]
name = "adamw"
lr = 3e-3
min_lr = 3e-4
[schedule]
kind = "cosine"
steps = {steps}
warmup = 4
[log]
val_every = 10
val_batches = 2
[checkpoint]
every = {every}
keep_last = 2
"""

MODEL = {"model_type": "llama", "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 64, "resid_dropout": 0.1}


def sh(*cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def losses(run):
    out = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            try:
                j = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of the killed run
            if j.get("kind") == "train":
                out[j["step"]] = j["loss"]
    return out


def main():
    anvil, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sh(anvil, "synth", "--task", "arithmetic", "--n", "3000", "--format", "text", "--out", f"{work}/train.txt")
    sh(anvil, "tokenizer", "train", "--input", f"{work}/train.txt", "--vocab-size", "300",
       "--special", "<|endoftext|>", "--out", f"{work}/tok.json", stderr=subprocess.DEVNULL)
    sh(anvil, "tokenize", "--tokenizer", f"{work}/tok.json", "--input", f"{work}/train.txt", "--format", "text",
       "--val-fraction", "0.05", "--out", f"{work}/shards", stderr=subprocess.DEVNULL)
    with open(f"{work}/model.json", "w") as f:
        json.dump(MODEL, f)
    env = dict(os.environ, OMP_NUM_THREADS="2")

    def config(name):
        path = f"{work}/{name}.toml"
        with open(path, "w") as f:
            f.write(CONFIG.format(run=f"{work}/{name}", work=work, steps=STEPS, every=CHECKPOINT_EVERY))
        return path

    # A: uninterrupted.
    sh(anvil, "-t", "2", "train", "--config", config("a"), env=env, stderr=subprocess.DEVNULL)
    ref = losses(f"{work}/a")
    assert len(ref) == STEPS, f"run a wrote {len(ref)} train lines"

    # B: SIGKILL once the run has passed a random step after its first checkpoint, then resume.
    kill_after = random.Random().randint(CHECKPOINT_EVERY + 1, STEPS - 3)
    p = subprocess.Popen([anvil, "-t", "2", "train", "--config", config("b")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(f"{work}/b/metrics.jsonl") and max(losses(f"{work}/b"), default=0) >= kill_after:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    p.wait()
    killed_at = max(losses(f"{work}/b"), default=0)
    print(f"killed with SIGKILL at step {killed_at} (aimed after {kill_after}); resuming")
    if killed_at >= STEPS:
        print("the run finished before the kill landed; nothing to resume (the comparison below still holds)")
    else:
        sh(anvil, "-t", "2", "train", "--resume", f"{work}/b", env=env, stderr=subprocess.DEVNULL)
    got = losses(f"{work}/b")
    assert sorted(got) == list(range(1, STEPS + 1)), f"resumed run has steps {sorted(got)}"
    bad = [s for s in range(1, STEPS + 1) if got[s] != ref[s]]
    assert not bad, f"losses differ at steps {bad[:5]}: {[(ref[s], got[s]) for s in bad[:5]]}"
    print(f"resume after SIGKILL: all {STEPS} losses bit-identical to the uninterrupted run")


if __name__ == "__main__":
    main()
