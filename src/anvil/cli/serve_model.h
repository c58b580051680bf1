// Serving one model directory until a stop signal: the body of `anvil serve`, shared with `anvil run`
// (which can serve the model it has just trained). Option parsing stays in the commands.
#pragma once

#include <string>

#include "anvil/cli/command.h"
#include "anvil/infer/scheduler.h"
#include "anvil/serve/http_server.h"

namespace anvil::cli {

struct ServeArgs {
  std::string model_dir, tokenizer, model_name;  // tokenizer "" = MODEL/tokenizer.json; name "" = dir name
  serve::HttpOptions http;
  int grpc_port = -1;  // -1 = no gRPC
  infer::SchedulerOptions sched;
};

// Loads the model, its tokenizer and chat template, serves HTTP (and gRPC) and prints the addresses on
// stdout, then waits for SIGINT/SIGTERM: new requests get 503, in-flight ones finish, a second signal
// ends the process at once. Returns the exit code: 0 after a clean drain, 1 when loading or binding
// fails, 2 when no tokenizer is given and the model directory has none.
int serve_model(const GlobalOptions& g, ServeArgs& a);

}  // namespace anvil::cli
