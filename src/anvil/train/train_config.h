// The one parser of training settings (TOML, strict through base/toml_reader.h): `anvil train --config
// run.toml` reads a whole run file, `anvil run` the same tables nested under [train] with the data
// paths and the run folder filled in by the pipeline. Tables: [model] [data] [optim] [schedule] [train]
// [log] [checkpoint] (+ [run] in a run file). Every key with its default: examples/train.toml.
#pragma once

#include <string>

#include "anvil/base/status.h"
#include "anvil/base/toml_reader.h"
#include "anvil/train/trainer.h"

namespace anvil::train {

enum class TrainConfigScope {
  kRunFile,   // [run] dir/seed are read, [data] train is required
  kPipeline,  // no [run]; [data] train/val are not accepted (the pipeline supplies them)
};

// Reads the tables of `root` into `o` (whose values are the defaults). Type and unknown-key errors are
// recorded in the document (TomlDocument::finish reports them); the Status holds value errors.
// `model_config` receives model.config as written (a preset name or a config.json path).
Status read_train_config(TomlSection root, TrainConfigScope scope, TrainOptions& o, std::string& model_config);

// A whole run file: read_train_config + finish + value checks; `o` holds defaults (e.g. the seed).
Status parse_train_config(const std::string& text, const std::string& source, TrainOptions& o);

}  // namespace anvil::train
