// Strict reading of TOML configs (toml++): every key a program reads is declared, so an unknown or
// mistyped key becomes an error naming its full path and the expected type —
//   "run.toml: unknown key 'optim.lr_peak' (known: lr, min_lr, betas, ...)"
//   "run.toml: 'train.steps' must be an integer, got string"
// Errors accumulate so the user sees them all at once. Used by the config parsers (data/prep_config.h,
// train/train_config.h, pipeline/config.h); only cli/ decides which file to read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "anvil/base/status.h"

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace anvil {

class TomlDocument;

// One table of the document; reads values into typed fields and remembers which keys were read.
class TomlSection {
 public:
  // Optional values: `out` keeps its default when the key is absent.
  TomlSection& get(const char* key, bool& out);
  TomlSection& get(const char* key, int64_t& out);
  TomlSection& get(const char* key, int& out);
  TomlSection& get(const char* key, double& out);  // integers are accepted for floats
  TomlSection& get(const char* key, float& out);
  TomlSection& get(const char* key, std::string& out);
  TomlSection& get(const char* key, std::vector<std::string>& out);
  TomlSection& get(const char* key, std::vector<double>& out);
  // Like get() but records an error when the key is absent.
  template <typename T>
  TomlSection& require(const char* key, T& out) {
    if (!has(key)) error(fmt::format("missing required key '{}'", path_of(key)));
    return get(key, out);
  }
  // A non-negative integer into an integral field (counts, sizes, seeds); a negative one is an error.
  template <typename T>
  TomlSection& get_count(const char* key, T& out) {
    int64_t v = static_cast<int64_t>(out);
    get(key, v);
    if (v < 0) error(fmt::format("'{}' = {} must be >= 0", path_of(key), v));
    else out = static_cast<T>(v);
    return *this;
  }
  // A string that must be one of `choices`.
  TomlSection& get_choice(const char* key, std::string& out, const std::vector<std::string>& choices);

  bool has(const char* key) const;
  // A sub-table ([section] or [a.b]); an absent one reads as empty (every get keeps its default).
  TomlSection section(const char* key);
  // Keys of an open-ended table (e.g. [data.sources] whose keys are user names), marked as read.
  std::vector<std::string> keys();
  // The tables of an array of tables ([[input]] ...), paths "input[0]", "input[1]", ...; absent = none.
  std::vector<TomlSection> tables(const char* key);
  const std::string& path() const { return path_; }

 private:
  friend class TomlDocument;
  TomlSection(const toml::table* table, std::string path, TomlDocument* doc);
  std::string path_of(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const toml::node* node(const char* key);
  void error(std::string message);
  void type_error(const char* key, const char* expected);

  const toml::table* table_;  // null for an absent section
  std::string path_;
  TomlDocument* doc_;
};

// Owns a parsed document; finish() reports every unknown key and every error recorded while reading.
class TomlDocument {
 public:
  static Result<std::unique_ptr<TomlDocument>> parse(const std::string& text, const std::string& source);
  static Result<std::unique_ptr<TomlDocument>> load(const std::string& path);
  ~TomlDocument();

  TomlSection root();
  // ok, or invalid_argument listing every error ("<source>: ..." one per line).
  Status finish();

 private:
  friend class TomlSection;
  TomlDocument() = default;
  void collect_unknown(const toml::table& t, const std::string& path);

  std::string source_;
  std::unique_ptr<toml::table> table_;
  std::set<std::string> read_;  // full paths of keys read (sections included)
  std::vector<std::string> errors_;
};

}  // namespace anvil
