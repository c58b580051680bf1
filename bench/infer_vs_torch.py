#!/usr/bin/python3
"""Batch-1 inference against PyTorch with a KV cache, in one run: greedy decode tokens/s and time to first
token of `anvil generate` and of a plain PyTorch LLaMA (RMSNorm, half-split RoPE, SwiGLU, a preallocated
KV cache, the full LM head every token; torch.no_grad, fp32, the same thread count), on random weights of
the LLaMA shapes of ../shared/peers/RESULTS.md (15M; --models llama110m adds 110M). The two alternate RUNS
times; medians and the ratio of medians are printed as a Markdown table. The prompt is bench/serve_bench.py's
(53 bytes: 53 tokens for both). anvil's TTFT is a cold process's first prefill (tokenisation included);
PyTorch's is measured after a warm-up forward. The torch side runs as bench/torch_peer.py describes
(OpenBLAS with its AVX-512 kernels; --torch-openblas-openmp for the OpenMP build).
  /usr/bin/python3 bench/infer_vs_torch.py [--anvil build/anvil] [--models llama15m] [--tokens 128] [--runs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_bench import MODELS, PROMPT, ROOT, engine_alone, make_model  # noqa: E402  bench/serve_bench.py
from torch_peer import torch_environment  # noqa: E402  bench/torch_peer.py

TORCH_DECODE = r"""
import json, sys, time
import torch
cfg, n_prompt, n_tokens, threads = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(1)
C, L, H = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
D, F, V, S = C // H, cfg["intermediate_size"], cfg["vocab_size"], n_prompt + n_tokens
w = lambda o, i: torch.randn(o, i) * 0.02
emb, head, norm_f = torch.randn(V, C) * 0.02, w(V, C), torch.ones(C)
layers = [dict(q=w(C, C), k=w(C, C), v=w(C, C), o=w(C, C), g=w(F, C), u=w(F, C), d=w(C, F), n1=torch.ones(C),
               n2=torch.ones(C)) for _ in range(L)]
inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2).float() / D))
ang = torch.outer(torch.arange(S).float(), inv)
cos, sin = ang.cos(), ang.sin()
K, Vc = torch.zeros(L, H, S, D), torch.zeros(L, H, S, D)

def rms(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g

def rope(x, pos):  # (T, H, D), the two halves rotated as a pair
    c, s = cos[pos].unsqueeze(1), sin[pos].unsqueeze(1)
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], -1)

def forward(ids, p0):  # logits of the last of len(ids) tokens at positions p0..
    T = len(ids)
    pos = torch.arange(p0, p0 + T)
    x = emb[ids]
    mask = torch.full((T, p0 + T), float("-inf")).triu(p0 + 1)
    for l, lw in enumerate(layers):
        h = rms(x, lw["n1"])
        q, k, v = ((h @ lw[n].T).view(T, H, D) for n in "qkv")
        q, k = rope(q, pos), rope(k, pos)
        K[l, :, p0 : p0 + T], Vc[l, :, p0 : p0 + T] = k.transpose(0, 1), v.transpose(0, 1)
        att = torch.softmax(q.transpose(0, 1) @ K[l, :, : p0 + T].transpose(1, 2) / D**0.5 + mask, -1)
        x = x + (att @ Vc[l, :, : p0 + T]).transpose(0, 1).reshape(T, C) @ lw["o"].T
        h = rms(x, lw["n2"])
        x = x + (torch.nn.functional.silu(h @ lw["g"].T) * (h @ lw["u"].T)) @ lw["d"].T
    return rms(x[-1:], norm_f) @ head.T

with torch.no_grad():
    ids = torch.randint(0, V, (n_prompt,))
    forward(ids[:4], 0)  # warm-up (positions rewritten below)
    t0 = time.perf_counter()
    tok = int(forward(ids, 0).argmax())
    t1 = time.perf_counter()
    for i in range(n_tokens):
        tok = int(forward(torch.tensor([tok]), n_prompt + i).argmax())
    t2 = time.perf_counter()
print(json.dumps({"ttft_ms": (t1 - t0) * 1e3, "decode_tok_s": n_tokens / (t2 - t1)}))
"""


def torch_decode(cfg, n_prompt, n_tokens, threads, env):
    r = subprocess.run(["/usr/bin/python3", "-c", TORCH_DECODE, json.dumps(cfg), str(n_prompt), str(n_tokens),
                        str(threads)], check=True, capture_output=True, text=True, env=env)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out["decode_tok_s"], out["ttft_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anvil", default=os.path.join(ROOT, "build/anvil"))
    ap.add_argument("--models", default="llama15m", help="comma-separated: llama15m, llama110m")
    ap.add_argument("--tokens", type=int, default=128, help="tokens decoded per run")
    ap.add_argument("--runs", type=int, default=3, help="alternations of anvil and PyTorch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-openblas-openmp", default="", help="OpenBLAS OpenMP build directory (torch_peer.py)")
    a = ap.parse_args()
    env, blas = torch_environment(a.torch_openblas_openmp)
    env["OMP_NUM_THREADS"] = str(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in a.models.split(","):
            if not name.startswith("llama"):
                sys.exit(f"infer_vs_torch: {name}: only the LLaMA shapes have a PyTorch peer here")
            model_dir = make_model(a.anvil, work, name)
            ours, theirs = [], []
            for r in range(a.runs):
                ours.append(engine_alone(a.anvil, model_dir, a.threads, a.tokens))
                theirs.append(torch_decode(MODELS[name], len(PROMPT.encode()), a.tokens, a.threads, env))
                print(f"[infer_vs_torch] {name} run {r + 1}: anvil {ours[-1][0]:.1f} tok/s, TTFT {ours[-1][1]:.1f} ms;"
                      f" PyTorch {theirs[-1][0]:.1f} tok/s, TTFT {theirs[-1][1]:.1f} ms", file=sys.stderr)
            med = lambda xs, i: statistics.median(x[i] for x in xs)
            rows.append((name, med(ours, 0), med(theirs, 0), med(ours, 1), med(theirs, 1)))
    print(f"\nbatch-1 greedy decode of {a.tokens} tokens after a {len(PROMPT.encode())}-token prompt, fp32 weights, "
          f"{a.threads} threads, medians of {a.runs} alternations; PyTorch {blas}\n")
    print("| model | anvil tok/s | PyTorch tok/s | anvil / PyTorch | anvil TTFT ms (cold) | PyTorch TTFT ms (warm) |")
    print("|---|---|---|---|---|---|")
    for name, o, t, ot, tt in rows:
        print(f"| {name} | {o:.1f} | {t:.1f} | {o / t:.2f} | {ot:.1f} | {tt:.1f} |")


if __name__ == "__main__":
    main()
