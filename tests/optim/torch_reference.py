"""Reference runs for anvil's optimizer tests (run by optim_reference_test.cpp with /usr/bin/python3).

  adamw IN OUT   torch.optim.AdamW over the params / grads / lrs in IN (safetensors), params after each step to OUT
  lion IN OUT    Lion exactly as google/automl lion/lion_pytorch.py, same protocol
  clip IN OUT    torch.nn.utils.clip_grad_norm_ on the step-0 grads for each max_norm in IN's metadata
  schedule CONFIGS   transformers' schedule lambdas (copied formulas) for a JSON list of
                     [kind, peak, min_lr, N, W, n_steps]; prints a JSON list of lr lists

IN holds p.<k> (initial params), g.<k>.<t> (grad of param k at step t; absent = grad None), and
metadata: lrs (comma-separated, step t uses lrs[t]), groups (group of each param), wd.<j> and
lr_scale.<j> per group, beta1, beta2, eps, max_norms.
"""
import json
import math
import struct
import sys

import numpy as np

NO_TORCH = 77  # exit code: the C++ test skips
NP = {"F32": np.float32, "I64": np.int64, "I32": np.int32}


def load(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype=NP[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.array(tensors[name], dtype=np.float32, order="C")  # keeps 0-d arrays 0-d
        blob = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def setup(path):
    try:
        import torch
    except ImportError:
        sys.exit(NO_TORCH)
    tensors, meta = load(path)
    n_params = sum(1 for k in tensors if k.startswith("p."))
    groups = [int(x) for x in meta["groups"].split(",")]
    n_groups = max(groups) + 1
    params = [torch.tensor(tensors[f"p.{k}"], requires_grad=True) for k in range(n_params)]
    lrs = [float(x) for x in meta["lrs"].split(",")]
    return torch, tensors, meta, params, groups, n_groups, lrs


def run_optimizer(path, out, make_opt):
    torch, tensors, meta, params, groups, n_groups, lrs = setup(path)
    param_groups = [{"params": [p for p, g in zip(params, groups) if g == j], "weight_decay": float(meta[f"wd.{j}"]),
                     "lr_scale": float(meta[f"lr_scale.{j}"])} for j in range(n_groups)]
    opt = make_opt(torch, param_groups, meta)
    result = {}
    for t, lr in enumerate(lrs):
        for k, p in enumerate(params):
            g = tensors.get(f"g.{k}.{t}")
            p.grad = None if g is None else torch.tensor(g)
        for group in opt.param_groups:
            group["lr"] = lr * group["lr_scale"]
        opt.step()
        for k, p in enumerate(params):
            result[f"p.{k}.{t}"] = p.detach().numpy().copy()
    save(out, result)


def make_adamw(torch, param_groups, meta):
    return torch.optim.AdamW(param_groups, lr=1e-3, betas=(float(meta["beta1"]), float(meta["beta2"])),
                             eps=float(meta["eps"]))


def make_lion(torch, param_groups, meta):
    class Lion(torch.optim.Optimizer):
        """google/automl lion/lion_pytorch.py, step() copied line for line."""

        def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.data.mul_(1 - group["lr"] * group["weight_decay"])
                    grad = p.grad
                    state = self.state[p]
                    if len(state) == 0:
                        state["exp_avg"] = torch.zeros_like(p)
                    exp_avg = state["exp_avg"]
                    beta1, beta2 = group["betas"]
                    update = exp_avg * beta1 + grad * (1 - beta1)
                    p.add_(torch.sign(update), alpha=-group["lr"])
                    exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)

    return Lion(param_groups, betas=(float(meta["beta1"]), float(meta["beta2"])))


def clip(path, out):
    torch, tensors, meta, params, groups, n_groups, lrs = setup(path)
    result = {}
    for j, max_norm in enumerate(float(x) for x in meta["max_norms"].split(",")):
        for k, p in enumerate(params):
            g = tensors.get(f"g.{k}.0")
            p.grad = None if g is None else torch.tensor(g)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        result[f"norm.{j}"] = np.array(norm.item(), dtype=np.float32)
        for k, p in enumerate(params):
            if p.grad is not None:
                result[f"c.{j}.{k}"] = p.grad.numpy().copy()
    save(out, result)


def schedule_lrs(kind, peak, min_lr, n, w, steps):
    """transformers/optimization.py lambdas: _get_cosine_schedule_with_warmup_lr_lambda,
    _get_cosine_with_min_lr_schedule_with_warmup_lr_lambda, _get_linear_schedule_with_warmup_lr_lambda,
    _get_constant_schedule_with_warmup_lr_lambda (num_cycles = 0.5); lr = peak * lambda(step)."""
    out = []
    for s in range(steps):
        if s < w:
            m = float(s) / float(max(1, w))
        elif kind == "constant":
            m = 1.0
        elif kind == "linear":
            m = max(0.0, float(n - s) / float(max(1, n - w)))
        else:
            progress = float(s - w) / float(max(1, n - w))
            factor = 0.5 * (1.0 + math.cos(math.pi * float(0.5) * 2.0 * progress))
            if min_lr > 0:
                rate = min_lr / peak
                factor = factor * (1 - rate) + rate
            m = max(0.0, factor)
        out.append(peak * m)
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "adamw":
        run_optimizer(sys.argv[2], sys.argv[3], make_adamw)
    elif mode == "lion":
        run_optimizer(sys.argv[2], sys.argv[3], make_lion)
    elif mode == "clip":
        clip(sys.argv[2], sys.argv[3])
    elif mode == "schedule":
        print(json.dumps([schedule_lrs(*config) for config in json.loads(sys.argv[2])]))
