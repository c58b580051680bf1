#!/usr/bin/python3
# `anvil synth --teacher-url` against the real `anvil serve` (OpenAI-compatible) on a tiny random model:
# every problem is accounted for (kept + rejected = n, a random model's answers are mostly rejected),
# no request fails (interop: request shape, response parsing), kept lines carry source "teacher:<model>",
# and the API key travels from the env variable named by --teacher-api-key-env (a wrong key: every
# request gets 401 and the command exits 1). Usage: teacher_e2e_test.py ANVIL WORKDIR
import json
import os
import re
import shutil
import signal
import subprocess
import sys

N = 5
anvil, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
model = os.path.join(work, "tiny")
os.makedirs(model)

# Tiny LLaMA-style model with random weights and a byte-level tokenizer (as tests/serve/harness.mjs).
config = {"model_type": "llama", "vocab_size": 257, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
          "tie_word_embeddings": True, "initializer_range": 0.5}
with open(os.path.join(model, "init_config.json"), "w") as f:
    json.dump(config, f)
subprocess.run([anvil, "model", "init", "--config", os.path.join(model, "init_config.json"), "--out", model,
                "--seed", "7"], check=True, capture_output=True)
corpus = os.path.join(work, "corpus.txt")
with open(corpus, "w") as f:
    f.write("byte-level: 256 single-byte tokens and nothing else\n")
subprocess.run([anvil, "tokenizer", "train", "--input", corpus, "--vocab-size", "257", "--special", "<|pad|>",
                "--out", os.path.join(model, "tokenizer.json"), "-q"], check=True, capture_output=True)

serve_log = open(os.path.join(work, "serve.log"), "w")
server = subprocess.Popen([anvil, "--threads", "2", "serve", "--model", model, "--model-name", "tiny", "--port", "0",
                           "--api-key", "e2e-key"], stdout=subprocess.PIPE, stderr=serve_log, text=True)
try:
    m = None
    for line in server.stdout:  # the address line (a gRPC line may come first)
        m = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if m:
            break
    assert m, f"serve did not start; see {serve_log.name}"
    url = m.group(1) + "/v1"

    def synth(tag, key):
        out, report = os.path.join(work, f"{tag}.jsonl"), os.path.join(work, f"{tag}.json")
        env = dict(os.environ, ANVIL_E2E_TEACHER_KEY=key)
        p = subprocess.run([anvil, "synth", "--task", "arithmetic", "--difficulty", "1", "--n", str(N), "--seed", "4",
                            "--teacher-url", url, "--teacher-model", "tiny", "--teacher-api-key-env",
                            "ANVIL_E2E_TEACHER_KEY", "--teacher-max-tokens", "24", "--teacher-concurrency", "2",
                            "--teacher-rps", "20", "--teacher-retries", "1", "--teacher-timeout", "60",
                            "--report", report, "--out", out], env=env, capture_output=True, text=True, timeout=240)
        with open(report) as f:
            return p, json.load(f), out

    p, rep, out = synth("ok", "e2e-key")
    assert p.returncode == 0, p.stderr
    assert rep["n_tasks"] == N, rep
    assert rep["n_kept"] + sum(rep["rejected"].values()) == N, rep
    assert rep["rejected"].get("request_failed", 0) == 0, rep
    assert rep["n_requests"] >= N, rep
    with open(out) as f:
        lines = [json.loads(x) for x in f]
    assert len(lines) == rep["n_kept"], (len(lines), rep)
    assert all(x["source"] == "teacher:tiny" for x in lines), lines
    print(f"ok: {N} tasks, {rep['n_kept']} kept, rejected {rep['rejected']}, {rep['n_requests']} requests")

    p, rep, out = synth("badkey", "wrong-key")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert rep["rejected"].get("request_failed", 0) == N, rep
    assert "HTTP 401" in p.stderr, p.stderr
    print("ok: a wrong key gives 401 on every request and exit 1")
finally:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
