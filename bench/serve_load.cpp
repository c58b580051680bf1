// bench_serve_load: a lean load generator for OpenAI-compatible streamed completions, the native client of
// bench/serve_bench.py (--client native). N streams, each sending R requests one after another (POST
// /v1/completions with the given JSON body, which must ask for `"stream": true` and
// `"stream_options": {"include_usage": true}`) on its own kept-alive connection, all driven by one thread
// through libcurl's multi interface: the server-sent events of every stream that has news are read in one
// wake-up. Per request it takes the time to the first event carrying text, the time from there to the
// last, and usage.completion_tokens from the usage event; it parses no other JSON. On a 2-core machine the
// client shares the cores with the server: Python's threaded client spends 30-80 us of CPU per streamed
// token (json.loads of every chunk, a wake-up per chunk), a large part of a small model's step.
//   bench_serve_load --port P [--host 127.0.0.1] [--streams 8] [--requests 2] --body JSON
// Prints one JSON object: streams, requests, tokens, wall_s, tok_s (aggregate), ttft_ms (mean),
// decode_tok_s (per stream: (tokens - 1) / time from first to last token, summed over requests; null if
// every request came in one chunk) and client_cpu (this process's CPU seconds / wall seconds). Exits 1
// naming the first failed request.
#include <curl/curl.h>
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
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

// One stream: its easy handle (libcurl keeps the connection open between its requests), the request in
// flight and the results so far.
struct Stream {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::unique_ptr<EventReader> reader;
  int n_sent = 0;
  std::vector<RequestResult> results;
};

size_t on_data(char* data, size_t size, size_t n, void* reader) {
  static_cast<EventReader*>(reader)->feed(data, size * n);
  return size * n;
}

// Starts the stream's next request on `multi`.
void send(CURLM* multi, Stream& s, const Options& o, const std::string& url) {
  if (!s.easy) {
    s.easy = curl_easy_init();
    s.headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(s.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.headers);
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, o.body.c_str());
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(o.body.size()));
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s.easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);  // no SIGPIPE handler swapped per call (SIG_IGN in main)
  }
  s.reader = std::make_unique<EventReader>(Clock::now());
  curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, s.reader.get());
  ++s.n_sent;
  curl_multi_add_handle(multi, s.easy);
}

constexpr const char* kUsage =
    "usage: bench_serve_load --port P [--host 127.0.0.1] [--streams 8] [--requests 2] --body JSON\n"
    "  N streams, each sending R streamed completions (POST /v1/completions with the JSON body, which must ask\n"
    "  for \"stream\": true and \"stream_options\": {\"include_usage\": true}) one after another on its own\n"
    "  connection; prints one JSON object: streams, requests, tokens, wall_s, tok_s, ttft_ms, decode_tok_s,\n"
    "  client_cpu. bench/serve_bench.py drives it.\n";

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_serve_load: %s\n%s", why, kUsage);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") std::fputs(kUsage, stdout), std::exit(0);
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
  std::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(o.streams));
  const std::string url = "http://" + o.host + ":" + std::to_string(o.port) + "/v1/completions";
  std::vector<Stream> streams(static_cast<size_t>(o.streams));
  std::string first_error;
  const double c0 = cpu_seconds();
  const Clock::time_point t0 = Clock::now();
  for (Stream& s : streams) send(multi, s, o, url);
  for (int running = 1; running > 0;) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Stream* s = nullptr;
      for (Stream& c : streams) s = c.easy == m->easy_handle ? &c : s;
      long status = 0;
      curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
      RequestResult r;
      std::string error;
      if (m->data.result != CURLE_OK) error = std::string("request failed: ") + curl_easy_strerror(m->data.result);
      else if (status != 200) error = "HTTP " + std::to_string(status);
      if (error.empty() && s->reader->result(&r, &error)) s->results.push_back(r);
      else if (first_error.empty()) first_error = error;
      curl_multi_remove_handle(multi, s->easy);
      if (s->n_sent < o.requests) send(multi, *s, o, url), running = 1;
    }
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  std::vector<RequestResult> results;
  for (Stream& s : streams) {
    results.insert(results.end(), s.results.begin(), s.results.end());
    curl_easy_cleanup(s.easy);
    curl_slist_free_all(s.headers);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
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
