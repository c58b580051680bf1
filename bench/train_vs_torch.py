#!/usr/bin/python3
"""train_vs_torch.py - `anvil train` (the whole training loop) against PyTorch, measured in the same run.

For each config (S, M) and precision (f32, bf16) it writes a shard of uniform random tokens in the token
shard format (docs/formats/token_shards.md), a GPT-2 config.json and a run TOML (AdamW, warmup + cosine,
clip 1.0, validation and checkpoint only at the end), runs `anvil train` for warmup + steps optimizer
steps, and reads RUN_DIR/metrics.jsonl: median tokens/s and MFU over the steps after the warmup, peak RSS
of the training loop. Then it runs the peer /work/shared/peers/torch_gpt_train.py (nanoGPT-style GPT-2 in
Debian's torch 1.13, the same architecture and shapes, AdamW; bf16 = autocast) with the same warmup and
steps, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in its command only so OpenBLAS uses AVX-512.
anvil and torch alternate (with --repeats R the order flips each repeat; the table takes the median over
repeats). Process peak RSS of both comes from wait4() (what /usr/bin/time -f %M prints). The table is
markdown; ratio > 1 means anvil is faster. torch's step has no gradient clipping; anvil's has clip 1.0.
With --torch-openblas-openmp DIR (default: /tmp/obomp/root/usr/lib/x86_64-linux-gnu/openblas-openmp when
it exists) the torch command also gets LD_LIBRARY_PATH=DIR: OpenBLAS's OpenMP build, which shares torch's
libgomp pool instead of fighting it with its own pthreads (2-4x faster on 2 cores; the "obomp" variant
behind RESULTS.md's anchors). Unpack it once, nothing installed:
  mkdir -p /tmp/obomp && cd /tmp/obomp && apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb root

Usage: /usr/bin/python3 bench/train_vs_torch.py [--anvil build/anvil] [--configs S,M] [--precisions f32,bf16]
           [--steps N (default S 30, M 10)] [--warmup 2] [--threads 2] [--repeats 1] [--mfu-peak reference]
           [--no-torch] [--omp-wait-policy passive] [--work-dir DIR] [--json-out FILE]
On 2 quiet cores the default table (S and M, f32 and bf16) should take ~5-6 minutes (estimated from RESULTS.md
rates; not yet timed). On a busy machine torch (pthread OpenBLAS + libgomp) can run 10-20x slower.
The config "tiny" (no torch peer) exists for tests/train: it checks that the TOML this script writes is
one `anvil train` accepts and that metrics.jsonl has what the table reads.
"""
import argparse
import array
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

# Shapes of issue 2's configs (torch_gpt_model.CONFIGS has the same S and M).
CONFIGS = {
    "S": {"vocab": 8192, "d_model": 256, "n_layer": 4, "n_head": 4, "context": 256, "batch": 16, "steps": 30},
    "M": {"vocab": 32768, "d_model": 512, "n_layer": 8, "n_head": 8, "context": 512, "batch": 8, "steps": 10},
    "tiny": {"vocab": 96, "d_model": 32, "n_layer": 2, "n_head": 2, "context": 16, "batch": 4, "steps": 2},
}
SHARD_MAGIC = b"ANVLTOKS"
SHARD_VERSION = 1
MIB = 1024.0 * 1024.0


from torch_peer import OBOMP_DEFAULT, torch_environment  # bench/torch_peer.py


def write_shard(path, n_tokens, vocab, seed):
    """Uniform random tokens; header <8s u32 version, u32 bytes per token, u64 count, u32 vocab, u32 0>."""
    width = 2 if vocab <= 65536 else 4
    rng = random.Random(seed)
    toks = array.array("H" if width == 2 else "I", (rng.randrange(vocab) for _ in range(n_tokens)))
    if sys.byteorder != "little":
        toks.byteswap()
    with open(path, "wb") as f:
        f.write(struct.pack("<8sIIQII", SHARD_MAGIC, SHARD_VERSION, width, n_tokens, vocab, 0))
        f.write(toks.tobytes())


def model_config_json(c):
    return {"model_type": "gpt2", "vocab_size": c["vocab"], "n_positions": c["context"], "n_embd": c["d_model"],
            "n_layer": c["n_layer"], "n_head": c["n_head"], "activation_function": "gelu", "embd_pdrop": 0,
            "resid_pdrop": 0, "attn_pdrop": 0}


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def train_toml(run_dir, model_json, shard, c, steps, precision, mfu_peak, seed=1337):
    """The run file of one measurement: every table `anvil train` reads (examples/train.toml)."""
    log = {"val_every": 0, "val_batches": 1}
    if mfu_peak == "measure":
        log["measure_peak"] = True
    elif mfu_peak != "reference":
        log["peak_gflops"] = float(mfu_peak)
    tables = {
        "run": {"dir": run_dir, "seed": seed},
        "model": {"config": model_json},
        "data": {"train": [shard], "context": c["context"], "batch_size": c["batch"], "grad_accum": 1},
        "optim": {"name": "adamw", "lr": 3e-4, "min_lr": 3e-5, "betas": [0.9, 0.95], "eps": 1e-8,
                  "weight_decay": 0.1, "clip": 1.0},
        "schedule": {"kind": "cosine", "steps": steps, "warmup": 0.1},
        "train": {"precision": precision},
        "log": log,
        "checkpoint": {"every": 0, "keep_last": 1},
    }
    out = []
    for name, kv in tables.items():
        out.append(f"[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_measured(cmd, env, log_path):
    """Runs cmd (stdout + stderr to log_path); returns (exit code, wall s, peak RSS MiB from wait4)."""
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, time.perf_counter() - t0, ru.ru_maxrss / 1024.0


def tail(path, n=3000):
    with open(path, errors="replace") as f:
        return f.read()[-n:]


def run_anvil(a, cfg, prec, steps, work, env):
    c = CONFIGS[cfg]
    d = os.path.join(work, f"anvil_{cfg}_{prec}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model_json = os.path.join(d, "config.json")
    with open(model_json, "w") as f:
        json.dump(model_config_json(c), f)
    shard = os.path.join(d, "train.tok")
    # Enough windows of context+1 tokens that the measured steps never wrap an epoch, plus validation's one batch.
    write_shard(shard, (steps + 2) * c["batch"] * (c["context"] + 1), c["vocab"], seed=1)
    run_dir = os.path.join(d, "run")
    toml_path = os.path.join(d, "run.toml")
    with open(toml_path, "w") as f:
        f.write(train_toml(run_dir, model_json, shard, c, steps, prec, a.mfu_peak))
    log_path = os.path.join(d, "anvil.log")
    rc, wall, rss = run_measured([a.anvil, "--threads", str(a.threads), "train", "--config", toml_path], env, log_path)
    if rc != 0:
        raise RuntimeError(f"anvil train ({cfg} {prec}) exited {rc}:\n{tail(log_path)}")
    lines = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            lines.append(json.loads(line))
    train = [x for x in lines if x["kind"] == "train"]
    start = next(x for x in lines if x.get("event") == "start")
    if len(train) != steps:
        raise RuntimeError(f"anvil train ({cfg} {prec}): metrics.jsonl has {len(train)} train lines, expected {steps}")
    want_source = {"reference": "reference", "measure": "measured"}.get(a.mfu_peak, "config")
    if start.get("peak_source") != want_source:
        raise RuntimeError(f"anvil train ({cfg} {prec}): MFU peak source {start.get('peak_source')!r}, expected "
                           f"{want_source!r} for --mfu-peak {a.mfu_peak}")
    measured = train[a.warmup:]
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)  # M's is ~0.5 GB
    tok_s = statistics.median(x["tokens_per_s"] for x in measured)
    return {
        "tokens_per_s": tok_s,
        "step_s": statistics.median(x["step_s"] for x in measured),
        "mfu": statistics.median(x["mfu"] for x in measured),
        "peak_gflops": start.get("peak_gflops"),
        "peak_source": start.get("peak_source"),
        "params": start["params"],
        "train_peak_rss_mib": max(x["peak_rss_mib"] for x in train),
        "process_peak_rss_mib": rss,
        "first_loss": train[0]["loss"],
        "last_loss": train[-1]["loss"],
        "wall_s": wall,
    }


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in output:\n" + text[-2000:])


def run_torch(a, cfg, prec, steps, work, env):
    cmd = [a.python, a.torch_script, "--config", cfg, "--threads", str(a.threads), "--warmup", str(a.warmup),
           "--steps", str(steps - a.warmup)]
    if prec == "bf16":
        cmd.append("--bf16")
    log_path = os.path.join(work, f"torch_{cfg}_{prec}.log")
    rc, wall, rss = run_measured(cmd, env, log_path)
    if rc != 0:
        raise RuntimeError(f"torch ({cfg} {prec}) exited {rc}:\n{tail(log_path)}")
    j = last_json(tail(log_path, 20000))
    return {
        "tokens_per_s": j["tokens_per_s_median"],
        "step_s": j["step_s_median"],
        "gflops": j["model_gflops_per_s_median"],
        "params": j["params_total"],
        "openblas": j.get("openblas"),
        "process_peak_rss_mib": rss,
        "wall_s": wall,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anvil", default=os.path.join(here, "..", "build", "anvil"))
    ap.add_argument("--configs", default="S,M", help="comma list of " + ", ".join(CONFIGS))
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--steps", type=int, default=0, help="measured steps per run (0 = S 30, M 10)")
    ap.add_argument("--warmup", type=int, default=2, help="steps run first and not measured")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="anvil/torch pairs per row, order alternating")
    ap.add_argument("--mfu-peak", default="reference",
                    help="anvil's MFU denominator: reference (default), measure ([log] measure_peak), or GFLOP/s")
    ap.add_argument("--no-torch", action="store_true", help="anvil only (the test of this script)")
    ap.add_argument("--omp-wait-policy", default=None, help="set OMP_WAIT_POLICY for both sides (e.g. passive)")
    ap.add_argument("--torch-script", default="/work/shared/peers/torch_gpt_train.py")
    ap.add_argument("--python", default="/usr/bin/python3", help="a python with torch (Debian's)")
    ap.add_argument("--torch-openblas-openmp", default=OBOMP_DEFAULT if os.path.isdir(OBOMP_DEFAULT) else "",
                    help="run torch with OpenBLAS's OpenMP build from this directory (\"\" = Debian's pthread build)")
    ap.add_argument("--work-dir", default=None, help="shards, run dirs and logs (default: a temp dir, removed)")
    ap.add_argument("--json-out", default=None, help="also write the rows as JSON here")
    a = ap.parse_args()
    if a.mfu_peak not in ("reference", "measure"):
        try:
            if float(a.mfu_peak) <= 0:
                raise ValueError
        except ValueError:
            ap.error(f"--mfu-peak must be reference, measure or a positive number, got {a.mfu_peak!r}")
    configs = a.configs.split(",")
    for cfg in configs:
        if cfg not in CONFIGS:
            ap.error(f"unknown config {cfg!r} (known: {', '.join(CONFIGS)})")
        if cfg == "tiny" and not a.no_torch:
            ap.error("config tiny has no torch peer: add --no-torch")
    if a.warmup < 0 or a.steps < 0 or a.repeats < 1:
        ap.error("--warmup and --steps must be >= 0, --repeats >= 1")
    precisions = a.precisions.split(",")
    for p in precisions:
        if p not in ("f32", "bf16"):
            ap.error(f"--precisions takes f32 and/or bf16, got {p!r}")
    a.anvil = os.path.abspath(a.anvil)

    env = dict(os.environ)
    if a.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = a.omp_wait_policy
    torch_env, torch_blas = torch_environment(a.torch_openblas_openmp, env)
    print(f"# torch BLAS: {torch_blas}", file=sys.stderr, flush=True)
    work = a.work_dir or tempfile.mkdtemp(prefix="anvil_train_vs_torch_")
    os.makedirs(work, exist_ok=True)
    load_start = loadavg()
    print(f"# loadavg at start: {load_start}", file=sys.stderr, flush=True)

    rows = []
    for cfg in configs:
        steps = a.warmup + (a.steps or CONFIGS[cfg]["steps"])
        for prec in precisions:
            load0 = loadavg().split()[0]
            an, th = [], []
            for r in range(a.repeats):
                order = ["anvil", "torch"] if r % 2 == 0 else ["torch", "anvil"]
                for side in order:
                    if side == "anvil":
                        an.append(run_anvil(a, cfg, prec, steps, work, env))
                    elif not a.no_torch:
                        th.append(run_torch(a, cfg, prec, steps, work, torch_env))
            row = {"config": cfg, "precision": prec, "load_start": load0, "load_end": loadavg().split()[0],
                   "anvil": an, "torch": th}
            rows.append(row)
            print(f"# {cfg} {prec}: anvil {statistics.median(x['tokens_per_s'] for x in an):.0f} tok/s"
                  + (f", torch {statistics.median(x['tokens_per_s'] for x in th):.0f} tok/s" if th else ""),
                  file=sys.stderr, flush=True)
    load_end = loadavg()

    def med(runs, key):
        return statistics.median(x[key] for x in runs)

    print()
    print("| config | precision | anvil tok/s | torch tok/s | anvil/torch | anvil MFU | torch MFU | "
          "anvil peak RSS MiB (train / process) | torch peak RSS MiB | load 1m start→end |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    peaks = {}
    for row in rows:
        an, th = row["anvil"], row["torch"]
        a_tps, mfu, peak = med(an, "tokens_per_s"), med(an, "mfu"), an[0]["peak_gflops"]
        peaks.setdefault(row["precision"], f"{an[0]['peak_source']} {peak:.0f}")
        a_rss = f"{max(x['train_peak_rss_mib'] for x in an):.0f} / {max(x['process_peak_rss_mib'] for x in an):.0f}"
        t_tps = t_ratio = t_mfu = t_rss = "—"
        if th:
            t_tps = f"{med(th, 'tokens_per_s'):.0f}"
            t_ratio = f"{a_tps / med(th, 'tokens_per_s'):.2f}x"
            t_mfu = f"{100 * med(th, 'gflops') / peak:.1f}%"  # torch's model FLOP/s over anvil's denominator
            t_rss = f"{max(x['process_peak_rss_mib'] for x in th):.0f}"
        print(f"| {row['config']} | {row['precision']} | {a_tps:.0f} | {t_tps} | {t_ratio} | {100 * mfu:.1f}% | "
              f"{t_mfu} | {a_rss} | {t_rss} | {row['load_start']}→{row['load_end']} |")
    print()
    denominators = ", ".join(f"{p}: {v}" for p, v in peaks.items())
    print(f"loadavg (1m 5m 15m): start {load_start}, end {load_end}. {a.threads} threads, warmup {a.warmup} steps "
          f"not measured, {a.repeats} repeat(s). MFU denominator GFLOP/s ({denominators}); model FLOPs "
          "6N + 12*L*d*T per token (N without wpe) on both sides.")
    for row in rows:
        if row["torch"] and row["anvil"][0]["params"] != row["torch"][0]["params"]:
            print(f"WARNING: {row['config']}: anvil has {row['anvil'][0]['params']} parameters, torch "
                  f"{row['torch'][0]['params']}: the configs differ")
    if any(r["torch"] for r in rows):
        tr = next(r["torch"][0] for r in rows if r["torch"])
        if tr.get("openblas") is None:
            print("WARNING: torch did not load OpenBLAS (netlib reference BLAS?): its fp32 numbers are not the "
                  "peer's; install libopenblas0-pthread (scripts/setup.sh).")
        print(f"torch: OpenBLAS {tr.get('openblas')}, OPENBLAS_CORETYPE unset; no gradient clipping (anvil: clip 1.0).")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"load_start": load_start, "load_end": load_end, "threads": a.threads, "rows": rows}, f, indent=1)
    if not a.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
