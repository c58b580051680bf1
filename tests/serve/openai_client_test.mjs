// `anvil serve` against the official openai npm client and raw HTTP (node:http, for what a client refuses
// to send): completions, chat, streaming chat and completions with usage, models, logprobs and
// top_logprobs (bounds too), echo of a token-id prompt with its scores, n and several prompts (whole and
// streamed), logit_bias, 405 with Allow for a known route asked with another method; greedy text through
// HTTP equals `anvil generate --temperature 0`; OpenAI-shaped 4xx errors naming the field for malformed
// JSON, wrong types, out-of-range values, n=0, an oversized body, a prompt over the limit, an unknown
// model, a missing or wrong API key; /health; /metrics accepted by `promtool check metrics`; a client
// that disconnects mid-stream cancels its request.
//   node openai_client_test.mjs ANVIL_BINARY WORK_DIR
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { after, test } from 'node:test';
import * as h from './harness.mjs';

h.requireNpmClients();
const [anvil, work] = process.argv.slice(2);
const { OpenAI } = h.requireClient('openai');

const kKey = 'sk-anvil-test';
const kMaxBody = 65536;
const kMaxPrompt = 200;
const modelDir = h.makeModelDir(anvil, `${work}/tiny`);
const server = await h.startServer(anvil, modelDir, ['--model-name', 'tiny', '--max-body-bytes', String(kMaxBody),
                                                     '--max-prompt-tokens', String(kMaxPrompt)],
                                   { ANVIL_API_KEY: kKey });
after(() => server.proc.kill('SIGKILL'));
const client = new OpenAI({ apiKey: kKey, baseURL: `${server.url}/v1`, maxRetries: 0 });
const auth = { Authorization: `Bearer ${kKey}` };
const prompt = 'The quick brown fox';

test('models.list names the served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['tiny']);
  const m = await client.models.retrieve('tiny');
  assert.equal(m.object, 'model');
});

test('completions: text, finish_reason length and usage', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  // Byte-level tokenizer: one prompt token per byte; no end-of-text token, so exactly max_tokens.
  assert.deepEqual(r.usage, { prompt_tokens: prompt.length, completion_tokens: 12, total_tokens: prompt.length + 12 });
});

test('greedy text through HTTP equals `anvil generate --temperature 0`', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 40, temperature: 0 });
  const cli = execFileSync(anvil, ['--threads', '2', 'generate', '--model', modelDir, '--prompt', prompt,
                                   '--temperature', '0', '--max-tokens', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const text = cli.toString('utf8');
  assert.equal(r.choices[0].text, text.slice(0, -1));  // generate ends its output with a newline
});

test('chat: assistant message, usage; seeded sampling is reproducible', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2 + 3?' }];
  const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const a = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, temperature: 1, seed: 5 });
  const b = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, temperature: 1, seed: 5 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('streaming chat: role delta first, content deltas, finish_reason, then usage', async () => {
  const messages = [{ role: 'user', content: 'Tell me a story.' }];
  const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 24, temperature: 0 });
  const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 24, temperature: 0,
                                                        stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].object, 'chat.completion.chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1);
  const withChoice = chunks.filter((c) => c.choices.length > 0);
  const text = withChoice.map((c) => c.choices[0].delta.content ?? '').join('');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(withChoice.at(-1).choices[0].finish_reason, whole.choices[0].finish_reason);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, whole.usage);
});

test('streaming completions: text chunks add up to the whole completion', async () => {
  const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, temperature: 0 });
  const stream = await client.completions.create({ model: 'tiny', prompt, max_tokens: 30, temperature: 0, stream: true });
  let text = '', finish = null;
  for await (const c of stream) {
    assert.equal(c.object, 'text_completion');
    text += c.choices[0].text;
    finish = c.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, 'length');
});

test('logprobs: one per generated token, each <= 0', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }],
                                                   max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 0 });
  const lps = r.choices[0].logprobs.content;
  assert.equal(lps.length, r.usage.completion_tokens);
  for (const t of lps) assert.ok(t.logprob <= 0 && Array.isArray(t.bytes));
  const c = await client.completions.create({ model: 'tiny', prompt, max_tokens: 8, temperature: 0, logprobs: 0 });
  assert.equal(c.choices[0].logprobs.token_logprobs.length, 8);
});

test('echo with token ids scores the prompt (lm-evaluation-harness loglikelihood request)', async () => {
  const ids = execFileSync(anvil, ['tokenizer', 'encode', '--tokenizer', `${modelDir}/tokenizer.json`,
                                   '--text', prompt]).toString().trim().split(/\s+/).map(Number);
  const c = await client.completions.create({ model: 'tiny', prompt: [ids], max_tokens: 1, temperature: 0, logprobs: 1,
                                             echo: true });
  const lp = c.choices[0].logprobs;
  assert.ok(c.choices[0].text.startsWith(prompt), c.choices[0].text);
  assert.equal(c.usage.prompt_tokens, ids.length);
  assert.equal(lp.tokens.length, ids.length + 1);
  assert.equal(lp.tokens.slice(0, ids.length).join(''), prompt);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  assert.equal(lp.text_offset[0], 0);
  for (let k = 1; k < lp.tokens.length; ++k) {
    assert.ok(lp.token_logprobs[k] <= 0);
    assert.equal(lp.top_logprobs[k][lp.tokens[k]], lp.token_logprobs[k]);
    assert.equal(lp.text_offset[k], lp.text_offset[k - 1] + Buffer.byteLength(lp.tokens[k - 1]));
  }
  // The same prompt as text scores the same.
  const t = await client.completions.create({ model: 'tiny', prompt, max_tokens: 1, temperature: 0, logprobs: 1,
                                             echo: true });
  assert.deepEqual(t.choices[0].logprobs, lp);
});

test('n choices and several prompts, whole and streamed: one choice per (prompt, sample), index = prompt * n + sample', async () => {
  const one = await client.completions.create({ model: 'tiny', prompt, max_tokens: 8, temperature: 1, seed: 11 });
  const c = await client.completions.create({ model: 'tiny', prompt: [prompt, 'Another one'], n: 3, max_tokens: 8,
                                             temperature: 1, seed: 11 });
  assert.equal(c.choices.length, 6);
  assert.deepEqual(c.choices.map((x) => x.index), [0, 1, 2, 3, 4, 5]);
  assert.equal(c.choices[0].text, one.choices[0].text);  // sample 0 is seeded as the n = 1 request
  assert.ok(new Set(c.choices.slice(0, 3).map((x) => x.text)).size > 1, 'three samples of one prompt all equal');
  assert.equal(c.usage.completion_tokens, 6 * 8);
  const other = await client.completions.create({ model: 'tiny', prompt: 'Another one', max_tokens: 1 });
  assert.equal(c.usage.prompt_tokens, one.usage.prompt_tokens + other.usage.prompt_tokens);  // each prompt once
  const chat = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }],
                                                     n: 2, max_tokens: 4, temperature: 0 });
  assert.equal(chat.choices.length, 2);
  assert.equal(chat.choices[0].message.content, chat.choices[1].message.content);  // greedy: the same twice
  // Streamed: the chunks of each index add up to that choice; each index gets its finish_reason.
  const stream = await client.completions.create({ model: 'tiny', prompt: [prompt, 'Another one'], n: 3,
                                                  max_tokens: 8, temperature: 1, seed: 11, stream: true });
  const texts = Array(6).fill(''), finishes = Array(6).fill(null);
  for await (const chunk of stream)
    for (const ch of chunk.choices) {
      texts[ch.index] += ch.text;
      if (ch.finish_reason) finishes[ch.index] = ch.finish_reason;
    }
  assert.deepEqual(texts, c.choices.map((x) => x.text));
  assert.deepEqual(finishes, Array(6).fill('length'));
});

test('logit_bias: +100 forces a token, through the official client', async () => {
  const c = await client.completions.create({ model: 'tiny', prompt, max_tokens: 6, temperature: 0.7, seed: 2,
                                             logit_bias: { 122: 100 } });
  assert.equal(c.choices[0].text, 'zzzzzz');
});

// Descending, as OpenAI lists top_logprobs.
function assertDescending(values, what) {
  for (let i = 1; i < values.length; ++i) assert.ok(values[i - 1] >= values[i], `${what}: ${values}`);
}

test('top_logprobs: completions (logprobs N) and chat (top_logprobs N), whole and streamed', async () => {
  const c = await client.completions.create({ model: 'tiny', prompt, max_tokens: 10, temperature: 1.2, seed: 3, logprobs: 3 });
  const lp = c.choices[0].logprobs;
  assert.equal(lp.top_logprobs.length, 10);
  lp.top_logprobs.forEach((top, k) => {
    // The 3 most likely and the chosen token, when it is not among them the least likely of 4 (OpenAI:
    // up to logprobs + 1). (A JS object lists digit keys first, so the wire order is checked in C++.)
    const values = Object.values(top).sort((a, b) => b - a);
    assert.ok(values.length === 3 || values.length === 4, JSON.stringify(top));
    assert.equal(top[lp.tokens[k]], lp.token_logprobs[k]);
    if (values.length === 4) assert.equal(values[3], lp.token_logprobs[k]);
    for (const v of values) assert.ok(v <= 0);
  });

  const messages = [{ role: 'user', content: 'hi' }];
  const args = { model: 'tiny', messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 5 };
  const r = await client.chat.completions.create(args);
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 5);
    assertDescending(t.top_logprobs.map((x) => x.logprob), t.token);
    assert.deepEqual(t.top_logprobs[0].bytes, t.bytes);  // greedy: the chosen token is the most likely
    assert.equal(t.top_logprobs[0].logprob, t.logprob);
  }
  const stream = await client.chat.completions.create({ ...args, stream: true });
  const streamed = [];
  for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(streamed.map((t) => t.top_logprobs.map((x) => x.bytes)), content.map((t) => t.top_logprobs.map((x) => x.bytes)));
});

test('top_logprobs bounds: 400s naming the field', async () => {
  const messages = [{ role: 'user', content: 'x' }];
  for (const extra of [{ top_logprobs: 2 }, { logprobs: false, top_logprobs: 0 }, { logprobs: true, top_logprobs: 21 }])
    await expectError(await h.postJson(server.url, '/v1/chat/completions', { model: 'tiny', messages, ...extra }, auth),
                      400, 'top_logprobs');
  await assert.rejects(client.chat.completions.create({ model: 'tiny', messages, top_logprobs: 3 }), (e) => e.status === 400);
});

test('a known route with the wrong method: 405 with Allow and a JSON error; unknown paths stay 404', async () => {
  const cases = [['GET', '/v1/completions', 'POST'], ['GET', '/v1/chat/completions', 'POST'],
                 ['POST', '/v1/models', 'GET, HEAD'], ['DELETE', '/v1/models/tiny', 'GET, HEAD'],
                 ['POST', '/health', 'GET, HEAD'], ['PUT', '/metrics', 'GET, HEAD']];
  for (const [method, path, allow] of cases) {
    const r = await h.request(server.url, { method, path, headers: auth });
    const e = await expectError(r, 405, undefined, 'method_not_allowed');
    assert.equal(r.headers.allow, allow, `${method} ${path}`);
    assert.equal(e.type, 'invalid_request_error');
  }
  await expectError(await h.request(server.url, { method: 'POST', path: '/v1/nothing', headers: auth }), 404);
  // curl reads the same answer.
  const out = execFileSync('curl', ['-s', '-i', `${server.url}/v1/completions`]).toString();
  assert.match(out, /^HTTP\/1\.1 405/);
  assert.match(out, /\r\nAllow: POST\r\n/);
});

// An OpenAI error body naming `param` (and `code` when given) with the expected status.
async function expectError(res, status, param, code) {
  assert.equal(res.status, status, res.body);
  assert.match(res.headers['content-type'], /application\/json/);
  const e = JSON.parse(res.body).error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  if (param !== undefined) assert.equal(e.param, param, e.message);
  if (code !== undefined) assert.equal(e.code, code, e.message);
  return e;
}

test('malformed JSON is a 400 invalid_request_error', async () => {
  const e = await expectError(await h.postJson(server.url, '/v1/completions', '{"model": "tiny", "prompt": ', auth), 400);
  assert.equal(e.type, 'invalid_request_error');
  await expectError(await h.postJson(server.url, '/v1/chat/completions', '[1, 2]', auth), 400);
});

test('wrong types and out-of-range values are 400s naming the field', async () => {
  const base = { model: 'tiny', prompt: 'x' };
  const cases = [
    [{ temperature: 'hot' }, 'temperature'], [{ temperature: 2.5 }, 'temperature'], [{ top_p: 0 }, 'top_p'],
    [{ max_tokens: -1 }, 'max_tokens'], [{ max_tokens: 1.5 }, 'max_tokens'], [{ max_tokens: 1e9 }, 'max_tokens'],
    [{ stop: 7 }, 'stop'], [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'], [{ stream: 'yes' }, 'stream'],
    [{ presence_penalty: 3 }, 'presence_penalty'], [{ seed: 'abc' }, 'seed'], [{ prompt: 42 }, 'prompt'],
    [{ n: 129 }, 'n'], [{ logprobs: 6 }, 'logprobs'], [{ logprobs: true }, 'logprobs'], [{ frobnicate: true }, 'frobnicate'],
  ];
  for (const [extra, param] of cases)
    await expectError(await h.postJson(server.url, '/v1/completions', { ...base, ...extra }, auth), 400, param);
  const chat = { model: 'tiny', messages: [{ role: 'user', content: 'x' }] };
  await expectError(await h.postJson(server.url, '/v1/chat/completions', { ...chat, n: 0 }, auth), 400, 'n');
  await expectError(await h.postJson(server.url, '/v1/chat/completions', { ...chat, messages: [] }, auth), 400, 'messages');
  await expectError(await h.postJson(server.url, '/v1/chat/completions',
                                     { ...chat, messages: [{ role: 'wizard', content: 'x' }] }, auth),
                    400, 'messages[0].role');
  await expectError(await h.postJson(server.url, '/v1/completions', { prompt: 'x' }, auth), 400, 'model');
  // The client reports the same 400 as a BadRequestError.
  await assert.rejects(client.completions.create({ model: 'tiny', prompt: 'x', n: 0 }), (e) => e.status === 400);
});

test('unknown model: 404 model_not_found', async () => {
  await expectError(await h.postJson(server.url, '/v1/completions', { model: 'gpt-9', prompt: 'x' }, auth), 404, 'model',
                    'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }),
                       (e) => e.status === 404);
});

test('body over --max-body-bytes: 413 with a JSON error', async () => {
  const body = JSON.stringify({ model: 'tiny', prompt: 'y'.repeat(kMaxBody) });
  await expectError(await h.postJson(server.url, '/v1/completions', body, auth), 413, undefined, 'request_too_large');
});

test('prompt over --max-prompt-tokens: 400 context_length_exceeded', async () => {
  await expectError(await h.postJson(server.url, '/v1/completions', { model: 'tiny', prompt: 'z'.repeat(kMaxPrompt + 1) },
                                     auth), 400, 'prompt', 'context_length_exceeded');
  const ok = await h.postJson(server.url, '/v1/completions', { model: 'tiny', prompt: 'z'.repeat(kMaxPrompt), max_tokens: 1 }, auth);
  assert.equal(ok.status, 200, ok.body);
});

test('API key: missing or wrong Bearer is a 401', async () => {
  await expectError(await h.postJson(server.url, '/v1/completions', { model: 'tiny', prompt: 'x' }), 401, undefined,
                    'invalid_api_key');
  await expectError(await h.postJson(server.url, '/v1/completions', { model: 'tiny', prompt: 'x' },
                                     { Authorization: 'Bearer sk-wrong' }), 401);
  await expectError(await h.request(server.url, { path: '/v1/models' }), 401);
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${server.url}/v1`, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
});

test('unknown route: 404 JSON', async () => {
  await expectError(await h.request(server.url, { path: '/v1/nope', headers: auth }), 404);
});

test('/health', async () => {
  const r = await h.request(server.url, { path: '/health' });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).status, 'ok');
});

test('a client that disconnects mid-stream cancels its request', async () => {
  const metric = async () => {
    const m = await h.request(server.url, { path: '/metrics' });
    const line = m.body.split('\n').find((l) => l.startsWith('anvil_scheduler_requests_total') && l.includes('cancelled'));
    return Number(line.split(' ').at(-1));
  };
  const before = await metric();
  const body = JSON.stringify({ model: 'tiny', prompt: 'stream and leave', max_tokens: 1000, stream: true });
  await new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1', () => {
      sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${kKey}\r\n` +
                 `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    sock.once('data', () => { sock.destroy(); resolve(); });  // the first bytes of the stream, then gone
    sock.on('error', reject);
  });
  const deadline = Date.now() + 10000;
  while ((await metric()) <= before) {
    assert.ok(Date.now() < deadline, 'the request was not cancelled within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
});

test('/metrics: Prometheus text that promtool accepts, with the request counts', async () => {
  const r = await h.request(server.url, { path: '/metrics' });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  // promtool exits non-zero on any parse error or lint problem.
  execFileSync('promtool', ['check', 'metrics'], { input: r.body, stdio: ['pipe', 'pipe', 'pipe'] });
  for (const name of ['anvil_requests_total', 'anvil_time_to_first_token_seconds_bucket', 'anvil_inter_token_latency_seconds_bucket',
                      'anvil_request_duration_seconds_count', 'anvil_queue_time_seconds_sum', 'anvil_queue_depth',
                      'anvil_running_sequences', 'anvil_kv_cache_used_tokens', 'process_resident_memory_bytes'])
    assert.ok(r.body.includes(name), `missing ${name}`);
  const ok = r.body.split('\n').find((l) => l.startsWith('anvil_requests_total') && l.includes('endpoint="/v1/completions"') &&
                                            l.includes('status="200"'));
  assert.ok(ok && Number(ok.split(' ').at(-1)) >= 5, ok);
  assert.ok(r.body.includes('status="401"') && r.body.includes('status="413"') && r.body.includes('status="404"'));
});
