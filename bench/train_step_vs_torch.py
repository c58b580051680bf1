#!/usr/bin/env python3
"""train_step_vs_torch.py - anvil's forward+backward throughput against PyTorch, measured in the same run.

For each config (S, M) and precision (fp32, bf16) it runs `anvil bench train-step --json` and the peer
script torch_gpt_train.py (nanoGPT-style GPT-2 in Debian's torch 1.13: tied embeddings, erf GELU, 4x MLP,
learned positions, biases — the same architecture as anvil's S/M presets, so FLOPs match). The torch side
runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (that command only) so OpenBLAS picks its AVX-512
kernels, and with --bf16 (autocast) for the bf16 rows. Ratios compare fwd+bwd time: torch's
fwd_s_median + bwd_s_median over anvil's (> 1 means anvil is faster). Torch's own step also includes AdamW
(reported separately); anvil's bench has no optimizer step. Torch's fp32 needs OpenBLAS
(libopenblas0-pthread, in scripts/setup.sh); with Debian's netlib reference BLAS it is ~8x slower.

With --torch-openblas-openmp DIR (default: /tmp/obomp/root/usr/lib/x86_64-linux-gnu/openblas-openmp when
it exists) the torch command also gets LD_LIBRARY_PATH=DIR: OpenBLAS's OpenMP build, which shares torch's
libgomp pool instead of fighting it with its own pthreads (2-4x faster on 2 cores; the "obomp" variant
behind RESULTS.md's anchors). Unpack it once, nothing installed:
  mkdir -p /tmp/obomp && cd /tmp/obomp && apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb root

Usage: python3 bench/train_step_vs_torch.py [--anvil build/anvil] [--configs S,M] [--precisions f32,bf16]
           [--threads 2] [--steps 5] [--warmup 2] [--torch-script /work/shared/peers/torch_gpt_train.py]
"""
import argparse
import json
import os
import subprocess
import sys


from torch_peer import OBOMP_DEFAULT, torch_environment  # bench/torch_peer.py


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in output:\n" + text[-2000:])


def run(cmd, env=None):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)  # stderr (progress) passes through
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}")
    return p.stdout


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anvil", default=os.path.join(here, "..", "build", "anvil"))
    ap.add_argument("--configs", default="S,M")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--torch-script", default="/work/shared/peers/torch_gpt_train.py")
    ap.add_argument("--python", default="/usr/bin/python3", help="a python with torch (Debian's)")
    ap.add_argument("--torch-openblas-openmp", default=OBOMP_DEFAULT if os.path.isdir(OBOMP_DEFAULT) else "",
                    help="run torch with OpenBLAS's OpenMP build from this directory (\"\" = Debian's pthread build)")
    a = ap.parse_args()

    torch_env, torch_blas = torch_environment(a.torch_openblas_openmp)
    print(f"# torch BLAS: {torch_blas}", file=sys.stderr, flush=True)
    rows = []
    for cfg in a.configs.split(","):
        for prec in a.precisions.split(","):
            out = run([a.anvil, "bench", "train-step", "--config", cfg, "--precision", prec, "--threads",
                          str(a.threads), "--steps", str(a.steps), "--warmup", str(a.warmup), "--json"])
            print(out, end="", file=sys.stderr)
            an = last_json(out)
            tcmd = [a.python, a.torch_script, "--config", cfg, "--threads", str(a.threads), "--steps", str(a.steps),
                    "--warmup", str(a.warmup)]
            if prec == "bf16":
                tcmd.append("--bf16")
            tout = run(tcmd, env=torch_env)
            th = last_json(tout)
            rows.append((cfg, prec, an, th))

    print()
    print("| config | precision | anvil fwd+bwd s | torch fwd+bwd s | ratio anvil/torch (speed) | anvil tok/s |"
          " torch tok/s (fwd+bwd) | torch opt s | anvil GFLOP/s | anvil RSS MiB | torch RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cfg, prec, an, th in rows:
        a_s = an["step_s_median"]
        t_s = th["fwd_s_median"] + th["bwd_s_median"]
        n = an["tokens_per_step"]
        print(f"| {cfg} | {prec} | {a_s:.3f} ({an['fwd_s_median']:.3f}+{an['bwd_s_median']:.3f}) | "
              f"{t_s:.3f} ({th['fwd_s_median']:.3f}+{th['bwd_s_median']:.3f}) | {t_s / a_s:.2f}x | "
              f"{an['tokens_per_s_median']:.0f} | {n / t_s:.0f} | {th['opt_s_median']:.3f} | "
              f"{an['model_gflops_per_s_median']:.0f} | {an['peak_rss_mib']:.0f} | {th['peak_rss_mib']:.0f} |")
    print()
    print("anvil per-kernel seconds per step:")
    for cfg, prec, an, _ in rows:
        ks = an["kernels_s"]
        tot = sum(ks.values()) or 1.0
        parts = ", ".join(f"{k} {v:.3f} ({100 * v / tot:.0f}%)" for k, v in ks.items())
        print(f"  {cfg} {prec}: {parts}")
    if rows[0][3].get("openblas") is None:
        print("WARNING: torch did not load OpenBLAS (netlib reference BLAS?): its fp32 times are not the peer's; "
              "install libopenblas0-pthread (scripts/setup.sh).")
    print(f"torch: {rows[0][3].get('torch')}, OpenBLAS {rows[0][3].get('openblas')}; "
          "torch's step also runs AdamW (torch opt s column), not counted in the ratio.")


if __name__ == "__main__":
    main()
