// `anvil serve` under load and at shutdown: 32 openai clients x 4 requests (streamed and not) finish with
// zero errors and the server's peak RSS stays bounded (and does not grow in a second identical round);
// a server with one slot and a queue of one sheds the rest with 429 JSON errors; SIGTERM while a stream
// is running: new requests get 503, the stream still completes with [DONE], and the process exits 0; a
// client that leaves before its non-streamed answer gets its request cancelled (slot freed, 499 counted).
//   node serve_load_test.mjs ANVIL_BINARY WORK_DIR
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, test } from 'node:test';
import * as h from './harness.mjs';

h.requireNpmClients();
const [anvil, work] = process.argv.slice(2);
const { OpenAI } = h.requireClient('openai');
const modelDir = h.makeModelDir(anvil, `${work}/tiny`);
const servers = [];
after(() => { for (const s of servers) s.proc.kill('SIGKILL'); });

const kClients = 32;
const kRequestsPerClient = 4;
const kRssBudget = 256 * 1024 * 1024;   // peak RSS under load may exceed the idle RSS by at most this
const kRssGrowth = 32 * 1024 * 1024;    // a second identical round may raise the peak by at most this

async function round(client) {
  const errors = [];
  let n_ok = 0;
  await Promise.all(Array.from({ length: kClients }, async (_, c) => {
    for (let i = 0; i < kRequestsPerClient; ++i) {
      try {
        const args = { model: 'tiny', max_tokens: 24, temperature: 0.8, seed: c * 100 + i };
        if ((c + i) % 2 === 0) {
          const stream = await client.chat.completions.create({ ...args, stream: true,
                                                                messages: [{ role: 'user', content: `client ${c} asks ${i}` }] });
          let finish = null;
          for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
          assert.equal(finish, 'length');
        } else {
          const r = await client.completions.create({ ...args, prompt: `client ${c} request ${i}:` });
          assert.equal(r.usage.completion_tokens, 24);
        }
        ++n_ok;
      } catch (e) {
        errors.push(`client ${c} request ${i}: ${e.message}`);
      }
    }
  }));
  return { errors, n_ok };
}

test(`${kClients} clients x ${kRequestsPerClient} requests: zero errors, bounded RSS`, async () => {
  const s = await h.startServer(anvil, modelDir, ['--model-name', 'tiny', '--max-running', '8', '--max-queue', '64']);
  servers.push(s);
  const client = new OpenAI({ apiKey: 'none', baseURL: `${s.url}/v1`, maxRetries: 0, timeout: 120000 });
  await client.completions.create({ model: 'tiny', prompt: 'warm up', max_tokens: 4 });
  const idle = h.memory(s.pid).rss;
  const t0 = Date.now();
  const first = await round(client);
  const seconds = (Date.now() - t0) / 1000;
  assert.deepEqual(first.errors, []);
  assert.equal(first.n_ok, kClients * kRequestsPerClient);
  const peak1 = h.memory(s.pid).hwm;
  const second = await round(client);
  assert.deepEqual(second.errors, []);
  const peak2 = h.memory(s.pid).hwm;
  console.log(`# ${kClients * kRequestsPerClient} requests in ${seconds.toFixed(2)} s; RSS idle ${(idle / 2 ** 20).toFixed(1)} MiB, ` +
              `peak ${(peak1 / 2 ** 20).toFixed(1)} MiB, after a second round ${(peak2 / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(peak1 - idle < kRssBudget, `peak RSS ${peak1} exceeds idle ${idle} by more than ${kRssBudget}`);
  assert.ok(peak2 - peak1 < kRssGrowth, `peak RSS grew from ${peak1} to ${peak2} in an identical round`);
});

test('a full queue sheds load with 429', async () => {
  const s = await h.startServer(anvil, modelDir, ['--model-name', 'tiny', '--max-running', '1', '--max-queue', '1']);
  servers.push(s);
  const body = { model: 'tiny', prompt: 'long one', max_tokens: 400 };
  const results = await Promise.all(Array.from({ length: 8 }, () => h.postJson(s.url, '/v1/completions', body)));
  const statuses = results.map((r) => r.status);
  assert.ok(statuses.includes(200), statuses.join(','));
  const shed = results.filter((r) => r.status === 429);
  assert.ok(shed.length >= 1, statuses.join(','));
  for (const r of shed) {
    const e = JSON.parse(r.body).error;
    assert.equal(e.code, 'queue_full');
    assert.equal(r.headers['retry-after'], '1');
  }
  assert.ok(statuses.every((c) => c === 200 || c === 429), statuses.join(','));
});

// Slow enough per token (~10M parameters, a few ms per token) that the stream is still being generated
// when SIGTERM lands.
const kSlowConfig = { ...h.kTinyConfig, hidden_size: 384, intermediate_size: 1024, num_hidden_layers: 6,
                      num_attention_heads: 6, num_key_value_heads: 2, initializer_range: 0.05 };

let slowDirMade = null;
const slowModel = () => (slowDirMade ??= h.makeModelDir(anvil, `${work}/slow`, kSlowConfig));

test('SIGTERM during a stream: it completes, new requests get 503, exit 0', async () => {
  const slowDir = slowModel();
  // One thread: on a machine shared with other jobs, two OpenMP threads can be 10x slower per token. The
  // grace is long so that a slow machine cannot turn "finishes" into "cancelled".
  const s = await h.startServer(anvil, slowDir, ['--model-name', 'slow', '--shutdown-grace', '600'], {}, 1);
  servers.push(s);
  const kTokens = 200;
  const body = JSON.stringify({ model: 'slow', prompt: 'until the end', max_tokens: kTokens, temperature: 0, stream: true,
                                stream_options: { include_usage: true } });
  let late = null;  // the request sent right after SIGTERM
  const text = await new Promise((resolve, reject) => {
    const req = http.request(`${s.url}/v1/completions`, { method: 'POST', agent: false,
                                                          headers: { 'Content-Type': 'application/json' } }, (res) => {
      let got = '';
      let signalled = false;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        got += d;
        if (signalled) return;
        signalled = true;
        s.proc.kill('SIGTERM');
        late = new Promise((r) => setTimeout(r, 50))
          .then(() => h.postJson(s.url, '/v1/completions', { model: 'slow', prompt: 'late', max_tokens: 2 }));
      });
      res.on('end', () => resolve(got));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  const { events, done } = h.parseSse(text);
  assert.ok(done, 'the stream did not end with [DONE]');
  assert.equal(events.filter((e) => e.choices?.length).at(-1).choices[0].finish_reason, 'length');
  assert.equal(events.at(-1).usage.completion_tokens, kTokens);
  const refused = await late;
  assert.equal(refused.status, 503, 'a request after SIGTERM was not refused with 503 while the stream ran');
  assert.equal(JSON.parse(refused.body).error.code, 'draining');
  assert.equal(await h.exited(s.proc), 0, s.stderr());
});

// The value of the first /metrics sample named `name` whose line contains `label`.
async function metric(url, name, label = '') {
  const m = await h.request(url, { path: '/metrics' });
  const line = m.body.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return Number(line.split(' ').at(-1));
}

test('a client that leaves before its non-streamed answer: cancelled, counted 499, its slot serves the next', async () => {
  const s = await h.startServer(anvil, slowModel(), ['--model-name', 'slow', '--max-running', '1'], {}, 1);
  servers.push(s);
  const body = JSON.stringify({ model: 'slow', prompt: 'never mind', max_tokens: 1000, temperature: 0 });
  const sock = net.connect(s.port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('error', reject); });
  sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
             `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  while ((await metric(s.url, 'anvil_running_sequences')) < 1) await sleep(5);  // it is being generated
  sock.destroy();
  const deadline = Date.now() + 10000;
  while ((await metric(s.url, 'anvil_scheduler_requests_total', 'outcome="cancelled"')) < 1) {
    assert.ok(Date.now() < deadline, 'the abandoned request was not cancelled within 10 s');
    await sleep(20);
  }
  assert.equal(await metric(s.url, 'anvil_scheduler_requests_total', 'outcome="completed"'), 0);
  const next = await h.postJson(s.url, '/v1/completions', { model: 'slow', prompt: 'next', max_tokens: 2 });
  assert.equal(next.status, 200, next.body);
  assert.equal(JSON.parse(next.body).usage.completion_tokens, 2);
  assert.equal(await metric(s.url, 'anvil_requests_total', 'endpoint="/v1/completions",status="499"'), 1);
});
