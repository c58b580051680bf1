// Shared by the serve interop tests: makes a tiny model directory through the real CLI (`anvil model
// init` with random weights + `anvil tokenizer train` giving a byte-level tokenizer: 256 byte tokens, no
// merges, one special token that is not an end-of-text token, so every generation runs to max_tokens),
// starts `anvil serve --port 0`, parses the
// printed address, and offers raw HTTP helpers (node:http) for the cases a real client refuses to send.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

export const SKIP = 77;  // ctest SKIP_RETURN_CODE

const source = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const modulesDir = path.join(source, 'tests/node/node_modules');
export const requireClient = createRequire(path.join(modulesDir, 'x.js'));

// Exits with SKIP (and a reason) when the npm clients are not installed.
export function requireNpmClients() {
  if (!fs.existsSync(path.join(modulesDir, 'openai'))) {
    console.log('SKIP: the openai npm client is not installed (bash scripts/npm_test_deps.sh)');
    process.exit(SKIP);
  }
}

// A LLaMA-style model small enough to decode thousands of tokens per second on 2 cores, with a context
// long enough for the long-stream tests.
export const kTinyConfig = {
  model_type: 'llama', vocab_size: 257, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, rms_norm_eps: 1e-5,
  rope_theta: 10000.0, hidden_act: 'silu', tie_word_embeddings: true, initializer_range: 0.5,
};

export function makeModelDir(anvil, dir, config = kTinyConfig) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const cfg = path.join(dir, 'init_config.json');
  fs.writeFileSync(cfg, JSON.stringify(config));
  execFileSync(anvil, ['model', 'init', '--config', cfg, '--out', dir, '--seed', '7'], { stdio: 'pipe' });
  const text = path.join(dir, 'corpus.txt');
  fs.writeFileSync(text, 'byte-level: 256 single-byte tokens and nothing else\n');
  execFileSync(anvil, ['tokenizer', 'train', '--input', text, '--vocab-size', '257', '--special', '<|pad|>',
                       '--out', path.join(dir, 'tokenizer.json'), '-q'], { stdio: 'pipe' });
  return dir;
}

// Starts `anvil serve` and resolves once it printed its address: { proc, url, port, pid, stderr() }.
export function startServer(anvil, modelDir, extraArgs = [], env = {}, threads = 2) {
  return new Promise((resolve, reject) => {
    const proc = spawn(anvil, ['--threads', String(threads), 'serve', '--model', modelDir, '--port', '0', ...extraArgs],
                       { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in 30 s; stderr: ${err}`)), 30000);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[\d.]+:(\d+))/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], port: Number(m[2]), pid: proc.pid, stdout: () => out, stderr: () => err });
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code}) before listening: ${err}`)); });
  });
}

// Resolves with the exit code once the process has exited.
export function exited(proc) {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
}

// Raw request: resolves { status, headers, body } (body as a string). `body` may be a string or Buffer.
export function request(url, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + p, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function postJson(url, p, obj, headers = {}) {
  const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
  return request(url, { method: 'POST', path: p, body, headers: { 'Content-Type': 'application/json', ...headers } });
}

// VmHWM / VmRSS of a process, in bytes.
export function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+) kB`))[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// Parses an SSE body into the JSON objects of its data lines; `done` tells whether [DONE] ended it.
export function parseSse(body) {
  const events = [];
  let done = false;
  for (const block of body.split('\n\n')) {
    if (!block.startsWith('data: ')) continue;
    const data = block.slice(6);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}
