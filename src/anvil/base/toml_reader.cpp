#include "anvil/base/toml_reader.h"

#include <toml++/toml.h>

#include "anvil/base/file.h"

namespace anvil {
namespace {

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

}  // namespace

TomlSection::TomlSection(const toml::table* table, std::string path, TomlDocument* doc)
    : table_(table), path_(std::move(path)), doc_(doc) {}

bool TomlSection::has(const char* key) const { return table_ != nullptr && table_->contains(key); }

const toml::node* TomlSection::node(const char* key) {
  if (table_ == nullptr) return nullptr;
  const toml::node* n = table_->get(key);
  if (n != nullptr) doc_->read_.insert(path_of(key));
  return n;
}

void TomlSection::error(std::string message) { doc_->errors_.push_back(std::move(message)); }

void TomlSection::type_error(const char* key, const char* expected) {
  const toml::node* n = table_->get(key);
  const toml::source_region& src = n->source();
  error(fmt::format("'{}' (line {}) must be {}, got {}", path_of(key), src.begin.line, expected, type_name(*n)));
}

TomlSection& TomlSection::get(const char* key, bool& out) {
  if (const toml::node* n = node(key)) {
    if (auto v = n->value<bool>(); v && n->is_boolean()) out = *v;
    else type_error(key, "a boolean");
  }
  return *this;
}

TomlSection& TomlSection::get(const char* key, int64_t& out) {
  if (const toml::node* n = node(key)) {
    if (n->is_integer()) out = *n->value<int64_t>();
    else type_error(key, "an integer");
  }
  return *this;
}

TomlSection& TomlSection::get(const char* key, int& out) {
  int64_t v = out;
  get(key, v);
  if (v < INT32_MIN || v > INT32_MAX) error(fmt::format("'{}' = {} is out of range for a 32-bit integer", path_of(key), v));
  else out = static_cast<int>(v);
  return *this;
}

TomlSection& TomlSection::get(const char* key, double& out) {
  if (const toml::node* n = node(key)) {
    if (n->is_floating_point() || n->is_integer()) out = *n->value<double>();
    else type_error(key, "a number");
  }
  return *this;
}

TomlSection& TomlSection::get(const char* key, float& out) {
  double v = out;
  get(key, v);
  out = static_cast<float>(v);
  return *this;
}

TomlSection& TomlSection::get(const char* key, std::string& out) {
  if (const toml::node* n = node(key)) {
    if (n->is_string()) out = *n->value<std::string>();
    else type_error(key, "a string");
  }
  return *this;
}

TomlSection& TomlSection::get(const char* key, std::vector<std::string>& out) {
  if (const toml::node* n = node(key)) {
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      type_error(key, "an array of strings");
      return *this;
    }
    out.clear();
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_string()) {
        error(fmt::format("'{}[{}]' must be a string, got {}", path_of(key), i, type_name(e)));
        continue;
      }
      out.push_back(*e.value<std::string>());
    }
  }
  return *this;
}

TomlSection& TomlSection::get(const char* key, std::vector<double>& out) {
  if (const toml::node* n = node(key)) {
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      type_error(key, "an array of numbers");
      return *this;
    }
    out.clear();
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_number()) {
        error(fmt::format("'{}[{}]' must be a number, got {}", path_of(key), i, type_name(e)));
        continue;
      }
      out.push_back(*e.value<double>());
    }
  }
  return *this;
}

TomlSection& TomlSection::get_choice(const char* key, std::string& out, const std::vector<std::string>& choices) {
  std::string v = out;
  get(key, v);
  bool found = false;
  for (const std::string& c : choices) found = found || c == v;
  if (!found) error(fmt::format("'{}' = \"{}\" is not one of: {}", path_of(key), v, fmt::join(choices, ", ")));
  else out = v;
  return *this;
}

TomlSection TomlSection::section(const char* key) {
  const toml::node* n = node(key);
  if (n == nullptr) return TomlSection(nullptr, path_of(key), doc_);
  if (!n->is_table()) {
    type_error(key, "a table");
    return TomlSection(nullptr, path_of(key), doc_);
  }
  return TomlSection(n->as_table(), path_of(key), doc_);
}

std::vector<std::string> TomlSection::keys() {
  std::vector<std::string> out;
  if (table_ == nullptr) return out;
  for (const auto& [k, v] : *table_) out.emplace_back(k.str());
  return out;
}

std::vector<TomlSection> TomlSection::tables(const char* key) {
  std::vector<TomlSection> out;
  const toml::node* n = node(key);
  if (n == nullptr) return out;
  const toml::array* a = n->as_array();
  if (a != nullptr && a->empty()) return out;
  if (a == nullptr || !a->is_array_of_tables()) {
    const std::string expected = "an array of tables ([[" + path_of(key) + "]])";
    type_error(key, expected.c_str());
    return out;
  }
  for (size_t i = 0; i < a->size(); ++i) {
    out.push_back(TomlSection(a->get(i)->as_table(), fmt::format("{}[{}]", path_of(key), i), doc_));
  }
  return out;
}

TomlDocument::~TomlDocument() = default;

Result<std::unique_ptr<TomlDocument>> TomlDocument::parse(const std::string& text, const std::string& source) {
  auto doc = std::unique_ptr<TomlDocument>(new TomlDocument());
  doc->source_ = source;
  try {
    doc->table_ = std::make_unique<toml::table>(toml::parse(text, source));
  } catch (const toml::parse_error& e) {
    return invalid_argument("{}:{}:{}: TOML syntax error: {}", source, e.source().begin.line,
                            e.source().begin.column, e.description());
  }
  return doc;
}

Result<std::unique_ptr<TomlDocument>> TomlDocument::load(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse(text, path);
}

TomlSection TomlDocument::root() { return TomlSection(table_.get(), "", this); }

void TomlDocument::collect_unknown(const toml::table& t, const std::string& path) {
  for (const auto& [k, v] : t) {
    const std::string full = path.empty() ? std::string(k.str()) : path + "." + std::string(k.str());
    if (!read_.count(full)) {
      std::vector<std::string> known;
      for (const auto& [k2, v2] : t) {
        const std::string f2 = path.empty() ? std::string(k2.str()) : path + "." + std::string(k2.str());
        if (read_.count(f2)) known.emplace_back(k2.str());
      }
      errors_.push_back(fmt::format("unknown key '{}' (line {}){}", full, v.source().begin.line,
                                    known.empty() ? "" : fmt::format("; keys read here: {}", fmt::join(known, ", "))));
      continue;
    }
    if (const toml::table* sub = v.as_table()) collect_unknown(*sub, full);
    if (const toml::array* arr = v.as_array(); arr != nullptr && !arr->empty() && arr->is_array_of_tables()) {
      for (size_t i = 0; i < arr->size(); ++i) collect_unknown(*arr->get(i)->as_table(), fmt::format("{}[{}]", full, i));
    }
  }
}

Status TomlDocument::finish() {
  collect_unknown(*table_, "");
  if (errors_.empty()) return ok_status();
  std::string msg;
  for (const std::string& e : errors_) msg += fmt::format("\n  {}: {}", source_, e);
  return invalid_argument("config has {} error{}:{}", errors_.size(), errors_.size() == 1 ? "" : "s", msg);
}

}  // namespace anvil
