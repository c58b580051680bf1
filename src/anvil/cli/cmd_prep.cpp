// `anvil prep --config prep.toml`: reads and validates the TOML config (data/prep_config.h, the parser
// `anvil run` shares: unknown keys are errors naming the key path; relative paths resolve against the
// config file's folder) into data::PrepConfig and runs the pipeline, or one stage of it for one shard
// (docs/data.md §prep, examples/prep.toml).
#include "anvil/cli/command.h"
#include "anvil/data/prep.h"
#include "anvil/data/prep_config.h"

namespace anvil::cli {
namespace {

Result<data::ShardSpec> parse_shard(const std::string& s) {
  const size_t slash = s.find('/');
  data::ShardSpec spec;
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    spec.index = static_cast<uint32_t>(std::stoul(s.substr(0, slash)));
    spec.count = static_cast<uint32_t>(std::stoul(s.substr(slash + 1)));
  } catch (const std::exception&) {
    return invalid_argument("[prep] --shard '{}' is not i/N", s);
  }
  if (spec.count == 0 || spec.index >= spec.count) return invalid_argument("[prep] --shard {}: need 0 <= i < N", s);
  return spec;
}

}  // namespace

Command register_prep(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::string config, stage = "all", shard;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand(
      "prep",
      "Clean a text corpus: read JSONL/text (zstd ok) → normalize → exact dedup → quality filters → PII → MinHash "
      "near-dedup → mixing, writing kept documents (JSONL) and prep_report.json/.html.\n"
      "Every input record ends kept or dropped with a reason. Stages can run shard-parallel:\n"
      "  filter --shard i/N (each i), buckets --shard j/M (each j), cluster, finalize --shard i/N, report.\n"
      "The config format is documented in docs/data.md and examples/prep.toml.");
  c.app->add_option("--config", args->config, "prep.toml")->required()->check(CLI::ExistingFile);
  c.app->add_option("--stage", args->stage, "all|filter|buckets|cluster|finalize|report")
      ->check(CLI::IsMember({"all", "filter", "buckets", "cluster", "finalize", "report"}))
      ->capture_default_str();
  c.app->add_option("--shard", args->shard, "i/N: this worker's share (filter, buckets, finalize)");
  c.run = [args, &g] {
    auto cfg = data::load_prep_config(args->config);
    if (!cfg.ok()) {
      std::fprintf(stderr, "anvil prep: %s\n", cfg.status().to_string().c_str());
      return 2;
    }
    data::ShardSpec shard;
    if (!args->shard.empty()) {
      auto s = parse_shard(args->shard);
      if (!s.ok()) {
        std::fprintf(stderr, "anvil prep: %s\n", s.status().to_string().c_str());
        return 2;
      }
      shard = *s;
    }
    const Context ctx = make_cli_context(g);
    const Status st = data::run_prep(*cfg, *data::parse_prep_stage(args->stage), shard, ctx);
    if (!st.ok()) return report_failure("prep", st);
    if (args->stage == "all" || args->stage == "report") std::printf("report: %s\n", cfg->report.c_str());
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
