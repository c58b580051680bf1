// Trains Hugging Face tokenizers (npm tokenizers@0.23.2 node binding) on CORPUS, for run.sh. The node
// binding's train() uses the default BpeTrainer only: vocab 30000, GPT-2 ByteLevel pre-tokenizer.
//   node peer_train_hf.js CORPUS OUT.json   -> one JSON line {vocab_size, train_s}
'use strict';
const path = require('path');
const modDir = process.env.NODE_MODULES || path.join(__dirname, '..', '..', 'tests', 'node', 'node_modules');
const tk = require(require.resolve('tokenizers', { paths: [modDir] }));
const [corpus, out] = process.argv.slice(2);
if (!corpus || !out) { console.error('usage: node peer_train_hf.js CORPUS OUT.json'); process.exit(2); }
const t0 = process.hrtime.bigint();
const tok = new tk.Tokenizer(tk.BPE.empty());
tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
tok.train([corpus]);
const s = Number(process.hrtime.bigint() - t0) / 1e9;
tok.save(out, false);
console.log(JSON.stringify({ vocab_size: tok.getVocabSize(true), train_s: +s.toFixed(3) }));
