// The three near-dedup stages as files (dedup.h; layouts in docs/data.md §dedup):
//   signatures  "ANVLMHS1" u32 n_bands u32 0 u64 n  then n × (u64 doc_id, u64 key[n_bands])
//   pairs       "ANVLMHP1" u64 n                  then n × (u64 doc, u64 same_bucket_doc)
//   removals    "ANVLMHR1" u64 n                  then n × u64 doc_id, ascending
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "anvil/base/file.h"
#include "anvil/data/dedup.h"

namespace anvil::data {
namespace {

constexpr char kSigMagic[8] = {'A', 'N', 'V', 'L', 'M', 'H', 'S', '1'};
constexpr char kPairMagic[8] = {'A', 'N', 'V', 'L', 'M', 'H', 'P', '1'};
constexpr char kRemoveMagic[8] = {'A', 'N', 'V', 'L', 'M', 'H', 'R', '1'};

std::string u64_file(const char magic[8], std::span<const uint64_t> header, std::span<const uint64_t> body) {
  std::string out(magic, 8);
  out.append(reinterpret_cast<const char*>(header.data()), header.size() * 8);
  out.append(reinterpret_cast<const char*>(body.data()), body.size() * 8);
  return out;
}

// Checks magic and size and returns the u64 words after the magic.
Result<std::vector<uint64_t>> read_u64_file(const std::string& path, const char magic[8], const char* what) {
  ANVIL_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  if (bytes.size() < 16 || std::memcmp(bytes.data(), magic, 8) != 0 || (bytes.size() - 8) % 8 != 0) {
    return invalid_argument("[dedup] '{}' is not a {} file (bad magic or size {})", path, what, bytes.size());
  }
  std::vector<uint64_t> words((bytes.size() - 8) / 8);
  std::memcpy(words.data(), bytes.data() + 8, words.size() * 8);
  return words;
}

struct SigFile {
  uint64_t n_bands = 0, n = 0;
  std::vector<uint64_t> words;  // header words first
  const uint64_t* record(uint64_t i) const { return words.data() + 2 + i * (1 + n_bands); }
};

Result<SigFile> read_sig_file(const std::string& path) {
  SigFile f;
  ANVIL_ASSIGN_OR_RETURN(f.words, read_u64_file(path, kSigMagic, "MinHash signature"));
  f.n_bands = f.words[0] & 0xFFFFFFFFull;
  f.n = f.words.size() >= 2 ? f.words[1] : 0;
  if (f.n_bands == 0 || f.words.size() != 2 + f.n * (1 + f.n_bands)) {
    return invalid_argument("[dedup] '{}': {} records of {} bands need {} words, file has {}", path, f.n, f.n_bands,
                            2 + f.n * (1 + f.n_bands), f.words.size());
  }
  return f;
}

}  // namespace

Status SignatureWriter::open(const std::string& path, int n_bands) {
  if (n_bands <= 0) return invalid_argument("[dedup] '{}': n_bands must be > 0, got {}", path, n_bands);
  path_ = path;
  n_bands_ = n_bands;
  data_.clear();
  return ok_status();
}

Status SignatureWriter::add(uint64_t doc_id, std::span<const uint64_t> band_keys) {
  if (band_keys.size() != static_cast<size_t>(n_bands_)) {
    return invalid_argument("[dedup] '{}': {} band keys, expected {}", path_, band_keys.size(), n_bands_);
  }
  data_.push_back(doc_id);
  data_.insert(data_.end(), band_keys.begin(), band_keys.end());
  return ok_status();
}

Status SignatureWriter::finalize() {
  const uint64_t header[2] = {static_cast<uint64_t>(n_bands_), data_.size() / (1 + static_cast<size_t>(n_bands_))};
  return write_file_atomic(path_, u64_file(kSigMagic, header, data_));
}

Status build_band_pairs(const std::vector<std::string>& signature_paths, int worker, int n_workers,
                        const std::string& out_path) {
  if (n_workers <= 0 || worker < 0 || worker >= n_workers) {
    return invalid_argument("[dedup.buckets] worker {}/{} is not valid", worker, n_workers);
  }
  std::vector<SigFile> files;
  for (const auto& p : signature_paths) {
    ANVIL_ASSIGN_OR_RETURN(SigFile f, read_sig_file(p));
    if (!files.empty() && f.n_bands != files[0].n_bands) {
      return invalid_argument("[dedup.buckets] '{}' has {} bands, '{}' has {}", p, f.n_bands, signature_paths[0],
                              files[0].n_bands);
    }
    files.push_back(std::move(f));
  }
  std::vector<uint64_t> pairs;
  const uint64_t n_bands = files.empty() ? 0 : files[0].n_bands;
  std::vector<std::pair<uint64_t, uint64_t>> bucket;  // (band key, doc id)
  for (uint64_t band = static_cast<uint64_t>(worker); band < n_bands; band += static_cast<uint64_t>(n_workers)) {
    bucket.clear();
    for (const auto& f : files) {
      for (uint64_t i = 0; i < f.n; ++i) bucket.emplace_back(f.record(i)[1 + band], f.record(i)[0]);
    }
    std::sort(bucket.begin(), bucket.end());
    size_t run_start = 0;  // first member of the current key's run
    for (size_t i = 1; i < bucket.size(); ++i) {
      if (bucket[i].first != bucket[run_start].first) {
        run_start = i;
        continue;
      }
      pairs.push_back(bucket[i].second);
      pairs.push_back(bucket[run_start].second);
    }
  }
  const uint64_t header[1] = {pairs.size() / 2};
  return write_file_atomic(out_path, u64_file(kPairMagic, header, pairs));
}

Result<std::vector<uint64_t>> cluster_pairs(const std::vector<std::string>& pair_paths, const std::string& out_path) {
  std::unordered_map<uint64_t, uint64_t> parent;
  auto find = [&](uint64_t x) {
    auto it = parent.try_emplace(x, x).first;
    uint64_t root = x;
    while (parent[root] != root) root = parent[root];
    while (it->second != root) {  // path compression
      const uint64_t next = it->second;
      it->second = root;
      it = parent.find(next);
    }
    return root;
  };
  for (const auto& p : pair_paths) {
    ANVIL_ASSIGN_OR_RETURN(std::vector<uint64_t> w, read_u64_file(p, kPairMagic, "MinHash pair"));
    if (w.size() != 1 + 2 * w[0]) {
      return invalid_argument("[dedup.cluster] '{}': {} pairs need {} words, file has {}", p, w[0], 1 + 2 * w[0],
                              w.size());
    }
    for (uint64_t i = 0; i < w[0]; ++i) {
      const uint64_t ra = find(w[1 + 2 * i]), rb = find(w[2 + 2 * i]);
      if (ra != rb) parent[std::max(ra, rb)] = std::min(ra, rb);  // the smallest id is every cluster's root
    }
  }
  std::vector<uint64_t> removals;
  for (const auto& [id, _] : parent) {
    if (find(id) != id) removals.push_back(id);
  }
  std::sort(removals.begin(), removals.end());
  const uint64_t header[1] = {removals.size()};
  ANVIL_RETURN_IF_ERROR(write_file_atomic(out_path, u64_file(kRemoveMagic, header, removals)));
  return removals;
}

Result<std::vector<uint64_t>> read_removals(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::vector<uint64_t> w, read_u64_file(path, kRemoveMagic, "MinHash removal"));
  if (w.size() != 1 + w[0]) {
    return invalid_argument("[dedup] '{}': {} ids need {} words, file has {}", path, w[0], 1 + w[0], w.size());
  }
  return std::vector<uint64_t>(w.begin() + 1, w.end());
}

}  // namespace anvil::data
