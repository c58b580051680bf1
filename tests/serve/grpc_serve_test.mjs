// `anvil serve --grpc-port 0`: the gRPC front end of the real binary, next to HTTP over the same
// scheduler. @grpc/grpc-js + @grpc/proto-loader read proto/anvil/v1/inference.proto; Health answers,
// a greedy Generate stream equals the greedy /v1/completions text for the same prompt, a token-id prompt's
// scores equal HTTP echo's, the API key guards Generate, and SIGTERM drains both front ends and exits 0.
//   node grpc_serve_test.mjs ANVIL_BINARY WORK_DIR
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import * as h from './harness.mjs';

h.requireNpmClients();
const [anvil, work] = process.argv.slice(2);
const grpc = h.requireClient('@grpc/grpc-js');
const loader = h.requireClient('@grpc/proto-loader');
const proto = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../proto/anvil/v1/inference.proto');
const { Inference } = grpc.loadPackageDefinition(
  loader.loadSync(proto, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })).anvil.v1;
const modelDir = h.makeModelDir(anvil, `${work}/tiny`);
const servers = [];
after(() => { for (const s of servers) s.proc.kill('SIGKILL'); });

function collect(client, request, md) {
  return new Promise((resolve) => {
    const out = { text: '', finish_reason: null, usage: null, code: 0, prompt: null, n_messages: 0 };
    const call = client.Generate(request, md);
    call.on('data', (m) => {
      out.text += m.text;
      ++out.n_messages;
      if (m.prompt) { assert.equal(out.prompt, null, 'prompt scores twice'); out.prompt = m.prompt; }
      if (m.finish_reason !== 'FINISH_REASON_UNSPECIFIED') { out.finish_reason = m.finish_reason; out.usage = m.usage; }
    });
    call.on('error', (e) => resolve({ ...out, code: e.code }));
    call.on('end', () => resolve(out));
  });
}

test('gRPC and HTTP serve the same model from one process', async () => {
  const s = await h.startServer(anvil, modelDir, ['--model-name', 'tiny', '--grpc-port', '0', '--api-key', 'k1']);
  servers.push(s);
  const m = s.stdout().match(/gRPC anvil\.v1\.Inference on ([\d.]+):(\d+)/);
  assert.ok(m, `no gRPC address in: ${s.stdout()}`);
  const client = new Inference(`${m[1]}:${m[2]}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer k1');

  const health = await new Promise((resolve, reject) =>
    client.Health({}, (err, r) => (err ? reject(err) : resolve(r))));
  assert.equal(health.status, 'SERVING');
  assert.equal(health.model, 'tiny');

  const viaGrpc = await collect(client, { prompt: 'The cat', temperature: 0, max_tokens: 20 }, md);
  assert.equal(viaGrpc.code, 0);
  assert.equal(viaGrpc.finish_reason, 'FINISH_REASON_LENGTH');
  assert.equal(viaGrpc.usage.completion_tokens, 20);
  const viaHttp = await h.postJson(s.url, '/v1/completions',
                                   { model: 'tiny', prompt: 'The cat', temperature: 0, max_tokens: 20 },
                                   { Authorization: 'Bearer k1' });
  assert.equal(viaHttp.status, 200, viaHttp.body);
  assert.equal(viaGrpc.text, JSON.parse(viaHttp.body).choices[0].text);

  // Token ids and prompt scores (max_tokens 0: score only) equal HTTP's echo of the same prompt.
  const ids = [84, 104, 101, 32, 99, 97, 116];  // "The cat" byte by byte
  const scored = await collect(client, { prompt_ids: { ids }, max_tokens: 0, logprobs: true, top_logprobs: 2,
                                         prompt_logprobs: true }, md);
  assert.equal(scored.code, 0);
  assert.equal(scored.usage.completion_tokens, 0);
  assert.deepEqual(scored.prompt.token_ids, ids.slice(1));
  assert.equal(scored.prompt.top_logprobs.length, ids.length - 1);
  const echo = await h.postJson(s.url, '/v1/completions', { model: 'tiny', prompt: ids, max_tokens: 0, logprobs: 2,
                                                            echo: true }, { Authorization: 'Bearer k1' });
  assert.equal(echo.status, 200, echo.body);
  const lp = JSON.parse(echo.body).choices[0].logprobs;
  scored.prompt.logprobs.forEach((v, k) => assert.ok(Math.abs(v - lp.token_logprobs[k + 1]) < 1e-6, `${k}: ${v}`));
  const unscored = await collect(client, { prompt_ids: { ids }, max_tokens: 0, prompt_logprobs: true }, md);
  assert.equal(unscored.code, grpc.status.INVALID_ARGUMENT);  // prompt_logprobs needs logprobs
  const outside = await collect(client, { prompt_ids: { ids: [1, 1 << 30] }, max_tokens: 1 }, md);
  assert.equal(outside.code, grpc.status.INVALID_ARGUMENT);

  const denied = await collect(client, { prompt: 'x', max_tokens: 2 }, new grpc.Metadata());
  assert.equal(denied.code, grpc.status.UNAUTHENTICATED);

  client.close();
  s.proc.kill('SIGTERM');
  assert.equal(await h.exited(s.proc), 0);
});
