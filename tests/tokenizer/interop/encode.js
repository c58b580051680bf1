// Encodes documents with an npm tokenizer, for anvil's interop tests (tests/tokenizer/interop_test.cpp).
//   node encode.js CLIENT DOCS.json OUT.json [TOKENIZER.json]
// CLIENT: js-tiktoken-gpt2 | gpt-3-encoder | tiktoken-node-gpt2 | hf (tokenizers node binding, loads
// TOKENIZER.json, addSpecialTokens=false). DOCS.json: array of strings. OUT.json: array of id arrays.
//   node encode.js hf-train CORPUS.txt OUT_TOKENIZER.json -> trains HF's default BpeTrainer (vocab 30000,
//   GPT-2 ByteLevel pre-tokenizer, no initial alphabet) on CORPUS.txt and saves it.
// Modules come from NODE_MODULES (default: ../../node/node_modules beside this file).
'use strict';
const fs = require('fs');
const path = require('path');

const modDir = process.env.NODE_MODULES || path.join(__dirname, '..', '..', 'node', 'node_modules');
const req = (m) => require(require.resolve(m, { paths: [modDir] }));

async function main() {
  const [client, docsPath, outPath, tokJson] = process.argv.slice(2);
  if (!client || !docsPath || !outPath) {
    console.error('usage: node encode.js CLIENT DOCS.json OUT.json [TOKENIZER.json]');
    process.exit(2);
  }
  if (client === 'hf-train') {
    const tk = req('tokenizers');
    const tok = new tk.Tokenizer(tk.BPE.empty());
    tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
    tok.train([docsPath]);
    tok.save(outPath, false);
    return;
  }
  const docs = JSON.parse(fs.readFileSync(docsPath, 'utf8'));
  let out;
  if (client === 'js-tiktoken-gpt2') {
    const { Tiktoken } = req('js-tiktoken/lite');
    const r = req('js-tiktoken/ranks/gpt2');
    const enc = new Tiktoken(r.default || r);
    out = docs.map((d) => enc.encode(d));
  } else if (client === 'gpt-3-encoder') {
    const m = req('gpt-3-encoder');
    out = docs.map((d) => m.encode(d));
  } else if (client === 'tiktoken-node-gpt2') {
    const enc = req('tiktoken-node').getEncoding('gpt2');
    out = docs.map((d) => Array.from(enc.encode(d)));
  } else if (client === 'hf') {
    const tk = req('tokenizers');
    const t = tk.Tokenizer.fromFile(tokJson);
    out = [];
    for (let i = 0; i < docs.length; i += 512) {
      const encs = await t.encodeBatch(docs.slice(i, i + 512), { addSpecialTokens: false });
      for (const e of encs) out.push(Array.from(e.getIds()));
    }
  } else {
    console.error('unknown CLIENT ' + client);
    process.exit(2);
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}
main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
