// Encoding throughput of npm GPT-2 encoders, for bench/tokenizer/run.sh.
//   node peer_encode.js LIB CORPUS      -> one JSON line {lib, bytes, tokens, seconds, mb_per_s}
// LIB: tiktoken-node | dqbd-tiktoken | js-tiktoken | hf | hf-batch (HF tokenizers node binding; loads
// $GPT2_TOKENIZER_JSON, addSpecialTokens=false; hf-batch = encodeBatch of 32 chunks, Rayon threads).
// The corpus is cut into ~64 KiB chunks after a '\n' that follows a non-space and precedes an ASCII
// letter (cuts that cannot change GPT-2 pre-tokenization; anvil cuts the same way). Timing covers
// encoding only; MB = 10^6 bytes of UTF-8 input. Modules: NODE_MODULES (default tests/node/node_modules).
'use strict';
const fs = require('fs');
const path = require('path');
const modDir = process.env.NODE_MODULES || path.join(__dirname, '..', '..', 'tests', 'node', 'node_modules');
const req = (m) => require(require.resolve(m, { paths: [modDir] }));

function chunks(text, target) {
  const out = [];
  let start = 0;
  const isSpace = (c) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
  const isAlpha = (c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  while (text.length - start > target) {
    let p = text.indexOf('\n', start + target);
    while (p >= 0 && p + 1 < text.length && !(p > start && !isSpace(text[p - 1]) && text.charCodeAt(p - 1) < 0x80 && isAlpha(text[p + 1])))
      p = text.indexOf('\n', p + 1);
    if (p < 0 || p + 1 >= text.length) break;
    out.push(text.slice(start, p + 1));
    start = p + 1;
  }
  out.push(text.slice(start));
  return out;
}

const LIBS = {
  'tiktoken-node': () => { const e = req('tiktoken-node').getEncoding('gpt2'); return (s) => e.encode(s); },
  'dqbd-tiktoken': () => { const e = req('@dqbd/tiktoken').get_encoding('gpt2'); return (s) => e.encode(s); },
  'js-tiktoken': () => {
    const { Tiktoken } = req('js-tiktoken/lite');
    const r = req('js-tiktoken/ranks/gpt2');
    const e = new Tiktoken(r.default || r);
    return (s) => e.encode(s);
  },
  'hf': () => {
    const t = req('tokenizers').Tokenizer.fromFile(process.env.GPT2_TOKENIZER_JSON);
    return async (s) => (await t.encode(s, null, { addSpecialTokens: false })).getIds();
  },
  'hf-batch': () => {
    const t = req('tokenizers').Tokenizer.fromFile(process.env.GPT2_TOKENIZER_JSON);
    const f = async (b) => (await t.encodeBatch(b, { addSpecialTokens: false })).map((e) => e.getIds());
    f.batch = 32;
    return f;
  },
};

async function main() {
  const [lib, corpus] = process.argv.slice(2);
  if (!LIBS[lib] || !corpus) { console.error('usage: node peer_encode.js ' + Object.keys(LIBS).join('|') + ' CORPUS'); process.exit(2); }
  const buf = fs.readFileSync(corpus);
  const parts = chunks(buf.toString('utf8'), 65536);
  const f = LIBS[lib]();
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  if (f.batch) {
    for (let i = 0; i < parts.length; i += f.batch) for (const ids of await f(parts.slice(i, i + f.batch))) tokens += ids.length;
  } else {
    for (const p of parts) { let ids = f(p); if (ids && typeof ids.then === 'function') ids = await ids; tokens += ids.length; }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ lib, bytes: buf.length, tokens, seconds: +s.toFixed(3), mb_per_s: +(buf.length / 1e6 / s).toFixed(2) }));
}
main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
