// Checkpoints of a run directory:
//   RUN_DIR/checkpoints/step-00000100/{config.json, model.safetensors, optimizer.safetensors, trainer_state.json}
//   RUN_DIR/checkpoints/latest.json  {"step": 100, "dir": "step-00000100"}
// A checkpoint is written into a temporary directory, every file fsynced, then renamed into place,
// and only then is latest.json replaced (atomically): a kill at any moment leaves the previous
// checkpoint as the latest readable one. Older checkpoints beyond keep_last are removed afterwards.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"
#include "anvil/core/safetensors.h"

namespace anvil::model {
class Transformer;
}

namespace anvil::train {

struct CheckpointContents {
  const model::Transformer* model = nullptr;
  NamedTensors optimizer_state;
  nlohmann::json trainer_state;  // step, loader position, rng state, ... (trainer.cpp)
};

// Writes checkpoint `step` under run_dir and prunes to the newest keep_last (>= 1).
Status save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointContents& c, int keep_last);

struct CheckpointRef {
  int64_t step = -1;
  std::string dir;  // absolute or run-dir-relative path of the checkpoint directory
};

// The checkpoint latest.json points at; not_found when the run has none.
Result<CheckpointRef> latest_checkpoint(const std::string& run_dir);

}  // namespace anvil::train
