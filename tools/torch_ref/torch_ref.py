#!/usr/bin/python3
"""torch_ref.py - independent PyTorch reference for anvil's transformer (tests/model reference test).

Loads DIR/config.json + DIR/model.safetensors (Hugging Face names; read here with json + numpy, not
with anvil), runs the forward on int32 ids, computes F.cross_entropy (label smoothing, ignore_index)
and every parameter's gradient, and writes them to a safetensors file: "logits" (B*T, V), "loss" (1),
"grad.<param name>". Implements GPT-2 style (LayerNorm, GELU, Conv1D weights (in, out)) and LLaMA style
(RMSNorm, SwiGLU, nn.Linear weights (out, in), half-split RoPE as HF modeling_llama), GQA, ALiBi
(Press et al. slopes, method-specs 3.1), sliding windows (HF: key j visible to query i iff i-W < j <= i),
tied/untied heads. Attention is written out with explicit masks (torch 1.13 has no SDPA).
Attention-probability dropout (attn_pdrop / attention_dropout > 0) is reproduced for the training pass
from anvil's documented scheme, written out again here: per-layer seed = the (seed, step, layer, site 3)
mix of transformer_step.cpp, keep bit of P[b,h,i,j] = splitmix64 hash of the flat index
(kernels/dropout_hash.h); "logits" are then the eval (no dropout) logits, loss and gradients the
training ones. Embedding / residual dropout are not reproduced (configs with them are refused).

Usage: /usr/bin/python3 torch_ref.py --model DIR --ids ids.bin --targets targets.bin --batch B \
         [--label-smoothing 0.1] [--ignore-index -100] [--bf16] [--dropout-seed 1337 --dropout-step 0] \
         --out ref.safetensors
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            u = np.frombuffer(data[b:end], dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def alibi_slopes(n):
    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return pow2(n)
    p = 2 ** math.floor(math.log2(n))
    return pow2(p) + alibi_slopes(2 * p)[0::2][: n - p]


class Cfg:
    def __init__(self, j):
        self.gpt2 = j["model_type"] == "gpt2"
        g = self.gpt2
        self.V = j["vocab_size"]
        self.C = j["n_embd"] if g else j["hidden_size"]
        self.L = j["n_layer"] if g else j["num_hidden_layers"]
        self.H = j["n_head"] if g else j["num_attention_heads"]
        self.Hkv = self.H if g else j.get("num_key_value_heads", self.H)
        self.D = j.get("head_dim") or self.C // self.H
        self.eps = j["layer_norm_epsilon"] if g else j["rms_norm_eps"]
        self.gelu_tanh = g and j.get("activation_function", "gelu_new") != "gelu"
        self.pos = j.get("position_embedding_type") or ("learned" if g else "rope")
        self.theta = j.get("rope_theta", 10000.0)
        self.tied = j.get("tie_word_embeddings", g)
        self.window = j.get("sliding_window") or 0
        types = j.get("layer_types")
        self.sliding = [t == "sliding_attention" for t in types] if types else [self.window > 0] * self.L
        self.attn_p = j.get("attn_pdrop", 0.0) if g else j.get("attention_dropout", 0.0)
        self.other_p = [j.get(k, 0.0) for k in (("embd_pdrop", "resid_pdrop") if g else ("embd_dropout", "resid_dropout"))]


M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def dropout_seed(seed, step, layer, site=3):
    """transformer_step.cpp dropout_seed(seed, step, layer, DropSite::kAttentionProbs = 3)."""
    x = seed ^ GOLDEN
    for v in (step, (layer + 1) & M64, site):
        x ^= (v + GOLDEN + (x << 6) + (x >> 2)) & M64
        x = ((x ^ (x >> 31)) * 0xBF58476D1CE4E5B9) & M64
    return x


def splitmix64(x):
    x = x + np.uint64(GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def attention_keep_mask(seed, p, shape):
    """keep P[b,h,i,j] iff the top 24 bits of splitmix64(seed ^ splitmix64(flat index)) >= floor(p 2^24)."""
    threshold = min(int(float(np.float32(p)) * 16777216.0), 16777216)
    with np.errstate(over="ignore"):
        idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
        draw = splitmix64(np.uint64(seed) ^ splitmix64(idx)) >> np.uint64(40)
    return torch.from_numpy(draw >= np.uint64(threshold))


def attention(q, k, v, cfg, layer, T, drop=None):
    # q (B,H,T,D), k/v (B,Hkv,T,D)
    rep = cfg.H // cfg.Hkv
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(cfg.D)
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    allowed = j <= i
    if cfg.sliding[layer]:
        allowed = allowed & (j > i - cfg.window)
    if cfg.pos == "alibi":
        slopes = torch.tensor(alibi_slopes(cfg.H), dtype=torch.float32).view(1, cfg.H, 1, 1)
        att = att + slopes * (j - i).float().view(1, 1, T, T)
    att = att.masked_fill(~allowed, float("-inf"))
    probs = F.softmax(att.float(), dim=-1)
    if drop is not None and cfg.attn_p > 0:  # drop = (seed, step): the training pass
        keep = attention_keep_mask(dropout_seed(drop[0], drop[1], layer), cfg.attn_p, tuple(probs.shape))
        scale = float(np.float32(1.0 / (1.0 - float(np.float32(cfg.attn_p)))))  # as the kernel rounds it
        probs = probs * keep.float() * scale
    return probs.to(v.dtype) @ v


def rope(x, cfg, T):
    # HF LLaMA half-split: x*cos + rotate_half(x)*sin, x (B,h,T,D)
    inv_freq = 1.0 / (cfg.theta ** (torch.arange(0, cfg.D, 2, dtype=torch.float32) / cfg.D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : cfg.D // 2], x[..., cfg.D // 2 :]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def forward(P, cfg, ids, drop=None):
    B, T = ids.shape
    g = cfg.gpt2
    pre = "" if g else "model."
    x = P["wte.weight" if g else "model.embed_tokens.weight"][ids]
    if cfg.pos == "learned":
        x = x + P["wpe.weight" if g else "model.embed_positions.weight"][:T]
    qd, kvd = cfg.H * cfg.D, cfg.Hkv * cfg.D

    def lin_t(h, name):  # nn.Linear layout (out, in)
        y = h @ P[name + ".weight"].t()
        return y + P[name + ".bias"] if name + ".bias" in P else y

    def norm(h, name):
        if g:
            return F.layer_norm(h, (cfg.C,), P[name + ".weight"], P[name + ".bias"], cfg.eps)
        hf = h.float()
        return P[name + ".weight"] * (hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + cfg.eps))

    for l in range(cfg.L):
        p = f"h.{l}." if g else f"model.layers.{l}."
        h = norm(x, p + ("ln_1" if g else "input_layernorm"))
        if g:
            qkv = h @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]
            q, k, v = qkv.split([qd, kvd, kvd], dim=-1)
        else:
            q, k, v = (lin_t(h, p + f"self_attn.{n}_proj") for n in "qkv")
        q = q.reshape(B, T, cfg.H, cfg.D).transpose(1, 2)
        k = k.reshape(B, T, cfg.Hkv, cfg.D).transpose(1, 2)
        v = v.reshape(B, T, cfg.Hkv, cfg.D).transpose(1, 2)
        if cfg.pos == "rope":
            q, k = rope(q, cfg, T), rope(k, cfg, T)
        y = attention(q, k, v, cfg, l, T, drop).transpose(1, 2).reshape(B, T, qd)
        if g:
            y = y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
        else:
            y = lin_t(y, p + "self_attn.o_proj")
        x = x + y
        h = norm(x, p + ("ln_2" if g else "post_attention_layernorm"))
        if g:
            a = h @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
            a = F.gelu(a, approximate="tanh" if cfg.gelu_tanh else "none")
            m = a @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
        else:
            a = F.silu(lin_t(h, p + "mlp.gate_proj")) * lin_t(h, p + "mlp.up_proj")
            m = lin_t(a, p + "mlp.down_proj")
        x = x + m
    x = norm(x, "ln_f" if g else "model.norm")
    head = P["wte.weight" if g else "model.embed_tokens.weight"] if cfg.tied else P["lm_head.weight"]
    return x @ head.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--ignore-index", type=int, default=-100)
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', bfloat16)")
    ap.add_argument("--dropout-seed", type=int, default=1337, help="StepOptions.seed of the training pass")
    ap.add_argument("--dropout-step", type=int, default=0, help="StepOptions.step of the training pass")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with open(a.model + "/config.json") as f:
        cfg = Cfg(json.load(f))
    P = read_safetensors(a.model + "/model.safetensors")
    for t in P.values():
        t.requires_grad_(True)
    ids = torch.from_numpy(np.fromfile(a.ids, dtype=np.int32).astype(np.int64)).view(a.batch, -1)
    tgt = torch.from_numpy(np.fromfile(a.targets, dtype=np.int32).astype(np.int64)).view(-1)
    if any(p > 0 for p in cfg.other_p):
        sys.exit("torch_ref.py: embedding / residual dropout are not reproduced; set them to 0")
    drop = (a.dropout_seed, a.dropout_step) if cfg.attn_p > 0 else None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        logits = forward(P, cfg, ids, drop)
    logits = logits.float().reshape(-1, cfg.V)
    loss = F.cross_entropy(logits, tgt, ignore_index=a.ignore_index, label_smoothing=a.label_smoothing)
    loss.backward()
    if drop is not None:  # the eval logits have no dropout
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = forward(P, cfg, ids).float().reshape(-1, cfg.V)
    out = {"logits": logits, "loss": loss.detach().reshape(1)}
    for name, t in P.items():
        out["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_safetensors(a.out, out)


if __name__ == "__main__":
    main()
