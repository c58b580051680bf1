#include "anvil/train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "anvil/base/file.h"
#include "anvil/model/transformer.h"

namespace anvil::train {
namespace fs = std::filesystem;

namespace {

std::string step_dir_name(int64_t step) { return fmt::format("step-{:08d}", step); }

Status prune(const fs::path& ckpt_root, int keep_last, const std::string& keep_name) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ckpt_root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos)
      dirs.push_back(name);
  }
  std::sort(dirs.begin(), dirs.end());
  const auto n = static_cast<int64_t>(dirs.size());
  for (int64_t i = 0; i < n - keep_last; ++i) {
    if (dirs[static_cast<size_t>(i)] == keep_name) continue;
    fs::remove_all(ckpt_root / dirs[static_cast<size_t>(i)], ec);
    if (ec) return io_error("[train.checkpoint] removing old checkpoint '{}': {}", dirs[static_cast<size_t>(i)], ec.message());
  }
  return ok_status();
}

}  // namespace

Status save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointContents& c, int keep_last) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return io_error("[train.checkpoint] cannot create '{}': {}", root.string(), ec.message());

  const std::string name = step_dir_name(step);
  const fs::path tmp = root / fmt::format("{}.tmp-{}", name, ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return io_error("[train.checkpoint] cannot create '{}': {}", tmp.string(), ec.message());

  ANVIL_RETURN_IF_ERROR(c.model->save(tmp.string()));
  ANVIL_RETURN_IF_ERROR(save_safetensors((tmp / "optimizer.safetensors").string(), c.optimizer_state));
  ANVIL_RETURN_IF_ERROR(write_file_atomic((tmp / "trainer_state.json").string(), c.trainer_state.dump(2) + "\n"));

  const fs::path final_dir = root / name;
  fs::remove_all(final_dir, ec);  // a stale one from an earlier run that got this far
  fs::rename(tmp, final_dir, ec);
  if (ec) return io_error("[train.checkpoint] rename '{}' -> '{}': {}", tmp.string(), final_dir.string(), ec.message());

  const nlohmann::json latest = {{"step", step}, {"dir", name}};
  ANVIL_RETURN_IF_ERROR(write_file_atomic((root / "latest.json").string(), latest.dump() + "\n"));
  return prune(root, std::max(keep_last, 1), name);
}

Result<CheckpointRef> latest_checkpoint(const std::string& run_dir) {
  const fs::path latest = fs::path(run_dir) / "checkpoints" / "latest.json";
  if (!fs::exists(latest)) return not_found("[train.resume] '{}' has no checkpoint (no {})", run_dir, latest.string());
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(latest.string()));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("step") || !j.contains("dir") || !j["step"].is_number_integer() ||
      !j["dir"].is_string())
    return invalid_argument("[train.resume] '{}' is not {{\"step\": int, \"dir\": string}}", latest.string());
  CheckpointRef ref;
  ref.step = j["step"].get<int64_t>();
  ref.dir = (fs::path(run_dir) / "checkpoints" / j["dir"].get<std::string>()).string();
  if (!fs::is_directory(ref.dir))
    return not_found("[train.resume] latest.json points at '{}', which does not exist", ref.dir);
  return ref;
}

}  // namespace anvil::train
