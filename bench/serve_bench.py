#!/usr/bin/python3
"""Serving benchmark: aggregate generated tokens/s through `anvil serve` (HTTP, SSE streams) at 1, 4, 8
and 16 concurrent streams, single-stream decode tokens/s and time to first token, for the quickstart
model shape and LLaMA 15M (dim 288, 6 layers, 6 heads, ffn 768, vocab 32000, context 256), both with
random weights (`anvil model init`) and a byte-level tokenizer. Prints a Markdown table whose ratio
column is aggregate / single-stream from the same run (issue 6's goal: >= 4x at 8 streams; llama-server
reaches 1.7-2.3x on this machine, ../shared/peers/RESULTS.md). Python standard library only; the streams
are read by bench_serve_load (bench/serve_load.cpp, built with anvil when libcurl is installed), or with
--client python by this script's threads, which take 2-3x its CPU per token on a 2-core machine.
  /usr/bin/python3 bench/serve_bench.py [--anvil build/anvil] [--tokens 128] [--models quickstart,llama15m]
      [--streams 1,4,8,16] [--repeat N] [--kv-cache f16|f32|int8] [--stream-interval 1]
      [--client native|python]
(--models llama110m: the LLaMA 110M shape, dim 768, 12 layers, 12 heads, ffn 2048, context 1024; S and M:
issue 2's GPT-2 configs, d_model 256 / 512, 4 / 8 layers, vocab 8192 / 32768, context 256 / 512.)
With --url it drives an already running OpenAI-compatible server (e.g. llama-server) with the same client:
  /usr/bin/python3 bench/serve_bench.py --url http://127.0.0.1:8080 --served-model NAME [--label NAME]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
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
    # Issue 2's GPT-2 configs S and M (bench/train_vs_torch.py), learned positions, tied head.
    "S": {"model_type": "gpt2", "vocab_size": 8192, "n_positions": 256, "n_embd": 256, "n_layer": 4, "n_head": 4},
    "M": {"model_type": "gpt2", "vocab_size": 32768, "n_positions": 512, "n_embd": 512, "n_layer": 8, "n_head": 8},
    # A tiny LLaMA for the script's own tests (bench/CMakeLists.txt: bench.serve_bench_tiny_*).
    "tiny": {"model_type": "llama", "vocab_size": 320, "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 256, "initializer_range": 0.5},
    "llama110m": {"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048,
                  "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
                  "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
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


def engine_alone(anvil, model_dir, threads, n_tokens, kv_cache):
    """`anvil generate` on the same model, prompt and length: (decode tok/s, TTFT ms) without HTTP."""
    r = subprocess.run([anvil, "--threads", str(threads), "generate", "--model", model_dir, "--prompt", PROMPT,
                        "--temperature", "0", "--max-tokens", str(n_tokens), "--kv-cache", kv_cache], check=True,
                       capture_output=True, text=True)
    m = re.search(r"TTFT ([\d.]+) ms; decode [\d.]+ ms/token = ([\d.]+) tokens/s", r.stderr)
    return float(m.group(2)), float(m.group(1))


def start_server(anvil, model_dir, threads, max_running, stream_interval, kv_cache):
    proc = subprocess.Popen([anvil, "--threads", str(threads), "serve", "--model", model_dir, "--port", "0",
                             "--max-running", str(max_running), "--max-queue", "64", "--model-name", "bench",
                             "--stream-interval", str(stream_interval), "--kv-cache", kv_cache],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"serve_bench: the server did not start: {line!r}")
    return proc, m.group(1), int(m.group(2))


def request_body(n_tokens, model, extra):
    return json.dumps({"model": model, "prompt": PROMPT, "max_tokens": n_tokens, "temperature": 0,
                       "logprobs": 0, "stream": True, "stream_options": {"include_usage": True}, **(extra or {})})


def stream_request(host, port, n_tokens, model="bench", extra=None):
    """One streamed completion; returns (ttft_s, decode_s, n_tokens, count_source) measured on the client.
    The token count is usage.completion_tokens when the server sends it, else llama-server's
    timings.predicted_n, else the number of logprobs tokens, else the number of chunks carrying text."""
    body = request_body(n_tokens, model, extra)
    conn = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    t_first = t_last = None
    usage = timings = None
    n_logprob_tokens = n_text_chunks = 0
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        ev = json.loads(line[6:])
        usage = ev.get("usage") or usage
        timings = ev.get("timings") or timings
        choice = ev["choices"][0] if ev.get("choices") else {}
        logprobs = choice.get("logprobs")
        if logprobs or choice.get("text"):  # anvil: one chunk per step; llama-server: one per token
            now = time.perf_counter()
            t_first = t_first or now
            t_last = now
            n_logprob_tokens += len(logprobs.get("tokens") or []) if logprobs else 0
            n_text_chunks += 1
    conn.close()
    if t_first is None:
        raise RuntimeError("the stream carried no token chunk")
    if usage and "completion_tokens" in usage:
        return t_first - t0, t_last - t_first, usage["completion_tokens"], "usage"
    if timings and "predicted_n" in timings:
        return t_first - t0, t_last - t_first, timings["predicted_n"], "timings"
    if n_logprob_tokens:
        return t_first - t0, t_last - t_first, n_logprob_tokens, "logprobs"
    return t_first - t0, t_last - t_first, n_text_chunks, "chunks"


def run_level(host, port, n_streams, n_tokens, rounds, model, extra):
    """Python client: n_streams threads, each sending `rounds` requests in turn. Returns aggregate tok/s,
    mean TTFT ms, per-stream decode tok/s, the client's own CPU share (CPU s / wall s) and the count source."""
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(rounds):
            try:
                r = stream_request(host, port, n_tokens, model, extra)
                with lock:
                    results.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(n_streams)]
    cpu0 = os.times()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    if errors:
        sys.exit(f"serve_bench: {len(errors)} requests failed, first: {errors[0]}")
    client_cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall
    tokens, decode_s = sum(r[2] for r in results), sum(r[1] for r in results)
    decode = sum(r[2] - 1 for r in results) / decode_s if decode_s > 0 else float("nan")  # nan: one chunk each
    return (tokens / wall, 1000 * sum(r[0] for r in results) / len(results), decode, client_cpu,
            ",".join(sorted({r[3] for r in results})), tokens)


def run_level_native(load, host, port, n_streams, n_tokens, rounds, model, extra):
    """The same level through bench_serve_load (C++, libcurl multi: one thread, a kept-alive connection per
    stream, no JSON parsing but the usage count), so that the client takes less of the cores it shares
    with the server."""
    r = subprocess.run([load, "--host", host, "--port", str(port), "--streams", str(n_streams), "--requests",
                        str(rounds), "--body", request_body(n_tokens, model, extra)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"serve_bench: {r.stderr.strip()}")
    m = json.loads(r.stdout)
    decode = m["decode_tok_s"] if m["decode_tok_s"] is not None else float("nan")
    return m["tok_s"], m["ttft_ms"], decode, m["client_cpu"], "usage", m["tokens"]


def bench_server(name, host, port, model, levels, args, rows, extra=None):
    """Runs every concurrency level against one server and appends its rows. With --repeat N the levels run
    N times in turn (1, 8, 1, 8, ...), so that each ratio to the single stream comes from neighbouring
    moments of a noisy machine; a row then holds the medians, and the ratio cell each repetition's ratio."""
    stream_request(host, port, 8, model, extra)  # warm-up: first-touch of weights and caches
    runs = {n: [] for n in levels}
    for rep in range(args.repeat):
        single = None
        for n in levels:
            rounds = args.rounds if n > 1 else args.rounds + 1
            if args.client == "native":
                level = run_level_native(args.load, host, port, n, args.tokens, rounds, model, extra)
            else:
                level = run_level(host, port, n, args.tokens, rounds, model, extra)
            agg, ttft_ms, decode, client_cpu, source, tokens = level
            if not args.url and tokens != n * rounds * args.tokens:  # anvil's bench models never stop early
                sys.exit(f"serve_bench: the {args.client} client counted {tokens} tokens at {n} streams, "
                         f"expected {n * rounds * args.tokens}")
            single = single or agg
            runs[n].append((agg, agg / single, ttft_ms, decode, client_cpu, source))
            print(f"[serve_bench] {name}: {n:2d} streams: {agg:8.1f} tok/s aggregate ({agg / single:.2f}x), "
                  f"TTFT {ttft_ms:7.1f} ms, per-stream decode {decode:7.1f} tok/s, client CPU {client_cpu:.2f} "
                  f"cores, tokens counted from {source}", file=sys.stderr)
    for n in levels:
        r = runs[n]
        ratios = [x[1] for x in r]
        rows.append((name, n, statistics.median(x[0] for x in r), statistics.median(ratios), ratios,
                     statistics.median(x[2] for x in r), statistics.median(x[3] for x in r),
                     max(x[4] for x in r), ",".join(sorted({x[5] for x in r}))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anvil", default=os.path.join(ROOT, "build/anvil"))
    ap.add_argument("--models", default="quickstart,llama15m")
    ap.add_argument("--streams", default="1,4,8,16")
    ap.add_argument("--tokens", type=int, default=128, help="tokens generated per request")
    ap.add_argument("--rounds", type=int, default=2, help="requests per stream at each level")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the levels this many times in turn and report medians (ratios from neighbouring runs)")
    ap.add_argument("--threads", type=int, default=2, help="anvil --threads for the server")
    ap.add_argument("--stream-interval", type=int, default=1, help="anvil serve --stream-interval (tokens per chunk)")
    ap.add_argument("--kv-cache", default="f16", choices=["f16", "f32", "int8"],
                    help="anvil serve / generate --kv-cache")
    ap.add_argument("--client", default="native", choices=["native", "python"],
                    help="native: bench_serve_load (C++, libcurl's multi interface on one thread), 20-30 us of "
                         "CPU per streamed token on the 2-core machine; python: this script's threads "
                         "(standard library only), 60-90 us")
    ap.add_argument("--load", default=os.path.join(ROOT, "build/bench/bench_serve_load"),
                    help="the bench_serve_load binary for --client native")
    ap.add_argument("--url", help="benchmark this running server (http://HOST:PORT) instead of `anvil serve`")
    ap.add_argument("--served-model", default="bench", help="with --url: the model name requests send")
    ap.add_argument("--label", help="with --url: the model column's text (default: the URL)")
    ap.add_argument("--extra-body", default="{}",
                    help='with --url: JSON object merged into each request, e.g. \'{"ignore_eos": true}\'')
    args = ap.parse_args()
    levels = [int(s) for s in args.streams.split(",")]
    if args.client == "native" and not os.access(args.load, os.X_OK):
        sys.exit(f"serve_bench: no client binary at {args.load} (build it: ninja -C build bench/bench_serve_load), "
                 "or run with --client python")
    rows = []
    engine = {}
    if args.url:
        m = re.fullmatch(r"http://([^/:]+):(\d+)/?", args.url)
        if not m:
            sys.exit(f"serve_bench: --url {args.url!r} is not http://HOST:PORT")
        bench_server(args.label or args.url, m.group(1), int(m.group(2)), args.served_model, levels, args, rows,
                     json.loads(args.extra_body))
        print_table(args, rows, engine)
        return
    work = tempfile.mkdtemp(prefix="anvil_serve_bench_")
    try:
        for name in args.models.split(","):
            model_dir = make_model(args.anvil, work, name)
            engine[name] = engine_alone(args.anvil, model_dir, args.threads, args.tokens, args.kv_cache)
            proc, host, port = start_server(args.anvil, model_dir, args.threads, max(levels), args.stream_interval,
                                            args.kv_cache)
            try:
                bench_server(name, host, port, "bench", levels, args, rows)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(args, rows, engine)


def print_table(args, rows, engine):
    server = (f"server at {args.url}" if args.url
              else f"{args.threads} threads, one chunk per scheduler step, {args.kv_cache} KV cache")
    client = ("client bench_serve_load (C++)" if args.client == "native"
              else "client: this script's Python threads")
    print(f"\n{args.tokens} tokens per request, prompt {len(PROMPT)} bytes, greedy, HTTP SSE completions, {server}, "
          f"{client}\n")
    medians = " (medians of --repeat runs; each run's ratio in brackets)" if args.repeat > 1 else ""
    print(f"| model | streams | aggregate tok/s | x single-stream{medians} | mean TTFT ms | per-stream decode tok/s "
          "| client CPU (cores) | tokens counted from |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, agg, ratio, ratios, ttft, dec, client_cpu, source in rows:
        each = f" [{', '.join(f'{x:.2f}' for x in ratios)}]" if len(ratios) > 1 else ""
        print(f"| {name} | {n} | {agg:.1f} | {ratio:.2f}{each} | {ttft:.1f} | {dec:.1f} | {client_cpu:.2f} "
              f"| {source} |")
    if not engine:
        return
    print("\nThe engine alone (`anvil generate`, same prompt and length, same run): " +
          ", ".join(f"{name} {tps:.1f} tok/s decode, TTFT {ttft:.1f} ms" for name, (tps, ttft) in engine.items()))


if __name__ == "__main__":
    main()
