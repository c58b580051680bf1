#!/usr/bin/python3
"""Independent PyTorch reference for tests/kernels/torch_reference_test.cpp.

Usage: torch_reference.py DIR. DIR holds meta.json ({"op": ..., dims}) and raw little-endian inputs
(<name>.f32 / <name>.i32); this writes <name>.out.f32 results computed in float64 with torch autograd.
Exits 77 when torch cannot be imported (the C++ test then skips).
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
    out = torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), vv)
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
