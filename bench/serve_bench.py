#!/usr/bin/python3
"""Serving benchmark: aggregate generated tokens/s through `anvil serve` (HTTP, SSE streams) at 1, 4, 8
and 16 concurrent streams, single-stream decode tokens/s and time to first token, for the quickstart
model shape and LLaMA 15M (dim 288, 6 layers, 6 heads, ffn 768, vocab 32000, context 256), both with
random weights (`anvil model init`) and a byte-level tokenizer. Prints a Markdown table whose ratio
column is aggregate / single-stream from the same run (issue 6's goal: >= 4x at 8 streams; llama-server
reaches 1.7-2.3x on this machine, ../shared/peers/RESULTS.md). Python standard library only.
  /usr/bin/python3 bench/serve_bench.py [--anvil build/anvil] [--tokens 128] [--models quickstart,llama15m]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "quickstart": json.load(open(os.path.join(ROOT, "examples/models/quickstart.json"))),
    "llama15m": {"model_type": "llama", "vocab_size": 32000, "hidden_size": 288, "intermediate_size": 768,
                 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
                 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                 "hidden_act": "silu", "tie_word_embeddings": False, "initializer_range": 0.02},
}
PROMPT = "The quick brown fox jumps over the lazy dog; then it "  # byte-level: one token per byte


def make_model(anvil, work, name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(work, name + ".json")
    with open(cfg, "w") as f:
        json.dump(MODELS[name], f)
    subprocess.run([anvil, "model", "init", "--config", cfg, "--out", d, "--seed", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("bytes only\n")
    # 256 byte tokens + one special that is not end-of-text: every request generates exactly max_tokens.
    subprocess.run([anvil, "tokenizer", "train", "--input", corpus, "--vocab-size", "257", "--special", "<|pad|>",
                    "--out", os.path.join(d, "tokenizer.json"), "-q"], check=True)
    return d


def engine_alone(anvil, model_dir, threads, n_tokens):
    """`anvil generate` on the same model, prompt and length: (decode tok/s, TTFT ms) without HTTP."""
    r = subprocess.run([anvil, "--threads", str(threads), "generate", "--model", model_dir, "--prompt", PROMPT,
                        "--temperature", "0", "--max-tokens", str(n_tokens)], check=True, capture_output=True, text=True)
    m = re.search(r"TTFT ([\d.]+) ms; decode [\d.]+ ms/token = ([\d.]+) tokens/s", r.stderr)
    return float(m.group(2)), float(m.group(1))


def start_server(anvil, model_dir, threads, max_running):
    proc = subprocess.Popen([anvil, "--threads", str(threads), "serve", "--model", model_dir, "--port", "0",
                             "--max-running", str(max_running), "--max-queue", "64", "--model-name", "bench"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"serve_bench: the server did not start: {line!r}")
    return proc, m.group(1), int(m.group(2))


def stream_request(host, port, n_tokens):
    """One streamed completion; returns (ttft_s, decode_s, n_tokens) measured on the client."""
    body = json.dumps({"model": "bench", "prompt": PROMPT, "max_tokens": n_tokens, "temperature": 0,
                       "logprobs": 0, "stream": True, "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    t_first = t_last = None
    usage = None
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        ev = json.loads(line[6:])
        if ev.get("usage"):
            usage = ev["usage"]
        if ev["choices"] and ev["choices"][0].get("logprobs"):  # one chunk per batch of tokens
            now = time.perf_counter()
            t_first = t_first or now
            t_last = now
    conn.close()
    n = usage["completion_tokens"]
    return t_first - t0, t_last - t_first, n


def run_level(host, port, n_streams, n_tokens, rounds):
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(rounds):
            try:
                r = stream_request(host, port, n_tokens)
                with lock:
                    results.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(n_streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        sys.exit(f"serve_bench: {len(errors)} requests failed, first: {errors[0]}")
    return sum(r[2] for r in results) / wall, results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anvil", default=os.path.join(ROOT, "build/anvil"))
    ap.add_argument("--models", default="quickstart,llama15m")
    ap.add_argument("--streams", default="1,4,8,16")
    ap.add_argument("--tokens", type=int, default=128, help="tokens generated per request")
    ap.add_argument("--rounds", type=int, default=2, help="requests per stream at each level")
    ap.add_argument("--threads", type=int, default=2, help="anvil --threads for the server")
    args = ap.parse_args()
    levels = [int(s) for s in args.streams.split(",")]
    work = tempfile.mkdtemp(prefix="anvil_serve_bench_")
    rows = []
    engine = {}
    try:
        for name in args.models.split(","):
            model_dir = make_model(args.anvil, work, name)
            engine[name] = engine_alone(args.anvil, model_dir, args.threads, args.tokens)
            proc, host, port = start_server(args.anvil, model_dir, args.threads, max(levels))
            try:
                stream_request(host, port, 8)  # warm-up: first-touch of weights and caches
                single = None
                for n in levels:
                    agg, res = run_level(host, port, n, args.tokens, args.rounds if n > 1 else args.rounds + 1)
                    ttft_ms = 1000 * sum(r[0] for r in res) / len(res)
                    decode = sum(r[2] - 1 for r in res) / sum(r[1] for r in res)
                    single = single or agg
                    rows.append((name, n, agg, agg / single, ttft_ms, decode))
                    print(f"[serve_bench] {name}: {n:2d} streams: {agg:8.1f} tok/s aggregate, "
                          f"TTFT {ttft_ms:7.1f} ms, per-stream decode {decode:7.1f} tok/s", file=sys.stderr)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.tokens} tokens per request, prompt {len(PROMPT)} tokens, {args.threads} threads, "
          f"greedy, HTTP SSE (completions, one chunk per scheduler step)\n")
    print("| model | streams | aggregate tok/s | x single-stream | mean TTFT ms | per-stream decode tok/s |")
    print("|---|---|---|---|---|---|")
    for name, n, agg, ratio, ttft, dec in rows:
        print(f"| {name} | {n} | {agg:.1f} | {ratio:.2f} | {ttft:.1f} | {dec:.1f} |")
    print("\nThe engine alone (`anvil generate`, same prompt and length, same run): " +
          ", ".join(f"{name} {tps:.1f} tok/s decode, TTFT {ttft:.1f} ms" for name, (tps, ttft) in engine.items()))


if __name__ == "__main__":
    main()
