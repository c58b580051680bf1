#!/usr/bin/python3
"""What a KV-cache storage type costs in accuracy on a real model and real text: perplexity, per-token
log-probability error and top-1 agreement against the fp32 cache, measured through `anvil serve` with
echo (every prompt token scored given the ones before it: the prompt-scoring path lm-evaluation-harness
uses). One server per cache type, each scoring the same documents; a document longer than the context is
left out (and counted). Python standard library only.
  /usr/bin/python3 bench/kv_quality.py --model DIR --text FILE [--docs 200] [--kv-cache f32,f16,int8]
FILE: JSON lines with a "text" field (e.g. a prep step's corpus.jsonl), or plain text (optionally .gz)
whose documents are separated by blank lines.
"""
import argparse
import concurrent.futures
import gzip
import json
import math
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_docs(path, n):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        if path.endswith(".jsonl") or path.endswith(".jsonl.gz"):
            docs = [json.loads(line)["text"] for line in f if line.strip()]
        else:
            docs = [d.strip() for d in re.split(r"\n\s*\n", f.read()) if d.strip()]
    step = max(1, len(docs) // n)  # spread over the file rather than its first lines
    return docs[::step][:n]


def start_server(anvil, model, kv, threads):
    proc = subprocess.Popen([anvil, "--threads", str(threads), "serve", "--model", model, "--port", "0",
                             "--model-name", "m", "--kv-cache", kv, "--max-running", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"listening on (http://[\d.]+:\d+)", proc.stdout.readline())
    if not m:
        proc.kill()
        sys.exit(f"kv_quality: the {kv} server did not start")
    return proc, m.group(1)


def score(url, text):
    """Per-token (logprob, top-1 token) of the prompt's tokens after the first, or None when it is too long."""
    body = json.dumps({"model": "m", "prompt": text, "echo": True, "max_tokens": 0, "logprobs": 1}).encode()
    req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            lp = json.load(r)["choices"][0]["logprobs"]
    except urllib.error.HTTPError as e:
        if e.code == 400 and b"context_length_exceeded" in e.read():
            return None
        raise
    return [(v, max(top, key=top.get)) for v, top in zip(lp["token_logprobs"][1:], lp["top_logprobs"][1:])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anvil", default=os.path.join(ROOT, "build/anvil"))
    ap.add_argument("--model", required=True, help="model directory (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--text", required=True, help="documents: .jsonl with a text field, or blank-line separated text")
    ap.add_argument("--docs", type=int, default=200, help="documents to score (spread over the file)")
    ap.add_argument("--kv-cache", default="f32,f16,int8", help="cache types; the first is the reference")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    docs = read_docs(args.text, args.docs)
    kinds = args.kv_cache.split(",")
    scores = {}
    for kv in kinds:
        proc, url = start_server(args.anvil, args.model, kv, args.threads)
        try:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:  # 8 at a time: the scheduler batches them
                scores[kv] = list(pool.map(lambda d: score(url, d), docs))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        print(f"[kv_quality] {kv}: scored", file=sys.stderr)
    ref = scores[kinds[0]]
    kept = [i for i, s in enumerate(ref) if s is not None]
    n_tokens = sum(len(ref[i]) for i in kept)
    print(f"\n{len(kept)} documents ({len(docs) - len(kept)} longer than the context left out), {n_tokens} "
          f"scored tokens, {os.path.basename(args.text)}, model {args.model}\n")
    print(f"| KV cache | perplexity | mean abs logprob diff vs {kinds[0]} | max abs diff | top-1 agrees |")
    print("|---|---|---|---|---|")
    for kv in kinds:
        pairs = [(a, b) for i in kept for a, b in zip(scores[kv][i], ref[i])]
        nll = -sum(a[0] for a, _ in pairs) / len(pairs)
        diffs = [abs(a[0] - b[0]) for a, b in pairs]
        agree = sum(a[1] == b[1] for a, b in pairs) / len(pairs)
        print(f"| {kv} | {math.exp(nll):.4f} | {sum(diffs) / len(diffs):.2e} | {max(diffs):.2e} | {100 * agree:.2f}% |")


if __name__ == "__main__":
    main()
