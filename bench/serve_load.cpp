// bench_serve_load: a lean load generator for OpenAI-compatible streamed completions, the native client of
// bench/serve_bench.py (--client native). N threads, each with its own keep-alive connection, send R
// requests one after another (POST /v1/completions with the given JSON body, which must ask for
// `"stream": true` and `"stream_options": {"include_usage": true}`) and read the server-sent events as they
// come. Per request it takes the time to the first event carrying text, the time from there to the last,
// and usage.completion_tokens from the usage event. It parses no other JSON: on a 2-core machine the
// client shares the cores with the server, and Python's client spends 30-80 us of CPU per streamed token
// (json.loads of every chunk), a large part of a small model's step; this one spends a few us.
//   bench_serve_load --port P [--host 127.0.0.1] [--streams 8] [--requests 2] --body JSON
// Prints one JSON object: streams, requests, tokens, wall_s, tok_s (aggregate), ttft_ms (mean),
// decode_tok_s (per stream: (tokens - 1) / time from first to last token, summed over requests; null if
// every request came in one chunk) and client_cpu (this process's CPU seconds / wall seconds). Exits 1
// naming the first failed request.
#include <httplib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1", body;
  int port = 0, streams = 8, requests = 2;
};

struct RequestResult {
  double ttft_s = 0, decode_s = 0;
  long tokens = 0;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Reads a stream's events as the bytes arrive: events end at a blank line; an event with a non-empty
// `"text":"..."` is a token event, the one with `"completion_tokens":` gives the count.
class EventReader {
 public:
  explicit EventReader(Clock::time_point t0) : t0_(t0) {}

  void feed(const char* data, size_t n) {
    buffer_.append(data, n);
    size_t start = 0;
    for (size_t end; (end = buffer_.find("\n\n", start)) != std::string::npos; start = end + 2)
      event(std::string_view(buffer_).substr(start, end - start));
    buffer_.erase(0, start);
  }

  // The request's result, or an error message.
  bool result(RequestResult* r, std::string* error) const {
    if (n_token_events_ == 0) return *error = "the stream carried no token event", false;
    if (tokens_ < 0) return *error = "the stream carried no usage.completion_tokens", false;
    *r = {.ttft_s = seconds(first_), .decode_s = std::chrono::duration<double>(last_ - first_).count(),
          .tokens = tokens_};
    return true;
  }

 private:
  void event(std::string_view e) {
    if (e.substr(0, 6) != "data: " || e == "data: [DONE]") return;
    if (const size_t at = e.find("\"completion_tokens\":"); at != std::string_view::npos)
      tokens_ = std::strtol(e.data() + at + 20, nullptr, 10);
    if (e.find("\"text\":\"") != std::string_view::npos && e.find("\"text\":\"\"") == std::string_view::npos) {
      last_ = Clock::now();
      if (n_token_events_++ == 0) first_ = last_;
    }
  }
  double seconds(Clock::time_point t) const { return std::chrono::duration<double>(t - t0_).count(); }

  Clock::time_point t0_, first_, last_;
  std::string buffer_;
  long n_token_events_ = 0, tokens_ = -1;
};

bool one_request(httplib::Client& cli, const Options& o, RequestResult* r, std::string* error) {
  const Clock::time_point t0 = Clock::now();
  EventReader reader(t0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = o.body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    reader.feed(data, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  if (!cli.send(req, res, err)) return *error = "request failed: " + httplib::to_string(err), false;
  if (res.status != 200) return *error = "HTTP " + std::to_string(res.status), false;
  return reader.result(r, error);
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_serve_load: %s\nusage: bench_serve_load --port P [--host H] [--streams N] "
                       "[--requests R] --body JSON\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing the value of " + a).c_str());
    const char* v = argv[++i];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v);
    else if (a == "--streams") o.streams = std::atoi(v);
    else if (a == "--requests") o.requests = std::atoi(v);
    else if (a == "--body") o.body = v;
    else usage(("unknown option " + a).c_str());
  }
  if (o.port <= 0 || o.port > 65535) usage("--port must be 1..65535");
  if (o.streams < 1 || o.requests < 1) usage("--streams and --requests must be >= 1");
  if (o.body.empty()) usage("--body is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::mutex mu;
  std::vector<RequestResult> results;
  std::string first_error;
  auto worker = [&] {
    httplib::Client cli(o.host, o.port);
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);  // httplib writes the headers and the body apart: Nagle + delayed ACK = 40 ms
    cli.set_read_timeout(600, 0);
    for (int k = 0; k < o.requests; ++k) {
      RequestResult r;
      std::string error;
      const bool ok = one_request(cli, o, &r, &error);
      const std::lock_guard<std::mutex> lock(mu);
      if (ok) results.push_back(r);
      else if (first_error.empty()) first_error = error;
    }
  };
  const double c0 = cpu_seconds();
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < o.streams; ++s) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  if (!first_error.empty()) {
    std::fprintf(stderr, "bench_serve_load: %zu of %d requests failed, first: %s\n",
                 static_cast<size_t>(o.streams) * o.requests - results.size(), o.streams * o.requests,
                 first_error.c_str());
    return 1;
  }
  long tokens = 0, decode_tokens = 0;
  double ttft = 0, decode_s = 0;
  for (const RequestResult& r : results) tokens += r.tokens, decode_tokens += r.tokens - 1, ttft += r.ttft_s,
                                         decode_s += r.decode_s;
  // decode_tok_s is null when every request's tokens came in one chunk.
  const std::string decode = decode_s > 0 ? std::to_string(static_cast<double>(decode_tokens) / decode_s) : "null";
  std::printf("{\"streams\": %d, \"requests\": %zu, \"tokens\": %ld, \"wall_s\": %.6f, \"tok_s\": %.3f, "
              "\"ttft_ms\": %.3f, \"decode_tok_s\": %s, \"client_cpu\": %.4f}\n",
              o.streams, results.size(), tokens, wall, static_cast<double>(tokens) / wall,
              1e3 * ttft / static_cast<double>(results.size()), decode.c_str(), cpu / wall);
  return 0;
}
