// Loaders for MMLU / C-Eval CSV directories and multiple-choice JSONL (mc_data.h).
#include "anvil/eval/mc_data.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"

namespace anvil::eval {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// The subjects whose Chinese names C-Eval's prompt uses (from the C-Eval repository's
// subject_mapping.json); others fall back to <dir>/subject_mapping.json or the raw name.
const std::map<std::string, std::string>& ceval_builtin_names() {
  static const std::map<std::string, std::string> k = {
      {"computer_network", "计算机网络"},       {"operating_system", "操作系统"},
      {"computer_architecture", "计算机组成"},  {"college_programming", "大学编程"},
      {"college_physics", "大学物理"},          {"college_chemistry", "大学化学"},
      {"advanced_mathematics", "高等数学"},     {"probability_and_statistics", "概率统计"},
      {"discrete_mathematics", "离散数学"},     {"high_school_mathematics", "高中数学"},
      {"high_school_physics", "高中物理"},      {"high_school_chemistry", "高中化学"},
      {"high_school_biology", "高中生物"},      {"middle_school_mathematics", "初中数学"},
      {"middle_school_physics", "初中物理"},    {"middle_school_chemistry", "初中化学"},
      {"middle_school_biology", "初中生物"},    {"high_school_history", "高中历史"},
      {"high_school_geography", "高中地理"},    {"high_school_chinese", "高中语文"},
      {"chinese_language_and_literature", "中国语言文学"}, {"law", "法学"},
      {"logic", "逻辑学"},                      {"accountant", "注册会计师"},
      {"physician", "医师资格"},                {"teacher_qualification", "教师资格"},
  };
  return k;
}

std::string display_of(std::string name) {
  std::replace(name.begin(), name.end(), '_', ' ');
  return name;
}

// "<subject>_<split>.csv" files of <dir>/<split>/, sorted by subject.
Result<std::vector<std::pair<std::string, std::string>>> list_split(const fs::path& dir, const std::string& split) {
  std::vector<std::pair<std::string, std::string>> out;
  const fs::path sub = dir / split;
  std::error_code ec;
  if (!fs::is_directory(sub, ec)) return out;
  const std::string suffix = "_" + split + ".csv";
  for (const auto& e : fs::directory_iterator(sub, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.emplace_back(f.substr(0, f.size() - suffix.size()), e.path().string());
    }
  }
  if (ec) return io_error("[eval.mc] cannot list '{}': {}", sub.string(), ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<int> parse_letter(const std::string& s, size_t n_choices, const std::string& where) {
  if (s.size() == 1) {
    const char* p = std::strchr(kLetters, s[0]);
    if (s[0] != '\0' && p != nullptr && static_cast<size_t>(p - kLetters) < n_choices) return static_cast<int>(p - kLetters);
  }
  return invalid_argument("{}: answer '{}' is not a letter A..{}", where, s, kLetters[n_choices - 1]);
}

Result<std::vector<McItem>> read_mmlu_csv(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  ANVIL_ASSIGN_OR_RETURN(auto rows, parse_csv(text, path));
  std::vector<McItem> items;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = fmt::format("[eval.mmlu] '{}' row {}", path, r + 1);
    if (row.size() != 6) return invalid_argument("{}: {} fields, expected 6 (question,A,B,C,D,answer)", where, row.size());
    McItem it{.id = fmt::format("{}:{}", fs::path(path).filename().string(), r + 1), .question = row[0],
              .choices = {row[1], row[2], row[3], row[4]}};
    ANVIL_ASSIGN_OR_RETURN(it.gold, parse_letter(row[5], 4, where));
    items.push_back(std::move(it));
  }
  return items;
}

Result<std::vector<McItem>> read_ceval_csv(const std::string& path, bool need_answer) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  ANVIL_ASSIGN_OR_RETURN(auto rows, parse_csv(text, path));
  if (rows.empty()) return invalid_argument("[eval.ceval] '{}' is empty (expected a header row)", path);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  for (const char* name : {"id", "question", "A", "B", "C", "D"}) {
    if (!col.count(name)) return invalid_argument("[eval.ceval] '{}': header lacks column '{}'", path, name);
  }
  if (need_answer && !col.count("answer")) {
    return invalid_argument("[eval.ceval] '{}': header lacks column 'answer' (C-Eval test answers are not public; "
                            "evaluate the val split)", path);
  }
  std::vector<McItem> items;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = fmt::format("[eval.ceval] '{}' row {}", path, r + 1);
    if (row.size() != rows[0].size()) {
      return invalid_argument("{}: {} fields, header has {}", where, row.size(), rows[0].size());
    }
    McItem it{.id = row[col["id"]], .question = row[col["question"]],
              .choices = {row[col["A"]], row[col["B"]], row[col["C"]], row[col["D"]]}};
    if (col.count("answer") && !row[col["answer"]].empty()) {  // test rows ship without answers
      ANVIL_ASSIGN_OR_RETURN(it.gold, parse_letter(row[col["answer"]], 4, where));
    }
    items.push_back(std::move(it));
  }
  return items;
}

template <typename Reader>
Result<McDataset> load_csv_dir(const std::string& dir, const std::string& split, McFormat format, Reader read) {
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root / split, ec) && fs::is_directory(root / "data" / split, ec)) root /= "data";
  ANVIL_ASSIGN_OR_RETURN(auto evals, list_split(root, split));
  if (evals.empty()) {
    return not_found("[eval.{}] no '<subject>_{}.csv' files under '{}'", mc_format_name(format), split,
                     (root / split).string());
  }
  ANVIL_ASSIGN_OR_RETURN(auto devs, list_split(root, "dev"));
  std::map<std::string, std::string> dev_of(devs.begin(), devs.end());
  McDataset ds{.format = format, .source = dir, .split = split, .subjects = {}};
  for (const auto& [subject, path] : evals) {
    McSubject s{.name = subject, .display = display_of(subject), .dev = {}, .eval = {}};
    ANVIL_ASSIGN_OR_RETURN(s.eval, read(path, true));
    if (split != "dev" && dev_of.count(subject)) {
      ANVIL_ASSIGN_OR_RETURN(s.dev, read(dev_of[subject], true));
    }
    ds.subjects.push_back(std::move(s));
  }
  return ds;
}

}  // namespace

const char* mc_format_name(McFormat f) {
  switch (f) {
    case McFormat::kMmlu: return "mmlu";
    case McFormat::kCeval: return "ceval";
    case McFormat::kJsonl: return "mcjsonl";
  }
  return "?";
}

Result<std::vector<std::vector<std::string>>> parse_csv(std::string_view text, const std::string& origin) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0, line = 1;
  bool row_open = false;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      const size_t start_line = line;
      ++i;
      for (;;) {
        if (i >= text.size()) return invalid_argument("[eval.csv] '{}' line {}: unterminated quoted field", origin, start_line);
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        return invalid_argument("[eval.csv] '{}' line {}: text after a closing quote", origin, line);
      }
      row_open = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      row_open = true;
      ++i;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
      if (row_open || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      row.clear();
      field.clear();
      row_open = false;
    } else {
      field += c;
      row_open = true;
      ++i;
    }
  }
  if (row_open || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<McDataset> load_mmlu(const std::string& dir, const std::string& split) {
  return load_csv_dir(dir, split, McFormat::kMmlu, [](const std::string& p, bool) { return read_mmlu_csv(p); });
}

Result<McDataset> load_ceval(const std::string& dir, const std::string& split) {
  ANVIL_ASSIGN_OR_RETURN(McDataset ds, load_csv_dir(dir, split, McFormat::kCeval,
                                                    [](const std::string& p, bool need) { return read_ceval_csv(p, need); }));
  std::map<std::string, std::string> names = ceval_builtin_names();
  const fs::path mapping = fs::path(dir) / "subject_mapping.json";
  std::error_code ec;
  if (fs::exists(mapping, ec)) {
    ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(mapping.string()));
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return invalid_argument("[eval.ceval] '{}' is not a JSON object", mapping.string());
    }
    for (const auto& [k, v] : j.items()) {
      if (!v.is_array() || v.size() < 2 || !v[1].is_string()) {
        return invalid_argument("[eval.ceval] '{}': entry '{}' is not [\"English\", \"中文\", ...]", mapping.string(), k);
      }
      names[k] = v[1].get<std::string>();
    }
  }
  for (McSubject& s : ds.subjects) {
    if (auto it = names.find(s.name); it != names.end()) s.display = it->second;
  }
  return ds;
}

Status for_each_jsonl_line(const std::string& path,
                           const std::function<Status(size_t line_no, std::string_view line)>& fn) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ANVIL_RETURN_IF_ERROR(fn(line_no, line));
  }
  return ok_status();
}

Result<McDataset> load_mc_jsonl(const std::string& path) {
  std::map<std::string, McSubject> subjects;
  ANVIL_RETURN_IF_ERROR(for_each_jsonl_line(path, [&](size_t line_no, std::string_view line) -> Status {
    const std::string where = fmt::format("[eval.mcjsonl] '{}' line {}", path, line_no);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("{}: not a JSON object", where);
    if (!j.contains("question") || !j["question"].is_string()) return invalid_argument("{}: missing string 'question'", where);
    if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].size() < 2 || j["choices"].size() > 26) {
      return invalid_argument("{}: 'choices' must be an array of 2..26 strings", where);
    }
    std::string id = fmt::format("{}", line_no);
    if (j.contains("id")) id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
    McItem it{.id = std::move(id), .question = j["question"].get<std::string>()};
    for (const auto& c : j["choices"]) {
      if (!c.is_string()) return invalid_argument("{}: 'choices' must be an array of 2..26 strings", where);
      it.choices.push_back(c.get<std::string>());
    }
    if (!j.contains("answer")) return invalid_argument("{}: missing 'answer'", where);
    const auto& a = j["answer"];
    if (a.is_number_integer()) {
      const int64_t g = a.get<int64_t>();
      if (g < 0 || g >= static_cast<int64_t>(it.choices.size())) {
        return invalid_argument("{}: answer {} outside [0, {})", where, g, it.choices.size());
      }
      it.gold = static_cast<int>(g);
    } else if (a.is_string()) {
      ANVIL_ASSIGN_OR_RETURN(it.gold, parse_letter(a.get<std::string>(), it.choices.size(), where));
    } else {
      return invalid_argument("{}: 'answer' must be an index or a letter", where);
    }
    const std::string subject = j.contains("subject") && j["subject"].is_string() ? j["subject"].get<std::string>() : "";
    McSubject& s = subjects[subject];
    s.name = subject.empty() ? "all" : subject;
    s.display = subject.empty() ? "" : display_of(subject);
    const bool dev = j.contains("split") && j["split"].is_string() && j["split"].get<std::string>() == "dev";
    (dev ? s.dev : s.eval).push_back(std::move(it));
    return ok_status();
  }));
  McDataset ds{.format = McFormat::kJsonl, .source = path, .split = "all", .subjects = {}};
  for (auto& [k, s] : subjects) {
    if (!s.eval.empty()) ds.subjects.push_back(std::move(s));
  }
  if (ds.subjects.empty()) return invalid_argument("[eval.mcjsonl] '{}' holds no items to evaluate", path);
  return ds;
}

}  // namespace anvil::eval
