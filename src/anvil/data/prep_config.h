// The one parser of prep settings (TOML, strict through base/toml_reader.h: unknown or mistyped keys are
// errors naming the key path and line). Used by `anvil prep --config prep.toml` (tables at the root) and
// by `anvil run` (cleaning tables under [prep], inputs as [[input]], shares in [mix]). Relative paths
// resolve against `base_dir` (the config file's folder). Every key: examples/prep.toml.
#pragma once

#include <string>

#include "anvil/base/status.h"
#include "anvil/base/toml_reader.h"
#include "anvil/data/prep.h"

namespace anvil::data {

// One [[input]] table: path (required), format, text_unit, text_field, id_field, source, group, strict,
// max_record_bytes, language_filter, quality, near_dedup. Type errors are recorded in the document;
// the returned Status carries value errors (missing path, unknown format).
Status read_prep_input(TomlSection in, const std::string& base_dir, PrepInput& out);

// The cleaning tables found in `tables`: normalize, dedup, pii, quality (+ gopher, repetition,
// c4_options), perplexity.
Status read_prep_cleaning(TomlSection tables, const std::string& base_dir, PrepConfig& c);

// The [mix] table: enabled, max_epochs, seed, shares (an open table of group = share).
Status read_prep_mix(TomlSection mix, PrepConfig& c);

// The [[balance]] tables at `root` (group | source, field, policy, shares, unit, max_epochs). `text` and
// `source` are the config's text and name: messages cite "<source>:<line>: balance[i]...".
Status read_prep_balance(TomlSection root, const std::string& text, const std::string& source, PrepConfig& c);

// A whole prep.toml: [prep] output/work_dir/report, [[input]]…, the cleaning tables and [mix] at the
// root. Defaults: work_dir = <output>.work, report = <output folder>/prep_report.json.
Result<PrepConfig> parse_prep_config(const std::string& text, const std::string& source, const std::string& base_dir);
Result<PrepConfig> load_prep_config(const std::string& path);

}  // namespace anvil::data
