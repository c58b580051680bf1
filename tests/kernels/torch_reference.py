#!/usr/bin/python3
"""Independent PyTorch reference for tests/kernels/torch_reference_test.cpp.

Usage: torch_reference.py DIR. DIR holds meta.json ({"op": ..., dims}) and raw little-endian inputs
(<name>.f32 / <name>.i32); this writes <name>.out.f32 results computed in float64 with torch autograd.
Exits 77 when torch cannot be imported (the C++ test then skips).
Attention dropout ("dropout_p", "dropout_seed" in meta.json) recomputes anvil's keep mask independently:
splitmix64 in numpy uint64 over the flat index ((b*H + h)*T + i)*T + j (kernels/dropout_hash.h), then
attention with that explicit mask, so autograd gives the reference gradients.
"""
import json
import math
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(77)


def load(d, name, dtype, shape):
    a = np.fromfile(os.path.join(d, name), dtype=dtype).reshape(shape)
    return torch.from_numpy(a.astype(np.float64 if dtype == np.float32 else np.int64))


def save(d, name, t):
    t.detach().to(torch.float32).numpy().astype("<f4").tofile(os.path.join(d, name + ".out.f32"))


def cross_entropy(d, m):
    n, v = m["N"], m["V"]
    z = load(d, "logits.f32", np.float32, (n, v)).requires_grad_(True)
    y = load(d, "targets.i32", np.int32, (n,))
    kw = dict(ignore_index=m["ignore_index"], label_smoothing=m["label_smoothing"])
    save(d, "losses", F.cross_entropy(z, y, reduction="none", **kw))
    mean = F.cross_entropy(z, y, reduction="mean", **kw)
    mean.backward()
    save(d, "mean", mean.reshape(1))
    save(d, "dlogits", z.grad)


def splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def dropout_keep_mask(seed, p, shape):
    """keep iff the top 24 bits of splitmix64(seed ^ splitmix64(flat index)) >= floor(p * 2^24)."""
    threshold = min(int(float(np.float32(p)) * 16777216.0), 16777216)
    with np.errstate(over="ignore"):
        idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
        draw = splitmix64(np.uint64(seed) ^ splitmix64(idx)) >> np.uint64(40)
    return torch.from_numpy(draw >= np.uint64(threshold))


def attention(d, m):
    b, t, h, hkv, dh, w = m["B"], m["T"], m["H"], m["Hkv"], m["D"], m["window"]
    q = load(d, "q.f32", np.float32, (b, t, h, dh)).requires_grad_(True)
    k = load(d, "k.f32", np.float32, (b, t, hkv, dh)).requires_grad_(True)
    v = load(d, "v.f32", np.float32, (b, t, hkv, dh)).requires_grad_(True)
    dout = load(d, "dout.f32", np.float32, (b, t, h, dh))
    kk = k.repeat_interleave(h // hkv, dim=2)
    vv = v.repeat_interleave(h // hkv, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", q, kk) / math.sqrt(dh)
    i = torch.arange(t).reshape(t, 1)
    j = torch.arange(t).reshape(1, t)
    allowed = j <= i
    if w > 0:
        allowed &= j > i - w  # HF sliding window
    if m["alibi"]:
        slopes = load(d, "slopes.f32", np.float32, (h,))
        s = s + slopes.reshape(1, h, 1, 1) * (j - i).to(torch.float64)
    s = s.masked_fill(~allowed, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # (B, H, T)
    probs = torch.softmax(s, dim=-1)
    p_drop = m.get("dropout_p", 0.0)
    if p_drop > 0:
        keep = dropout_keep_mask(m["dropout_seed"], p_drop, (b, h, t, t))
        probs = probs * keep.to(torch.float64) / (1.0 - float(np.float32(p_drop)))
    out = torch.einsum("bhij,bjhd->bihd", probs, vv)
    out.backward(dout)
    save(d, "out", out)
    save(d, "lse", lse)
    save(d, "dq", q.grad)
    save(d, "dk", k.grad)
    save(d, "dv", v.grad)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "meta.json")) as f:
        m = json.load(f)
    {"cross_entropy": cross_entropy, "attention": attention}[m["op"]](d, m)


if __name__ == "__main__":
    main()
