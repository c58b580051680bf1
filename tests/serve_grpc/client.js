// A real gRPC client for anvil.v1.Inference: @grpc/grpc-js with @grpc/proto-loader reading
// proto/anvil/v1/inference.proto (installed by scripts/npm_test_deps.sh into tests/node/node_modules).
// Run by grpc_node_test: node client.js PORT API_KEY. Prints one JSON object with what each call saw:
// health, a greedy stream, a chat stream, a bad argument, a missing api key, and a cancel mid-stream.
'use strict';
const path = require('path');
const modules = path.join(__dirname, '..', 'node', 'node_modules');
const grpc = require(path.join(modules, '@grpc/grpc-js'));
const loader = require(path.join(modules, '@grpc/proto-loader'));

const [port, apiKey] = process.argv.slice(2);
const def = loader.loadSync(path.join(__dirname, '..', '..', 'proto', 'anvil', 'v1', 'inference.proto'),
                            {keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true});
const {Inference} = grpc.loadPackageDefinition(def).anvil.v1;
const client = new Inference(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

function auth() {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${apiKey}`);
  return md;
}

// Collects a whole stream: text, ids, logprobs, the last message's finish_reason and usage.
function stream(request, md) {
  return new Promise((resolve) => {
    const out = {text: '', token_ids: [], logprobs: [], n_messages: 0, finish_reason: null, usage: null, code: 0};
    const call = client.Generate(request, md);
    call.on('data', (m) => {
      out.n_messages += 1;
      out.text += m.text;
      out.token_ids.push(...m.token_ids);
      out.logprobs.push(...m.logprobs);
      if (m.finish_reason !== 'FINISH_REASON_UNSPECIFIED') {
        out.finish_reason = m.finish_reason;
        out.usage = m.usage;
      }
    });
    call.on('error', (e) => resolve({...out, code: e.code, details: e.details}));
    call.on('end', () => resolve(out));
  });
}

// Cancels after the first message; resolves with the status code the client saw.
function cancel_after_first(request, md) {
  return new Promise((resolve) => {
    let n_tokens = 0;
    const call = client.Generate(request, md);
    call.on('data', (m) => {
      if (n_tokens === 0) call.cancel();
      n_tokens += m.token_ids.length;
    });
    call.on('error', (e) => resolve({code: e.code, n_tokens}));
    call.on('end', () => resolve({code: 0, n_tokens}));
  });
}

async function main() {
  const result = {};
  result.health = await new Promise((resolve) =>
    client.Health({}, (err, r) => resolve(err ? {code: err.code, details: err.details} : r)));
  result.greedy = await stream({prompt: 'The cat', temperature: 0, max_tokens: 24, ignore_eos: true, logprobs: true}, auth());
  result.chat = await stream({chat: {messages: [{role: 'user', content: 'Hi?'}]}, temperature: 0, max_tokens: 12,
                              ignore_eos: true}, auth());
  result.invalid = await stream({prompt: 'x', max_tokens: 0}, auth());
  result.unauthenticated = await stream({prompt: 'x', max_tokens: 2}, new grpc.Metadata());
  result.cancel = await cancel_after_first({prompt: 'a', temperature: 0, max_tokens: 2000, ignore_eos: true}, auth());
  process.stdout.write(JSON.stringify(result) + '\n');
  client.close();
}

main().catch((e) => {
  process.stderr.write(`client.js: ${e.stack || e}\n`);
  process.exit(1);
});
