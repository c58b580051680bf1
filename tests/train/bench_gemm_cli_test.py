#!/usr/bin/python3
"""bench_gemm_cli_test.py ANVIL - the shape of `anvil bench gemm --json` (what bench scripts and docs/train.md
read): one row per (precision, size) with positive rates, per-precision peaks equal to the best row, the
reference denominators of train/trainer.h, and usage errors exiting 2. Timings are never compared to a bar."""
import json
import subprocess
import sys

REFERENCE_PER_CORE = {"f32": 250.0, "bf16": 500.0}  # train/trainer.h kGemmPeak*PerCoreGflops


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    anvil = sys.argv[1]
    cmd = [anvil, "bench", "gemm", "--threads", "1", "--sizes", "64,96", "--seconds", "0.02", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if len(lines) != 1:
        fail(f"expected one JSON line, got {len(lines)}:\n{p.stdout}")
    j = json.loads(lines[0])
    if j.get("bench") != "anvil_gemm" or j.get("threads") != 1:
        fail(f"bench/threads: {j}")
    rows = j["results"]
    got = [(r["precision"], r["n"]) for r in rows]
    if got != [("f32", 64), ("f32", 96), ("bf16", 64), ("bf16", 96)]:
        fail(f"rows {got}")
    for r in rows:
        if not (r["calls"] >= 3 and r["seconds"] >= 0.02 and 0 < r["gflops_median"] <= r["gflops_best"]):
            fail(f"row {r}")
    for prec in ("f32", "bf16"):
        peak = j["peak_gflops"][prec]
        best = max(r["gflops_best"] for r in rows if r["precision"] == prec)
        if peak["measured"] != best:
            fail(f"{prec}: measured peak {peak['measured']} is not the best row {best}")
        if peak["reference"] != REFERENCE_PER_CORE[prec]:
            fail(f"{prec}: reference {peak['reference']} != {REFERENCE_PER_CORE[prec]} x 1 thread")

    for bad in (["--precisions", "f16"], ["--sizes", "0"], ["--seconds", "0"]):
        p = subprocess.run([anvil, "bench", "gemm", *bad], capture_output=True, text=True, timeout=60)
        if p.returncode != 2:
            fail(f"bench gemm {' '.join(bad)}: exit {p.returncode}, expected 2 (usage)")
    print("ok")


if __name__ == "__main__":
    main()
