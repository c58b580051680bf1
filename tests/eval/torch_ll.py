#!/usr/bin/python3
"""torch_ll.py - PyTorch reference log-likelihoods for anvil's eval cross-check (tests/eval reference test).

Reads a model dir (config.json + model.safetensors, through tools/torch_ref/torch_ref.py's reader and
forward) and a JSON file {"max_length": L, "requests": [{"context": [ids], "continuation": [ids]}, ...]},
and writes a JSON list with one log-likelihood per request, computed as lm-evaluation-harness
HFLM._loglikelihood_tokens does: inp = (context + continuation)[-(L + 1):][:-1], log_softmax over the
vocabulary, the sum over the last len(continuation) positions of the continuation tokens' log-probs.

Usage: /usr/bin/python3 torch_ll.py --model DIR --requests req.json --out ll.json
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
import torch_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = torch_ref.Cfg(json.load(f))
    P = torch_ref.read_safetensors(os.path.join(a.model, "model.safetensors"))
    with open(a.requests) as f:
        req = json.load(f)
    L = req["max_length"]
    out = []
    with torch.no_grad():
        for r in req["requests"]:
            ctx, cont = r["context"], r["continuation"]
            inp = (ctx + cont)[-(L + 1):][:-1]
            logits = torch_ref.forward(P, cfg, torch.tensor([inp], dtype=torch.long))[0].double()
            lp = F.log_softmax(logits, dim=-1)[-len(cont):]
            out.append(float(lp.gather(1, torch.tensor(cont).view(-1, 1)).sum()))
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
