#include "anvil/train/loader.h"

#include <algorithm>
#include <filesystem>

#include "anvil/base/rng.h"

namespace anvil::train {

Result<std::vector<std::string>> list_shards(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> in_dir;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".tok") in_dir.push_back(e.path().string());
      if (in_dir.empty()) return not_found("[train.data] directory '{}' has no *.tok shards", p);
      std::sort(in_dir.begin(), in_dir.end());
      out.insert(out.end(), in_dir.begin(), in_dir.end());
    } else if (fs::exists(p, ec)) {
      out.push_back(p);
    } else {
      return not_found("[train.data] no such shard file or directory '{}'", p);
    }
  }
  if (out.empty()) return invalid_argument("[train.data] no shards given");
  return out;
}

Result<TokenLoader> TokenLoader::open(const std::vector<std::string>& paths, int64_t T, uint64_t seed) {
  if (T < 1) return invalid_argument("[train.data] context length must be >= 1, got {}", T);
  ANVIL_ASSIGN_OR_RETURN(std::vector<std::string> files, list_shards(paths));
  TokenLoader L;
  L.T_ = T;
  L.seed_ = seed;
  for (const std::string& f : files) {
    ANVIL_ASSIGN_OR_RETURN(data::TokenShard shard, data::TokenShard::open(f));
    if (L.vocab_size_ != 0 && shard.vocab_size() != L.vocab_size_)
      return invalid_argument("[train.data] shard '{}' has vocab {} but '{}' has {}", f, shard.vocab_size(),
                              files.front(), L.vocab_size_);
    L.vocab_size_ = shard.vocab_size();
    const uint64_t n = shard.size();
    L.n_tokens_ += n;
    const auto idx = static_cast<uint32_t>(L.shards_.size());
    for (uint64_t s = 0; s + static_cast<uint64_t>(T) + 1 <= n; s += static_cast<uint64_t>(T))
      L.windows_.push_back({idx, s});
    L.shards_.push_back(std::move(shard));
  }
  if (L.windows_.empty())
    return invalid_argument("[train.data] {} shard(s) with {} tokens hold no window of {} tokens (context {} + 1)",
                            files.size(), L.n_tokens_, T + 1, T);
  L.shuffle_epoch();
  return L;
}

void TokenLoader::shuffle_epoch() {
  order_.resize(windows_.size());
  for (uint64_t i = 0; i < order_.size(); ++i) order_[i] = i;
  Rng rng = Rng(seed_).fork(pos_.epoch);
  for (uint64_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);  // Fisher–Yates
}

void TokenLoader::set_position(const LoaderPosition& p) {
  pos_ = p;
  pos_.cursor = std::min<uint64_t>(pos_.cursor, windows_.size());
  shuffle_epoch();
}

void TokenLoader::copy_window(const Window& w, int32_t* ids, int32_t* targets) const {
  const data::TokenShard& s = shards_[w.shard];
  for (int64_t t = 0; t < T_; ++t) {
    ids[t] = static_cast<int32_t>(s[w.start + static_cast<uint64_t>(t)]);
    targets[t] = static_cast<int32_t>(s[w.start + static_cast<uint64_t>(t) + 1]);
  }
}

void TokenLoader::next_batch(int64_t B, int32_t* ids, int32_t* targets) {
  for (int64_t b = 0; b < B; ++b) {
    if (pos_.cursor == windows_.size()) {
      ++pos_.epoch;
      pos_.cursor = 0;
      shuffle_epoch();
    }
    copy_window(windows_[order_[pos_.cursor++]], ids + b * T_, targets + b * T_);
  }
}

bool TokenLoader::fixed_batch(int64_t i, int64_t B, int32_t* ids, int32_t* targets) const {
  const uint64_t first = static_cast<uint64_t>(i) * static_cast<uint64_t>(B);
  if (first + static_cast<uint64_t>(B) > windows_.size()) return false;
  for (int64_t b = 0; b < B; ++b) copy_window(windows_[first + static_cast<uint64_t>(b)], ids + b * T_, targets + b * T_);
  return true;
}

}  // namespace anvil::train
