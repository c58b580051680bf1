// Step names, step.json io and content hashes (see step_record.h).
#include "anvil/pipeline/step_record.h"

#include <array>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <xxhash.h>

#include "anvil/base/file.h"

namespace anvil::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, kNumSteps> kStepNames = {"synth", "prep", "tokenizer", "tokenize", "train", "eval",
                                                           "report"};
constexpr std::array<const char*, 4> kStatusNames = {"running", "completed", "failed", "interrupted"};
constexpr size_t kHashChunkBytes = size_t{1} << 20;

Status hash_file_into(const fs::path& p, XXH3_state_t* st) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return io_error("[run.hash] cannot open '{}'", p.string());
  std::vector<char> buf(kHashChunkBytes);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    XXH3_64bits_update(st, buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return io_error("[run.hash] reading '{}' failed", p.string());
  return ok_status();
}

}  // namespace

const char* step_name(StepKind k) { return kStepNames[static_cast<size_t>(k)]; }

std::string step_dir_name(StepKind k) { return fmt::format("{:02d}-{}", static_cast<int>(k) + 1, step_name(k)); }

std::string step_dir(const std::string& run_dir, StepKind k) { return (fs::path(run_dir) / step_dir_name(k)).string(); }

Result<StepKind> parse_step_name(const std::string& name) {
  for (size_t i = 0; i < kStepNames.size(); ++i) {
    if (name == kStepNames[i]) return static_cast<StepKind>(i);
  }
  return invalid_argument("[run] unknown step '{}' (steps: {})", name, fmt::join(kStepNames, ", "));
}

const char* step_status_name(StepStatus s) { return kStatusNames[static_cast<size_t>(s)]; }

Result<StepStatus> parse_step_status(const std::string& s) {
  for (size_t i = 0; i < kStatusNames.size(); ++i) {
    if (s == kStatusNames[i]) return static_cast<StepStatus>(i);
  }
  return invalid_argument("unknown status '{}'", s);
}

nlohmann::json to_json(const StepRecord& r) {
  return {{"step", r.step},       {"hash", r.hash},         {"inputs", r.inputs},     {"outputs", r.outputs},
          {"status", step_status_name(r.status)}, {"started", r.started}, {"finished", r.finished},
          {"seconds", r.seconds}, {"error", r.error},       {"summary", r.summary}};
}

Result<StepRecord> step_record_from_json(const nlohmann::json& j, const std::string& path) {
  StepRecord r;
  try {
    r.step = j.at("step").get<std::string>();
    r.hash = j.at("hash").get<std::string>();
    r.inputs = j.at("inputs").get<std::map<std::string, std::string>>();
    r.outputs = j.at("outputs").get<std::vector<std::string>>();
    auto st = parse_step_status(j.at("status").get<std::string>());
    if (!st.ok()) return invalid_argument("[run.step] '{}': {}", path, st.status().message());
    r.status = *st;
    r.started = j.value("started", "");
    r.finished = j.value("finished", "");
    r.seconds = j.value("seconds", 0.0);
    r.error = j.value("error", "");
    r.summary = j.value("summary", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("[run.step] '{}' is not a step record: {}", path, e.what());
  }
  return r;
}

Result<StepRecord> read_step_record(const std::string& path) {
  if (!fs::exists(path)) return not_found("[run.step] no '{}'", path);
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument("[run.step] '{}' is not JSON", path);
  return step_record_from_json(j, path);
}

Status write_step_record(const std::string& path, const StepRecord& r) {
  return write_file_atomic(path, to_json(r).dump(2) + "\n");
}

std::string hash_hex(uint64_t h) { return fmt::format("{:016x}", h); }

uint64_t hash_bytes(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

Result<uint64_t> hash_path(const std::string& path) {
  std::error_code ec;
  const fs::file_status s = fs::status(path, ec);
  if (ec || !fs::exists(s)) return not_found("[run.hash] input '{}' does not exist", path);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  Status result;
  if (fs::is_directory(s)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      const std::string rel = fs::relative(f, path).string();
      XXH3_64bits_update(st, rel.data(), rel.size() + 1);
      result = hash_file_into(f, st);
      if (!result.ok()) break;
    }
  } else {
    result = hash_file_into(path, st);
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (!result.ok()) return result;
  return h;
}

std::string combine_inputs(const std::map<std::string, std::string>& inputs) {
  std::string lines;
  for (const auto& [k, v] : inputs) lines += k + "=" + v + "\n";
  return hash_hex(hash_bytes(lines));
}

std::string utc_now_iso() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace anvil::pipeline
