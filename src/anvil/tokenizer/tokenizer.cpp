// Byte-level BPE encoding/decoding (see tokenizer.h). Short pieces merge with a scan over an array of
// pair ranks (tiktoken's loop); pieces longer than kLongPiece use a min-heap of (rank, position) over
// a linked list, O(n log n), so a 1 MB run of letters stays near-linear.
#include "anvil/tokenizer/tokenizer.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <queue>

namespace anvil::tok {
namespace {
constexpr size_t kLongPiece = 64;
}  // namespace

PieceCache::PieceCache() {
  Slot empty{};
  empty.key_len = 0xFF;
  slots.assign(size_t{1} << 15, empty);
}

Result<Tokenizer> Tokenizer::create(TokenizerParts parts) {
  Tokenizer t;
  const size_t n = parts.tokens.size();
  if (n < 256) return invalid_argument("[tokenizer.create] vocab has {} tokens; byte-level BPE needs at least 256", n);
  if (n > 0xFFFFFFF0u) return out_of_range("[tokenizer.create] vocab of {} tokens does not fit uint32 ids", n);
  t.is_special_.assign(n, 0);
  for (uint32_t id : parts.special_ids) {
    if (id >= n) return invalid_argument("[tokenizer.create] special token id {} >= vocab size {}", id, n);
    t.is_special_[id] = 1;
    const std::string& text = parts.tokens[id];
    const auto* q = reinterpret_cast<const uint8_t*>(text.data());
    for (size_t i = 0; i < text.size();) {
      uint32_t cp;
      i += decode_utf8(q, i, text.size(), cp);
      if (cp == 0xFFFFFFFFu) return invalid_argument("[tokenizer.create] special token {} is not valid UTF-8", id);
    }
  }
  bool have_byte[256] = {};
  for (uint32_t id = 0; id < n; ++id) {
    const std::string& b = parts.tokens[id];
    if (b.empty()) return invalid_argument("[tokenizer.create] token {} is empty", id);
    if (t.is_special_[id]) continue;
    auto [it, fresh] = t.by_bytes_.emplace(b, id);
    if (!fresh)
      return invalid_argument("[tokenizer.create] tokens {} and {} have the same bytes '{}'", it->second, id,
                              bytes_to_byte_level(b));
    if (b.size() == 1) {
      t.byte_id_[static_cast<uint8_t>(b[0])] = id;
      have_byte[static_cast<uint8_t>(b[0])] = true;
    }
  }
  for (int b = 0; b < 256; ++b) {
    if (have_byte[b]) continue;
    if (parts.missing_bytes == MissingBytes::kError)
      return invalid_argument("[tokenizer.create] byte 0x{:02X} has no token; byte-level BPE needs all 256 bytes "
                              "(load with MissingBytes::kDrop, CLI --drop-missing-bytes, to drop such bytes as HF does)", b);
    t.byte_id_[b] = kMissingByte;
    t.has_missing_bytes_ = true;
  }
  for (uint32_t id : parts.special_ids) {
    t.by_bytes_.emplace(parts.tokens[id], id);
    t.specials_by_length_.emplace_back(parts.tokens[id], id);
    t.special_first_byte_[static_cast<uint8_t>(parts.tokens[id][0])] = true;
  }
  std::stable_sort(t.specials_by_length_.begin(), t.specials_by_length_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  t.merge_rank_ = PairMap(parts.merges.size() + 16);
  t.merge_result_.resize(parts.merges.size());
  for (uint32_t r = 0; r < parts.merges.size(); ++r) {
    const Merge m = parts.merges[r];
    if (m.left >= n || m.right >= n || t.is_special_[m.left] || t.is_special_[m.right])
      return invalid_argument("[tokenizer.create] merge {} ({}, {}) names an id that is not a regular token", r,
                              m.left, m.right);
    std::string joined = parts.tokens[m.left] + parts.tokens[m.right];
    auto it = t.by_bytes_.find(joined);
    if (it == t.by_bytes_.end() || t.is_special_[it->second])
      return invalid_argument("[tokenizer.create] merge {} ('{}' '{}'): the vocab has no token '{}'", r,
                              bytes_to_byte_level(parts.tokens[m.left]), bytes_to_byte_level(parts.tokens[m.right]),
                              bytes_to_byte_level(joined));
    bool fresh = false;
    uint32_t& slot = t.merge_rank_.insert(pair_key(m.left, m.right), r, &fresh);
    if (!fresh)
      return invalid_argument("[tokenizer.create] merge {} ('{}' '{}') repeats merge {}", r,
                              bytes_to_byte_level(parts.tokens[m.left]), bytes_to_byte_level(parts.tokens[m.right]), slot);
    t.merge_result_[r] = it->second;
  }
  t.parts_ = std::move(parts);
  return t;
}

std::optional<uint32_t> Tokenizer::token_id(std::string_view bytes) const {
  auto it = by_bytes_.find(std::string(bytes));
  if (it == by_bytes_.end()) return std::nullopt;
  return it->second;
}

void Tokenizer::merge_short(const uint8_t* p, size_t n, std::vector<uint32_t>& out) const {
  uint32_t sym[kLongPiece], rk[kLongPiece];
  for (size_t i = 0; i < n; ++i) sym[i] = byte_id_[p[i]];
  for (size_t i = 0; i + 1 < n; ++i) rk[i] = rank_of(sym[i], sym[i + 1]);
  size_t m = n;
  while (m > 1) {
    uint32_t best = kNoRank;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < m; ++i)
      if (rk[i] < best) { best = rk[i]; bi = i; }
    if (best == kNoRank) break;
    sym[bi] = merge_result_[best];
    for (size_t j = bi + 1; j + 1 < m; ++j) sym[j] = sym[j + 1];
    for (size_t j = bi + 1; j + 2 < m; ++j) rk[j] = rk[j + 1];
    --m;
    if (bi > 0) rk[bi - 1] = rank_of(sym[bi - 1], sym[bi]);
    if (bi + 1 < m) rk[bi] = rank_of(sym[bi], sym[bi + 1]);
  }
  out.insert(out.end(), sym, sym + m);
}

void Tokenizer::merge_long(const uint8_t* p, size_t n, std::vector<uint32_t>& out) const {
  constexpr uint32_t kDead = 0xFFFFFFFFu;
  struct Node { uint32_t id; int32_t prev, next; };
  std::vector<Node> nodes(n);
  for (size_t i = 0; i < n; ++i)
    nodes[i] = Node{byte_id_[p[i]], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  using Item = std::pair<uint32_t, uint32_t>;  // (rank, position of the left node)
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t i = 0; i + 1 < n; ++i) {
    uint32_t r = rank_of(nodes[i].id, nodes[i + 1].id);
    if (r != kNoRank) heap.emplace(r, static_cast<uint32_t>(i));
  }
  while (!heap.empty()) {
    auto [r, pos] = heap.top();
    heap.pop();
    Node& a = nodes[pos];
    if (a.id == kDead || a.next < 0) continue;
    Node& b = nodes[a.next];
    if (rank_of(a.id, b.id) != r) continue;  // stale entry
    a.id = merge_result_[r];
    b.id = kDead;
    a.next = b.next;
    if (a.next >= 0) nodes[a.next].prev = static_cast<int32_t>(pos);
    if (a.prev >= 0) {
      uint32_t rl = rank_of(nodes[a.prev].id, a.id);
      if (rl != kNoRank) heap.emplace(rl, static_cast<uint32_t>(a.prev));
    }
    if (a.next >= 0) {
      uint32_t rr = rank_of(a.id, nodes[a.next].id);
      if (rr != kNoRank) heap.emplace(rr, pos);
    }
  }
  for (int32_t i = 0; i >= 0; i = nodes[i].next) out.push_back(nodes[i].id);
}

void Tokenizer::encode_piece(std::string_view piece, std::vector<uint32_t>& out) const {
  std::string kept;
  if (has_missing_bytes_) {  // HF drops characters its vocab lacks, then merges what is left
    for (char c : piece)
      if (byte_id_[static_cast<uint8_t>(c)] != kMissingByte) kept.push_back(c);
    piece = kept;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(piece.data());
  const size_t n = piece.size();
  if (n == 0) return;
  if (n == 1) { out.push_back(byte_id_[p[0]]); return; }
  if (parts_.ignore_merges) {
    auto it = by_bytes_.find(std::string(piece));
    if (it != by_bytes_.end() && !is_special_[it->second]) { out.push_back(it->second); return; }
  }
  if (n <= kLongPiece) merge_short(p, n, out);
  else merge_long(p, n, out);
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<uint32_t>& out, PieceCache* cache) const {
  pretokenize(parts_.pretokenizer, text, [&](size_t b, size_t e) {
    const char* p = text.data() + b;
    const size_t n = e - b;
    if (n == 1 && !has_missing_bytes_) { out.push_back(byte_id_[static_cast<uint8_t>(*p)]); return; }
    if (!cache || n > PieceCache::kMaxKey) { encode_piece({p, n}, out); return; }
    const uint64_t h = hash_bytes(p, n);
    PieceCache::Slot& s = cache->slots[h & (cache->slots.size() - 1)];
    if (s.hash == h && s.key_len == n && std::memcmp(s.key, p, n) == 0) {
      out.insert(out.end(), s.ids, s.ids + s.n_ids);
      return;
    }
    const size_t before = out.size();
    encode_piece({p, n}, out);
    const size_t n_ids = out.size() - before;
    if (n_ids <= PieceCache::kMaxIds) {
      s.hash = h;
      s.key_len = static_cast<uint8_t>(n);
      s.n_ids = static_cast<uint8_t>(n_ids);
      std::memcpy(s.key, p, n);
      std::memcpy(s.ids, out.data() + before, n_ids * sizeof(uint32_t));
    }
  });
}

void Tokenizer::encode(std::string_view text, std::vector<uint32_t>& out, const EncodeOptions& opt,
                       PieceCache* cache) const {
  if (opt.special == SpecialMode::kAsText || specials_by_length_.empty()) {
    encode_ordinary(text, out, cache);
    return;
  }
  size_t start = 0;  // start of the ordinary text not yet encoded
  for (size_t i = 0; i < text.size(); ++i) {
    if (!special_first_byte_[static_cast<uint8_t>(text[i])]) continue;
    for (const auto& [content, id] : specials_by_length_) {
      if (text.compare(i, content.size(), content) != 0) continue;
      encode_ordinary(text.substr(start, i - start), out, cache);
      out.push_back(id);
      start = i + content.size();
      i = start - 1;
      break;
    }
  }
  encode_ordinary(text.substr(start), out, cache);
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  std::vector<uint32_t> out;
  encode(text, out, opt, nullptr);
  return out;
}

EncodedBatch Tokenizer::encode_batch(std::span<const std::string_view> docs, const EncodeOptions& opt,
                                     int n_threads) const {
  if (n_threads <= 0) n_threads = omp_get_max_threads();
  std::vector<std::vector<uint32_t>> per_doc(docs.size());
#pragma omp parallel num_threads(n_threads)
  {
    PieceCache cache;
#pragma omp for schedule(dynamic, 1)
    for (size_t d = 0; d < docs.size(); ++d) encode(docs[d], per_doc[d], opt, &cache);
  }
  EncodedBatch batch;
  batch.offsets.resize(docs.size() + 1, 0);
  for (size_t d = 0; d < docs.size(); ++d) batch.offsets[d + 1] = batch.offsets[d] + per_doc[d].size();
  batch.ids.resize(batch.offsets.back());
#pragma omp parallel for num_threads(n_threads) schedule(static)
  for (size_t d = 0; d < docs.size(); ++d)
    std::copy(per_doc[d].begin(), per_doc[d].end(), batch.ids.begin() + static_cast<ptrdiff_t>(batch.offsets[d]));
  return batch;
}

Result<std::string> Tokenizer::decode(std::span<const uint32_t> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= parts_.tokens.size())
      return out_of_range("[tokenizer.decode] id {} at position {} >= vocab size {}", ids[i], i, parts_.tokens.size());
    out += parts_.tokens[ids[i]];
  }
  return out;
}

std::vector<std::string_view> split_at_safe_points(std::string_view text, size_t target_bytes) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  while (text.size() - start > target_bytes) {
    size_t p = text.find('\n', start + target_bytes);
    while (p != std::string_view::npos && p + 1 < text.size() &&
           !(p > start && !is_space(text[p - 1]) && static_cast<uint8_t>(text[p - 1]) < 0x80 && is_alpha(text[p + 1])))
      p = text.find('\n', p + 1);
    if (p == std::string_view::npos || p + 1 >= text.size()) break;
    parts.push_back(text.substr(start, p + 1 - start));
    start = p + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

namespace {
// Length of the valid UTF-8 sequence at s[i..n): >0 complete, 0 a valid but unfinished prefix,
// -1 invalid (the first byte must be replaced).
int utf8_status(const std::string& s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) return 1;
  int need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 2;
  else if (c >= 0xE0 && c <= 0xEF) { need = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
  else return -1;
  for (int k = 1; k < need; ++k) {
    if (i + k >= s.size()) return 0;
    const auto d = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) return -1;
  }
  return need;
}
}  // namespace

std::string StreamDecoder::drain(bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    int st = utf8_status(pending_, i);
    if (st > 0) { out.append(pending_, i, st); i += st; continue; }
    if (st == 0 && !final) break;
    out += "\xEF\xBF\xBD";  // U+FFFD
    i += 1;
  }
  pending_.erase(0, i);
  return out;
}

Result<std::string> StreamDecoder::push(uint32_t id) {
  if (id >= t_->vocab_size())
    return out_of_range("[tokenizer.stream_decode] id {} >= vocab size {}", id, t_->vocab_size());
  pending_ += t_->token_bytes(id);
  return drain(false);
}

std::string StreamDecoder::flush() { return drain(true); }

}  // namespace anvil::tok
