// Multiple-choice datasets: loaders for the MMLU CSV layout (headerless rows question,A,B,C,D,answer;
// <dir>/{dev,val,test}/<subject>_<split>.csv), the C-Eval layout (header id,question,A,B,C,D[,answer
// [,explanation]]; <dir>/{dev,val,test}/<subject>_<split>.csv) and a generic JSONL format
// ({"question","choices":[..],"answer": index or letter,"subject"?,"split"?}). Subjects are sorted by
// name; items keep file order (few-shot uses the first k dev items, lm-eval's first_n sampler,
// method-specs §9.1/§9.2). Errors name the file, the row and the field.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::eval {

enum class McFormat { kMmlu, kCeval, kJsonl };

struct McItem {
  std::string id = {};  // C-Eval id, JSONL id, or "<file>:<row>"
  std::string question = {};
  std::vector<std::string> choices = {};
  int gold = -1;  // index into choices
};

struct McSubject {
  std::string name = {};     // "high_school_physics"
  std::string display;  // what the prompt names: "high school physics" (MMLU), "高中物理" (C-Eval)
  std::vector<McItem> dev = {};   // few-shot pool
  std::vector<McItem> eval = {};  // scored items
};

struct McDataset {
  McFormat format = McFormat::kMmlu;
  std::string source = {};  // the directory or file
  std::string split = {};   // the evaluated split
  std::vector<McSubject> subjects = {};
};

// RFC 4180 CSV: quoted fields with "" escapes and embedded newlines, \n or \r\n rows, a UTF-8 BOM
// skipped. `origin` names the file in errors (an unterminated quote names its starting row).
Result<std::vector<std::vector<std::string>>> parse_csv(std::string_view text, const std::string& origin);

// Calls fn(line_no, line) for every non-blank line of a JSONL file (1-based numbers); the first error
// fn returns stops the walk and is returned.
Status for_each_jsonl_line(const std::string& path,
                           const std::function<Status(size_t line_no, std::string_view line)>& fn);

// split: "test" (MMLU default) or "val"/"dev"; the dev split is always loaded for few-shot when present.
Result<McDataset> load_mmlu(const std::string& dir, const std::string& split = "test");
// split: "val" (C-Eval default; test has no public answers) or "dev"/"test". Subject names for the
// prompt come from <dir>/subject_mapping.json ({"name": ["English", "中文", "category"]}, the file the
// C-Eval repository ships) when present, else a built-in table, else the name with '_' → ' '.
Result<McDataset> load_ceval(const std::string& dir, const std::string& split = "val");
Result<McDataset> load_mc_jsonl(const std::string& path);

const char* mc_format_name(McFormat f);  // "mmlu" | "ceval" | "mcjsonl"

}  // namespace anvil::eval
