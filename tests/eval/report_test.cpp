// Reports: error analysis on hand-made results (confusion, by letter, by length, worst order), HTML
// escaping and self-containment, compare deltas, and the whole runner end to end on a tiny saved model
// with the shipped sample files (every task kind, the report files written and readable).
#include <filesystem>

#include "anvil/base/file.h"
#include "anvil/eval/report.h"
#include "anvil/eval/runner.h"
#include "anvil/tokenizer/formats.h"
#include "eval_test_util.h"

namespace anvil::eval {
namespace {

using nlohmann::json;
const std::string kExamples = std::string(ANVIL_SOURCE_DIR) + "/examples/eval";

McItemResult item(const std::string& subject, int gold, int chosen, double margin, int64_t n_tokens) {
  McItemResult r;
  r.subject = subject;
  r.id = subject + std::to_string(gold) + std::to_string(chosen);
  r.gold = gold;
  r.chosen = chosen;
  r.margin = margin;
  r.n_prompt_tokens = n_tokens;
  r.ll_letter = {-1, -2, -3, -4};
  r.prompt = "Q <b>&</b>";
  return r;
}

TEST(Report, LengthBuckets) {
  EXPECT_EQ(length_bucket(0), "<64");
  EXPECT_EQ(length_bucket(63), "<64");
  EXPECT_EQ(length_bucket(64), "64-127");
  EXPECT_EQ(length_bucket(255), "128-255");
  EXPECT_EQ(length_bucket(1024), "1024-2047");
}

TEST(Report, McAnalysisCountsAndWorstOrder) {
  McResult r;
  r.items = {item("a", 0, 0, 1.0, 10), item("a", 1, 0, -2.0, 100), item("b", 1, 1, 0.5, 70), item("b", 3, 2, -0.1, 10)};
  const json a = mc_analysis(r, 2);
  const json& m = a["confusion"]["rows_gold_cols_chosen"];
  EXPECT_EQ(m[0][0], 1);
  EXPECT_EQ(m[1][0], 1);
  EXPECT_EQ(m[1][1], 1);
  EXPECT_EQ(m[3][2], 1);
  EXPECT_EQ(a["by_letter"][1]["n"], 2);
  EXPECT_DOUBLE_EQ(a["by_letter"][1]["acc"].get<double>(), 0.5);
  EXPECT_EQ(a["by_letter"][0]["times_chosen"], 2);
  EXPECT_TRUE(a["by_letter"][2]["acc"].is_null());
  ASSERT_EQ(a["by_length"].size(), 2u);
  EXPECT_EQ(a["by_length"][0]["bucket"], "<64");
  EXPECT_DOUBLE_EQ(a["by_length"][0]["acc"].get<double>(), 0.5);
  EXPECT_EQ(a["by_length"][1]["bucket"], "64-127");
  ASSERT_EQ(a["worst"].size(), 2u);
  EXPECT_DOUBLE_EQ(a["worst"][0]["margin"].get<double>(), -2.0);
  EXPECT_DOUBLE_EQ(a["worst"][1]["margin"].get<double>(), -0.1);
}

TEST(Report, HtmlIsEscapedAndSelfContained) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  McResult r{.task = "mmlu", .source = "<dir>"};
  r.items = {item("a<script>", 0, 1, -1.0, 5)};
  r.subjects = {{.name = "a<script>", .score = {.n = 1, .acc = 0}}};
  json t = to_json(r, 5);
  t["name"] = "mmlu:<dir>";
  const json report = {{"tasks", json::array({t})}};
  const std::string html = report_html(report);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("a&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("Q &lt;b&gt;&amp;&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
}

TEST(Report, CompareShowsDeltas) {
  const json a = {{"tasks", json::array({{{"name", "mmlu:x"}, {"n", 10}, {"metrics", {{"acc", 0.25}, {"acc_norm", nullptr}}}}})}};
  const json b = {{"tasks", json::array({{{"name", "mmlu:x"}, {"n", 10}, {"metrics", {{"acc", 0.5}}}},
                                         {{"name", "ppl:y"}, {"n", 5}, {"metrics", {{"ppl", 3.0}}}}})}};
  const std::string t = compare_reports(a, b, "a.json", "b.json");
  EXPECT_NE(t.find("+0.2500"), std::string::npos) << t;
  EXPECT_NE(t.find("ppl:y"), std::string::npos) << t;
  EXPECT_EQ(summary_rows(a).size(), 1u);  // null metrics are not rows
}

TEST(Runner, TaskSpecs) {
  auto t = parse_task_spec("ceval:/data/ceval@test");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, TaskKind::kCeval);
  EXPECT_EQ(t->arg, "/data/ceval");
  EXPECT_EQ(t->split, "test");
  EXPECT_FALSE(parse_task_spec("mmlu:/x@train").ok());
  EXPECT_FALSE(parse_task_spec("bogus:/x").ok());
  EXPECT_FALSE(parse_task_spec("synth:poetry").ok());
  EXPECT_FALSE(parse_task_spec("ppl").ok());
}

TEST(Runner, EndToEndOnATinyModelWithTheSampleFiles) {
  testing::TempDir dir("runner");
  const tok::Tokenizer tk = testing::byte_tokenizer();
  ASSERT_TRUE(tok::save_tokenizer_json(tk, dir.str("tokenizer.json")).ok());
  model::Transformer m = testing::tiny_model(testing::gpt2_config(257, 1024), 3);
  ASSERT_TRUE(m.save(dir.str()).ok());
  EvalConfig cfg{.model_dir = dir.str(),
                 .tasks = {"ppl:" + kExamples + "/sample.txt", "mmlu:" + kExamples + "/mmlu",
                           "ceval:" + kExamples + "/ceval", "mcjsonl:" + kExamples + "/mc.jsonl",
                           "gsm8k:" + kExamples + "/gsm8k/test.jsonl", "synth:arithmetic"},
                 .shots = 1, .limit = 2, .max_new_tokens = 8, .speed_options = {.prompt_tokens = 16, .new_tokens = 4, .batch = 2},
                 .n_worst = 3, .progress = false};
  auto report = run_eval(cfg, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const json& tasks = (*report)["tasks"];
  ASSERT_EQ(tasks.size(), 6u);
  EXPECT_EQ(tasks[0]["kind"], "ppl");
  EXPECT_GT(tasks[0]["counts"]["bytes"].get<int64_t>(), 300);
  EXPECT_EQ(tasks[1]["n"], 4);  // 2 subjects x limit 2
  EXPECT_EQ(tasks[2]["n"], 4);
  EXPECT_EQ(tasks[4]["n"], 2);
  EXPECT_EQ(tasks[5]["n"], 2);
  EXPECT_GT((*report)["speed"]["tokens_per_s"].get<double>(), 0.0);
  ASSERT_TRUE(write_report(*report, dir.str("out")).ok());
  auto back = load_report(dir.str("out/eval_report.json"));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(summary_rows(*back).size(), summary_rows(*report).size());
  EXPECT_TRUE(std::filesystem::exists(dir.str("out/eval_report.html")));
  const std::string table = summary_table(*back);
  EXPECT_NE(table.find("mmlu:"), std::string::npos);
  std::printf("%s", table.c_str());  // the example table of docs/eval.md
}

}  // namespace
}  // namespace anvil::eval
