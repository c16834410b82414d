// tasker: the command-line client of Tasker (docs/cli.md; `tasker help`).
//
// The commands live in a table (kCommands) with their flags, help and
// examples; main() parses the command line (args.h), resolves where Tasker is
// (flag > environment > config file), and runs one. Every RPC goes through
// client.h. `tasker dev` keeps its absl flags (dev.h).
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "runtime/common/json.h"
#include "runtime/common/json_text.h"
#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/dev.h"
#include "services/cli/output.h"
#include "services/cli/version.h"

namespace tasker::cli {
namespace {

namespace v1 = ::tasker::v1;

// Exit codes (documented in `tasker help` and docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitServerError = 1;  // the server refused or failed the call (NOT_FOUND, PERMISSION_DENIED, ...)
constexpr int kExitUsage = 2;        // bad command line, flag, input or config
constexpr int kExitRunFailed = 3;    // the run ended FAILED
constexpr int kExitRunCancelled = 4; // the run ended CANCELLED
constexpr int kExitUnreachable = 5;  // no answer: UNAVAILABLE, DEADLINE_EXCEEDED
constexpr int kExitInterrupted = 130;

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0    success (for submit --wait, watch, logs -f: the run COMPLETED)\n"
    "  1    the server refused or failed the call (NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED,\n"
    "       ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, ...)\n"
    "  2    usage error: unknown command or flag, missing argument, bad input JSON or config\n"
    "  3    the run ended FAILED\n"
    "  4    the run ended CANCELLED\n"
    "  5    Tasker unreachable: UNAVAILABLE or DEADLINE_EXCEEDED (wrong address, server down, TLS refused)\n"
    "  130  interrupted (Ctrl-C); the run itself goes on\n";

struct Ctx;
using Handler = int (*)(Ctx&);

struct Command {
  std::string name;
  std::vector<std::string> aliases;
  std::string usage;    // after "tasker "
  std::string summary;  // one line
  std::string help;     // description and examples
  std::vector<FlagSpec> flags;
  Handler run;
  bool needs_client = true;
};

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"help", "", "show help", 'h'},
      {"address", "HOST:PORT", "the task-executor's TaskService (env TASKER_ADDRESS; default 127.0.0.1:50052)"},
      {"target", "HOST:PORT", "the same as --address"},
      {"keystore", "HOST:PORT", "the keystore service (env TASKER_KEYSTORE_ADDRESS; default: the address's host, port 50053)"},
      {"config", "FILE", "config file (env TASKER_CONFIG; default ~/.config/tasker/config.yaml)"},
      {"token_file", "FILE", "file holding the bearer token (else env TASKER_TOKEN, TASKER_TOKEN_FILE, config)"},
      {"tls_ca", "FILE", "CA certificate (PEM): use TLS and verify the server (env TASKER_TLS_CA)"},
      {"tls_cert", "FILE", "client certificate for mutual TLS (env TASKER_TLS_CERT)"},
      {"tls_key", "FILE", "client key of --tls_cert (env TASKER_TLS_KEY)"},
      {"tls_server_name", "NAME", "name expected in the server's certificate, when not its host"},
      {"output", "FORMAT", "table (default, for people), json or yaml (for scripts; env TASKER_OUTPUT)", 'o'},
      {"color", "WHEN", "auto (default: on a terminal, unless NO_COLOR is set), always or never"},
      {"no_color", "", "the same as --color=never"},
      {"timeout", "DURATION", "deadline of each call (default 30s; never of a whole watch)"},
      {"version", "", "print the version (as `tasker version`)"},
  };
  return *flags;
}

struct Ctx {
  const Command* command;
  ParsedArgs args;
  Settings settings;
  Style out;  // stdout
  Style err;  // stderr
  std::unique_ptr<Client> client;

  bool table() const { return settings.output == "table"; }
  bool json() const { return settings.output == "json"; }
  bool yaml() const { return settings.output == "yaml"; }
  std::string arg(size_t i) const { return i < args.positional.size() ? args.positional[i] : ""; }
  size_t nargs() const { return args.positional.size(); }
};

int Usage(const Ctx* ctx, const std::string& problem) {
  std::cerr << "tasker: " << problem << "\n";
  if (ctx && ctx->command) {
    std::cerr << "usage: tasker " << ctx->command->usage << "\n"
              << "Run 'tasker " << ctx->command->name << " --help' for more.\n";
  } else {
    std::cerr << "Run 'tasker --help' for the commands.\n";
  }
  return kExitUsage;
}

bool Unreachable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable || status.code() == absl::StatusCode::kDeadlineExceeded;
}

int ExitCodeOf(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (Unreachable(status)) return kExitUnreachable;
  return kExitServerError;
}

// Prints a failed call with its gRPC code and a hint where one helps.
int Fail(const Ctx& ctx, const absl::Status& status, bool keystore = false) {
  std::cerr << "tasker: " << status.ToString() << "\n";
  const std::string address = keystore ? ctx.settings.keystore_address : ctx.settings.address;
  const std::string source = keystore ? ctx.settings.keystore_source : ctx.settings.address_source;
  if (Unreachable(status)) {
    std::cerr << "tasker: could not reach " << (keystore ? "the keystore" : "Tasker") << " at " << address << " ("
              << source << "); set " << (keystore ? "--keystore or TASKER_KEYSTORE_ADDRESS" : "--address or TASKER_ADDRESS")
              << ", or the config file (tasker help config)\n";
  } else if (status.code() == absl::StatusCode::kUnauthenticated) {
    std::cerr << "tasker: give a token: env TASKER_TOKEN, --token_file or the config file's token_file\n";
  } else if (keystore && status.code() == absl::StatusCode::kUnimplemented) {
    std::cerr << "tasker: " << address << " (" << source << ") serves no keystore; set --keystore\n";
  }
  return ExitCodeOf(status);
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string RunStatusName(v1::RunStatus s) {
  if (s == v1::RUN_STATUS_SUSPENDED_WAITING_CHILD) return "SUSPENDED";
  return ShortEnum(v1::RunStatus_Name(s), "RUN_STATUS_");
}

std::string StackStatusName(v1::StackRunStatus s) {
  if (s == v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD) return "SUSPENDED";
  return ShortEnum(v1::StackRunStatus_Name(s), "STACK_RUN_STATUS_");
}

bool Ended(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED || s == v1::RUN_STATUS_CANCELLED;
}

bool StackEnded(v1::StackRunStatus s) {
  return s == v1::STACK_RUN_STATUS_COMPLETED || s == v1::STACK_RUN_STATUS_FAILED ||
         s == v1::STACK_RUN_STATUS_CANCELLED;
}

int ExitCodeOfRun(const v1::TaskRun& run) {
  switch (run.status()) {
    case v1::RUN_STATUS_COMPLETED:
      return kExitOk;
    case v1::RUN_STATUS_CANCELLED:
      return kExitRunCancelled;
    default:
      return kExitRunFailed;
  }
}

absl::Duration RunDuration(const v1::TaskRun& run, absl::Time now) {
  const absl::Time start = TimeOf(run.created_at());
  if (start == absl::InfinitePast()) return absl::ZeroDuration();
  const absl::Time end = Ended(run.status()) && run.has_completed_at() ? TimeOf(run.completed_at()) : now;
  return end - start;
}

// A message as JSON (payloads spliced in as JSON values, as the HTTP API shows them).
std::string MessageJson(const google::protobuf::Message& m, bool pretty) {
  return ProtoToJsonWithPayloads(m, {.pretty = pretty});
}

nlohmann::json ParseLenient(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    j = nlohmann::json::parse(RewriteLoneSurrogateEscapes(text, LoneSurrogates::kReplacementCharacter), nullptr,
                              false);
  }
  return j.is_discarded() ? nlohmann::json(text) : j;
}

// Prints JSON text in the chosen script format (json as given, yaml converted).
void PrintStructured(const Ctx& ctx, const std::string& json_text) {
  if (ctx.yaml()) {
    std::cout << ToYaml(ParseLenient(json_text));
  } else {
    std::cout << json_text;
    if (json_text.empty() || json_text.back() != '\n') std::cout << "\n";
  }
  std::cout.flush();
}

void PrintMessage(const Ctx& ctx, const google::protobuf::Message& m) { PrintStructured(ctx, MessageJson(m, true)); }

// {"<key>": [items...], "nextPageToken": ...}: each item as its own JSON text,
// so payloads stay byte for byte.
std::string JsonList(const std::string& key, const std::vector<std::string>& items, const std::string& next) {
  std::string out = absl::StrCat("{\n  \"", key, "\": [");
  for (size_t i = 0; i < items.size(); ++i) absl::StrAppend(&out, i ? ",\n    " : "\n    ", items[i]);
  absl::StrAppend(&out, items.empty() ? "]" : "\n  ]");
  if (!next.empty()) absl::StrAppend(&out, ",\n  \"nextPageToken\": ", JsonQuote(next));
  absl::StrAppend(&out, "\n}\n");
  return out;
}

std::string PrettyPayload(const std::string& json_text) {
  if (json_text.empty()) return "null";
  auto j = ParseLenient(json_text);
  return j.is_string() && json_text.front() != '"' ? json_text : j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string OneLinePayload(const std::string& json_text) { return json_text.empty() ? "null" : json_text; }

// ---- publish ----

int Publish(Ctx& ctx) {
  if (ctx.nargs() != 2) return Usage(&ctx, "publish needs TASK FILE");
  std::ifstream in(ctx.arg(1));
  if (!in) return Usage(&ctx, absl::StrCat("FILE: cannot read ", ctx.arg(1)));
  std::stringstream code;
  code << in.rdbuf();
  nlohmann::json metadata = nlohmann::json::object();
  if (ctx.args.Has("metadata")) {
    metadata = nlohmann::json::parse(ctx.args.Get("metadata"), nullptr, false);
    if (metadata.is_discarded() || !metadata.is_object()) return Usage(&ctx, "--metadata: must be a JSON object");
  }
  if (ctx.args.Has("permissions")) {
    auto& list = metadata["permissions"];
    if (list.is_null()) list = nlohmann::json::array();
    if (!list.is_array()) return Usage(&ctx, "--metadata: \"permissions\" must be an array");
    for (const auto& value : ctx.args.flags.at("permissions")) {
      for (absl::string_view p : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        list.push_back(std::string(absl::StripAsciiWhitespace(p)));
      }
    }
  }
  auto published = ctx.client->Publish(ctx.arg(0), code.str(), metadata.empty() ? "" : metadata.dump());
  if (!published.ok()) return Fail(ctx, published.status());
  for (const auto& w : published->warnings) std::cerr << "tasker: warning: " << w << "\n";
  const auto& f = published->function;
  if (!ctx.table()) {
    PrintMessage(ctx, f);
    return kExitOk;
  }
  std::cout << "published " << ctx.out.Bold(f.identifier()) << " v" << f.version() << " (sha256 "
            << f.code_sha256().substr(0, 12) << ", permissions: "
            << (f.permissions().empty() ? "none" : absl::StrJoin(f.permissions(), ", ")) << ")\n";
  return kExitOk;
}

// ---- following a run: submit --wait, watch ----

bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

// For Ctrl-C while following: the progress line erased, and how to go on.
std::atomic<bool> g_progress_active{false};
char g_interrupt_note[256] = "";

void OnInterrupt(int) {
  if (g_progress_active.load()) (void)!write(STDERR_FILENO, "\r\033[K", 4);
  (void)!write(STDERR_FILENO, g_interrupt_note, strlen(g_interrupt_note));
  _exit(kExitInterrupted);
}

struct Progress {
  int calls_done = 0;
  int calls_total = 0;
  std::vector<std::string> current;  // calls in flight, "service.method"
  std::string waiting_note;          // e.g. "retry in 3s"
};

Progress ProgressOf(const v1::GetRunResponse& got, absl::Time now) {
  Progress p;
  std::vector<const v1::StackRun*> open;
  for (const auto& s : got.stack_runs()) {
    if (s.kind() != v1::STACK_RUN_KIND_CALL) continue;
    ++p.calls_total;
    if (StackEnded(s.status())) {
      ++p.calls_done;
    } else {
      open.push_back(&s);
    }
  }
  std::sort(open.begin(), open.end(), [](auto* a, auto* b) { return a->call_index() < b->call_index(); });
  for (const auto* s : open) {
    std::string what = absl::StrCat(s->service(), ".", s->method());
    if (s->attempt() > 1) absl::StrAppend(&what, " (attempt ", s->attempt(), ")");
    if (s->has_next_attempt_at() && TimeOf(s->next_attempt_at()) > now) {
      absl::StrAppend(&what, " (", RelativeTime(TimeOf(s->next_attempt_at()), now), ")");
    }
    p.current.push_back(what);
  }
  return p;
}

class Follower {
 public:
  // on_change: each new state of the run (status, suspensions or update time changed).
  // connected: the server has answered already (submit): from the start, an
  // outage is waited out. Otherwise a first call that finds nobody fails (a
  // wrong address should not spin forever).
  Follower(Ctx& ctx, std::string run, bool connected, std::function<void(const v1::TaskRun&)> on_change)
      : ctx_(ctx), run_(std::move(run)), on_change_(std::move(on_change)), progress_(stderr), connected_(connected) {}

  // Follows until the run ends: its final state, or an error that retrying
  // cannot cure (NOT_FOUND, PERMISSION_DENIED, ...). No overall deadline.
  absl::StatusOr<v1::TaskRun> Run() {
    g_progress_active = progress_.active();
    absl::Duration backoff = absl::Milliseconds(250);
    bool need_state = true;
    while (true) {
      if (need_state) {
        auto got = ctx_.client->GetRun(run_, /*wait_for_ready=*/connected_);
        if (!got.ok()) {
          if (!Retryable(got.status()) || !connected_) return Finish(got.status());
          Lost(got.status());
          Sleep(backoff);
          backoff = std::min(backoff * 2, absl::Seconds(5));
          continue;
        }
        Reconnected();
        connected_ = true;
        details_ = *got;
        details_at_ = absl::Now();
        if (Deliver(got->run())) return Finish(last_);
        need_state = false;
      }
      std::unique_ptr<RunStream> stream = ctx_.client->WatchRun(run_);
      std::mutex mu;
      std::condition_variable cv;
      std::deque<v1::RunEvent> events;
      bool done = false;
      std::thread reader([&] {
        v1::RunEvent event;
        while (stream->Read(&event)) {
          std::lock_guard<std::mutex> lock(mu);
          events.push_back(event);
          cv.notify_one();
        }
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        cv.notify_one();
      });
      bool ended = false;
      while (true) {
        std::deque<v1::RunEvent> batch;
        bool stream_done;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait_for(lock, std::chrono::milliseconds(progress_.active() ? 200 : 1000),
                      [&] { return !events.empty() || done; });
          batch.swap(events);
          stream_done = done;
        }
        for (const auto& event : batch) {
          Reconnected();
          backoff = absl::Milliseconds(250);
          if (Deliver(event.run()) || event.final()) {
            ended = Ended(event.run().status());
            if (ended) break;
          }
        }
        if (ended || stream_done) break;
        Tick();
      }
      if (ended) {
        stream->Cancel();
        reader.join();
        return Finish(last_);
      }
      reader.join();
      absl::Status status = stream->Finish();
      if (status.ok()) status = absl::UnavailableError("the stream ended before the run did");
      if (!Retryable(status)) return Finish(status);
      Lost(status);
      Sleep(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      need_state = true;  // re-read: nothing between the streams is missed
    }
  }

 private:
  template <typename T>
  T Finish(T result) {
    progress_.Clear();
    g_progress_active = false;
    if (!outage_.empty() && !progress_.active()) std::cerr << "tasker: reconnected\n";
    return result;
  }

  // True when the run has ended.
  bool Deliver(const v1::TaskRun& run) {
    const bool changed = !have_last_ || run.status() != last_.status() ||
                         run.suspend_count() != last_.suspend_count() ||
                         TimeOf(run.updated_at()) != TimeOf(last_.updated_at());
    if (!have_last_ || run.status() != last_.status()) details_at_ = absl::InfinitePast();  // refresh the calls
    last_ = run;
    have_last_ = true;
    if (changed) {
      progress_.Clear();
      on_change_(run);
      if (!Ended(run.status())) Draw();
    }
    return Ended(run.status());
  }

  void Lost(const absl::Status& status) {
    const std::string note = absl::StrCat(absl::StatusCodeToString(status.code()));
    if (outage_.empty() && !progress_.active()) {
      std::cerr << "tasker: lost the connection (" << status.ToString() << "); reconnecting\n";
    }
    outage_ = note;
    Draw();
  }

  void Reconnected() {
    if (outage_.empty()) return;
    if (!progress_.active()) std::cerr << "tasker: reconnected\n";
    outage_.clear();
  }

  void Sleep(absl::Duration d) {
    const absl::Time until = absl::Now() + d;
    while (absl::Now() < until) {
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(200)));
      Draw();
    }
  }

  void Tick() {
    if (!progress_.active()) return;
    const int size = details_.stack_runs_size();
    const absl::Duration every = size > 1000 ? absl::Seconds(5) : size > 100 ? absl::Seconds(2) : absl::Seconds(1);
    if (absl::Now() - details_at_ >= every) {
      details_at_ = absl::Now();
      auto got = ctx_.client->GetRun(run_);
      if (got.ok()) details_ = *got;
    }
    Draw();
  }

  void Draw() {
    if (!progress_.active() || !have_last_) return;
    static const char* kSpinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
    const absl::Time now = absl::Now();
    const Progress p = ProgressOf(details_, now);
    std::string line = absl::StrCat(ctx_.err.Cyan(kSpinner[frame_++ % 10]), " ", run_, "  ");
    if (!outage_.empty()) {
      absl::StrAppend(&line, ctx_.err.Yellow(absl::StrCat("reconnecting (", outage_, ")")));
    } else {
      absl::StrAppend(&line, ctx_.err.Status(RunStatusName(last_.status())));
    }
    absl::StrAppend(&line, "  ", p.calls_done, p.calls_done == 1 ? " call" : " calls", " done");
    if (!p.current.empty()) {
      absl::StrAppend(&line, "  now ", p.current[0]);
      if (p.current.size() > 1) absl::StrAppend(&line, " +", p.current.size() - 1, " more");
    }
    absl::StrAppend(&line, "  ", ctx_.err.Dim(HumanDuration(RunDuration(last_, now))));
    progress_.Draw(line);
  }

  Ctx& ctx_;
  std::string run_;
  std::function<void(const v1::TaskRun&)> on_change_;
  ProgressLine progress_;
  v1::TaskRun last_;
  bool have_last_ = false;
  v1::GetRunResponse details_;
  absl::Time details_at_ = absl::InfinitePast();
  std::string outage_;
  bool connected_;
  int frame_ = 0;
};

// The end of a run, for people.
void PrintRunEnd(const Ctx& ctx, const v1::TaskRun& run) {
  const absl::Time now = absl::Now();
  std::cout << run.id() << "  " << ctx.out.Status(RunStatusName(run.status())) << "  "
            << HumanDuration(RunDuration(run, now)) << "  (" << run.task_identifier() << " v" << run.task_version()
            << ")\n";
  if (run.status() == v1::RUN_STATUS_COMPLETED) {
    std::cout << PrettyPayload(run.result_json()) << "\n";
  } else if (run.has_error()) {
    std::cout << ctx.out.Red("error: ") << (run.error().code().empty() ? "" : run.error().code() + ": ")
              << run.error().message() << "\n";
    if (!run.error().stack().empty()) std::cout << ctx.out.Dim(run.error().stack()) << "\n";
  }
  std::cout.flush();
}

int FollowRun(Ctx& ctx, const std::string& id, bool print_events, bool connected) {
  snprintf(g_interrupt_note, sizeof(g_interrupt_note),
           "tasker: interrupted; the run goes on (tasker watch %s)\n", id.c_str());
  signal(SIGINT, OnInterrupt);
  const bool on_tty = ProgressLine(stderr).active();
  Follower follower(ctx, id, connected, [&](const v1::TaskRun& run) {
    if (!print_events) return;
    if (ctx.json()) {
      v1::RunEvent event;
      *event.mutable_run() = run;
      event.set_final(Ended(run.status()));
      std::cout << MessageJson(event, false) << "\n";
    } else if (ctx.yaml()) {
      v1::RunEvent event;
      *event.mutable_run() = run;
      event.set_final(Ended(run.status()));
      std::cout << "---\n" << ToYaml(ParseLenient(MessageJson(event, false)));
    } else if (!on_tty && !Ended(run.status())) {
      // Off a terminal: one plain line per change (the end is printed below).
      std::cout << "[" << HumanDuration(RunDuration(run, absl::Now())) << "] " << run.id() << " "
                << RunStatusName(run.status());
      if (run.suspend_count() > 0) {
        std::cout << " (suspended " << run.suspend_count() << (run.suspend_count() == 1 ? " time)" : " times)");
      }
      std::cout << "\n";
    }
    std::cout.flush();
  });
  auto final_run = follower.Run();
  signal(SIGINT, SIG_DFL);
  if (!final_run.ok()) return Fail(ctx, final_run.status());
  if (ctx.table()) {
    PrintRunEnd(ctx, *final_run);
  } else if (!print_events) {
    PrintMessage(ctx, *final_run);
  }
  return ExitCodeOfRun(*final_run);
}

// ---- submit, watch ----

int Submit(Ctx& ctx) {
  if (ctx.nargs() < 1 || ctx.nargs() > 2) return Usage(&ctx, "submit needs TASK [INPUT_JSON]");
  std::string input = ctx.nargs() == 2 ? ctx.arg(1) : "null";
  if (ctx.args.Has("input_file")) {
    if (ctx.nargs() == 2) return Usage(&ctx, "give INPUT_JSON or --input_file, not both");
    const std::string path = ctx.args.Get("input_file");
    std::stringstream text;
    if (path == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(path);
      if (!in) return Usage(&ctx, absl::StrCat("--input_file: cannot read ", path));
      text << in.rdbuf();
    }
    input = std::string(absl::StripAsciiWhitespace(text.str()));
  }
  if (absl::Status valid = ValidateJson(input, "INPUT_JSON"); !valid.ok()) {
    return Usage(&ctx, std::string(valid.message()));
  }
  int64_t version = 0;
  if (ctx.args.Has("task_version") && !absl::SimpleAtoi(ctx.args.Get("task_version"), &version)) {
    return Usage(&ctx, "--task_version: must be a number");
  }
  auto submitted = ctx.client->Submit(ctx.arg(0), version, input, ctx.args.Get("idempotency_key"));
  if (!submitted.ok()) return Fail(ctx, submitted.status());
  const v1::TaskRun& run = submitted->run();
  const bool wait = ctx.args.Bool("wait");
  // The id first, at once: whatever happens next, the run can be found.
  if (ctx.args.Bool("quiet")) {
    std::cout << run.id() << "\n";
  } else if (ctx.table()) {
    std::cout << (submitted->created() ? "submitted " : "existing ") << ctx.out.Bold(run.id()) << "  ("
              << run.task_identifier() << " v" << run.task_version() << (run.number() ? ", #" : "")
              << (run.number() ? std::to_string(run.number()) : "") << ")\n";
  } else if (wait) {
    std::cerr << "tasker: submitted " << run.id() << "\n";
  } else {
    PrintMessage(ctx, run);
  }
  std::cout.flush();
  std::cerr.flush();
  if (!wait) return kExitOk;
  if (ctx.args.Bool("quiet")) {
    // Only the id on stdout; the end as an exit code.
    ctx.settings.output = "json";
    std::streambuf* saved = std::cout.rdbuf();
    std::ostringstream sink;
    std::cout.rdbuf(sink.rdbuf());
    int code = FollowRun(ctx, run.id(), false, /*connected=*/true);
    std::cout.rdbuf(saved);
    return code;
  }
  return FollowRun(ctx, run.id(), false, /*connected=*/true);
}

int Watch(Ctx& ctx) {
  if (ctx.nargs() != 1) return Usage(&ctx, "watch needs RUN");
  return FollowRun(ctx, ctx.arg(0), true, /*connected=*/false);
}

// ---- logs ----

void PrintLog(const Ctx& ctx, const v1::LogEntry& e) {
  if (ctx.json()) {
    std::cout << MessageJson(e, false) << "\n";
    return;
  }
  if (ctx.yaml()) {
    std::cout << "---\n" << ToYaml(ParseLenient(MessageJson(e, false)));
    return;
  }
  const absl::Time t = TimeOf(e.time());
  std::string level = absl::AsciiStrToLower(e.level());
  std::string shown = absl::StrCat(level, std::string(level.size() < 5 ? 5 - level.size() : 0, ' '));
  if (level == "error") shown = ctx.out.Red(shown);
  else if (level == "warn") shown = ctx.out.Yellow(shown);
  else shown = ctx.out.Dim(shown);
  std::cout << ctx.out.Dim(absl::FormatTime("%H:%M:%E3S", t, absl::LocalTimeZone())) << "  " << shown << "  "
            << e.message() << "\n";
}

int Logs(Ctx& ctx) {
  if (ctx.nargs() != 1) return Usage(&ctx, "logs needs RUN");
  const bool follow = ctx.args.Bool("follow");
  if (!follow) {
    auto got = ctx.client->GetRun(ctx.arg(0));
    if (!got.ok()) return Fail(ctx, got.status());
    if (ctx.json() || ctx.yaml()) {
      std::vector<std::string> items;
      for (const auto& e : got->run().logs()) items.push_back(MessageJson(e, false));
      PrintStructured(ctx, JsonList("logs", items, ""));
      return kExitOk;
    }
    for (const auto& e : got->run().logs()) PrintLog(ctx, e);
    if (got->run().logs().empty()) std::cerr << "tasker: run " << got->run().id() << " has printed nothing\n";
    return kExitOk;
  }
  // -f: the new lines every half second until the run ends; an outage is waited out.
  int printed = 0;
  absl::Duration backoff = absl::Milliseconds(250);
  bool lost = false;
  bool connected = false;  // as in Follower: a first call that finds nobody fails
  while (true) {
    auto got = ctx.client->GetRun(ctx.arg(0), /*wait_for_ready=*/connected);
    if (!got.ok()) {
      if (!Retryable(got.status()) || !connected) return Fail(ctx, got.status());
      if (!lost) std::cerr << "tasker: lost the connection (" << got.status().ToString() << "); reconnecting\n";
      lost = true;
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    if (lost) std::cerr << "tasker: reconnected\n";
    lost = false;
    connected = true;
    backoff = absl::Milliseconds(250);
    const auto& logs = got->run().logs();
    for (; printed < logs.size(); ++printed) PrintLog(ctx, logs[printed]);
    std::cout.flush();
    if (Ended(got->run().status())) {
      if (ctx.table()) {
        std::cerr << "tasker: run " << got->run().id() << " " << RunStatusName(got->run().status()) << "\n";
      }
      return ExitCodeOfRun(got->run());
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
}

// ---- runs ----

absl::StatusOr<std::vector<v1::RunStatus>> ParseStatuses(const std::string& text) {
  std::vector<v1::RunStatus> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string s = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(part));
    if (absl::StartsWith(s, "RUN_STATUS_")) s = s.substr(11);
    if (s == "CANCELED") s = "CANCELLED";
    if (s == "SUSPENDED") s = "SUSPENDED_WAITING_CHILD";
    v1::RunStatus status;
    if (!v1::RunStatus_Parse("RUN_STATUS_" + s, &status) || status == v1::RUN_STATUS_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--status: unknown status '", std::string(part),
          "' (pending, running, suspended, completed, failed, cancelled; comma-separated)"));
    }
    out.push_back(status);
  }
  return out;
}

int Runs(Ctx& ctx) {
  if (ctx.nargs() > 0) return Usage(&ctx, "runs takes no arguments (filters are flags: --status, --task, --since)");
  RunQuery query;
  auto statuses = ParseStatuses(ctx.args.Get("status"));
  if (!statuses.ok()) return Usage(&ctx, std::string(statuses.status().message()));
  query.statuses = *statuses;
  query.task = ctx.args.Get("task");
  if (ctx.args.Has("since")) {
    const std::string since = ctx.args.Get("since");
    absl::Time t;
    std::string error;
    if (absl::ParseTime(absl::RFC3339_full, since, &t, &error)) {
      query.created_after = t;
    } else {
      auto d = ParseDurationArg(since, "--since");
      if (!d.ok()) return Usage(&ctx, std::string(d.status().message()) + ", or an RFC 3339 time");
      query.created_after = absl::Now() - *d;
    }
  }
  int limit = 20;
  if (ctx.args.Has("limit") && (!absl::SimpleAtoi(ctx.args.Get("limit"), &limit) || limit < 1)) {
    return Usage(&ctx, "--limit: must be a positive number");
  }
  std::vector<v1::TaskRun> runs;
  std::string token = ctx.args.Get("page_token");
  while (static_cast<int>(runs.size()) < limit) {
    auto page = ctx.client->ListRuns(query, std::min(1000, limit - static_cast<int>(runs.size())), token);
    if (!page.ok()) return Fail(ctx, page.status());
    for (auto& r : page->runs) runs.push_back(std::move(r));
    token = page->next_page_token;
    if (token.empty()) break;
  }
  if (!ctx.table()) {
    std::vector<std::string> items;
    for (const auto& r : runs) items.push_back(MessageJson(r, false));
    PrintStructured(ctx, JsonList("runs", items, token));
    return kExitOk;
  }
  if (runs.empty()) {
    std::cerr << "tasker: no runs" << (query.statuses.empty() && query.task.empty() ? "" : " match") << "\n";
    return kExitOk;
  }
  const absl::Time now = absl::Now();
  Table table({"RUN", "#", "TASK", "STATUS", "CREATED", "DURATION"});
  for (const auto& r : runs) {
    table.Add({r.id(), r.number() ? std::to_string(r.number()) : "", absl::StrCat(r.task_identifier(), " v", r.task_version()),
               ctx.out.Status(RunStatusName(r.status())), RelativeTime(TimeOf(r.created_at()), now),
               HumanDuration(RunDuration(r, now))});
  }
  std::cout << table.Render(ctx.out);
  if (!token.empty()) std::cerr << ctx.err.Dim(absl::StrCat("more: tasker runs --page_token=", token)) << "\n";
  return kExitOk;
}

// ---- describe ----

int Describe(Ctx& ctx) {
  if (ctx.nargs() != 1) return Usage(&ctx, absl::StrCat(ctx.command->name, " needs RUN"));
  auto got = ctx.client->GetRun(ctx.arg(0));
  if (!got.ok()) return Fail(ctx, got.status());
  if (!ctx.table()) {
    PrintMessage(ctx, *got);
    return kExitOk;
  }
  const v1::TaskRun& run = got->run();
  const absl::Time now = absl::Now();
  auto row = [&](const std::string& key, const std::string& value) {
    std::cout << ctx.out.Bold(absl::StrCat(key, ":")) << std::string(key.size() < 11 ? 11 - key.size() : 1, ' ')
              << value << "\n";
  };
  row("Run", absl::StrCat(run.id(), run.number() ? absl::StrCat("  (#", run.number(), ")") : ""));
  row("Task", absl::StrCat(run.task_identifier(), " v", run.task_version()));
  row("Status", ctx.out.Status(RunStatusName(run.status())));
  row("Created", absl::StrCat(LocalTime(TimeOf(run.created_at())), "  (", RelativeTime(TimeOf(run.created_at()), now),
                              ")"));
  row("Duration", HumanDuration(RunDuration(run, now)));
  if (run.suspend_count() > 0) {
    row("Suspended", absl::StrCat(run.suspend_count(), run.suspend_count() == 1 ? " time" : " times"));
  }
  if (!run.idempotency_key().empty()) row("Key", run.idempotency_key());
  row("Input", Ellipsize(OneLinePayload(run.input_json()), 200));
  if (run.status() == v1::RUN_STATUS_COMPLETED) row("Result", Ellipsize(OneLinePayload(run.result_json()), 200));
  if (run.has_error()) {
    row("Error", ctx.out.Red(absl::StrCat(run.error().code().empty() ? "" : run.error().code() + ": ",
                                          run.error().message())));
  }
  row("Logs", run.logs().empty() ? "none"
                                 : absl::StrCat(run.logs_size(), run.logs_size() == 1 ? " line" : " lines",
                                                " (tasker logs ", run.id(), ")"));
  // The stack-run tree: the root, its calls under it.
  std::map<std::string, std::vector<const v1::StackRun*>> children;
  std::vector<const v1::StackRun*> roots;
  std::set<std::string> ids;
  for (const auto& s : got->stack_runs()) ids.insert(s.id());
  for (const auto& s : got->stack_runs()) {
    if (s.parent_id().empty() || !ids.count(s.parent_id())) {
      roots.push_back(&s);
    } else {
      children[s.parent_id()].push_back(&s);
    }
  }
  for (auto& [_, list] : children) {
    std::stable_sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->call_index() < b->call_index(); });
  }
  Table table({"STACK RUN", "STATUS", "ATTEMPTS", "DURATION", "DETAIL"});
  std::function<void(const v1::StackRun*, const std::string&, bool, bool)> add =
      [&](const v1::StackRun* s, const std::string& prefix, bool last, bool top) {
        std::string name;
        if (s->kind() == v1::STACK_RUN_KIND_ROOT) {
          name = absl::StrCat("root ", s->id());
        } else {
          name = absl::StrCat("#", s->call_index(), " ", s->service(), ".", s->method());
        }
        const std::string branch = top ? "" : (last ? "└─ " : "├─ ");
        const absl::Time start = TimeOf(s->created_at());
        const absl::Time end = StackEnded(s->status()) && s->has_completed_at() ? TimeOf(s->completed_at()) : now;
        std::string detail;
        if (s->has_error() && !s->error().message().empty()) {
          detail = ctx.out.Red(Ellipsize(
              absl::StrCat(s->error().code().empty() ? "" : s->error().code() + ": ", s->error().message()), 60));
        } else if (s->has_next_attempt_at() && TimeOf(s->next_attempt_at()) > now) {
          detail = absl::StrCat("next attempt ", RelativeTime(TimeOf(s->next_attempt_at()), now));
        } else if (s->kind() == v1::STACK_RUN_KIND_ROOT && s->waiting() > 0) {
          detail = absl::StrCat("waiting on ", s->waiting(), s->waiting() == 1 ? " call" : " calls");
        }
        table.Add({absl::StrCat(prefix, branch, name), ctx.out.Status(StackStatusName(s->status())),
                   std::to_string(s->attempt()), start == absl::InfinitePast() ? "-" : HumanDuration(end - start),
                   detail});
        const auto& kids = children[s->id()];
        const std::string next = top ? "" : absl::StrCat(prefix, last ? "   " : "│  ");
        for (size_t i = 0; i < kids.size(); ++i) add(kids[i], next, i + 1 == kids.size(), false);
      };
  for (const auto* r : roots) add(r, "", true, true);
  if (table.size() > 0) std::cout << "\n" << table.Render(ctx.out);
  return kExitOk;
}

// ---- cancel ----

int Cancel(Ctx& ctx) {
  if (ctx.nargs() < 1 || ctx.nargs() > 2) return Usage(&ctx, "cancel needs RUN [REASON]");
  const std::string reason = ctx.nargs() == 2 ? ctx.arg(1) : ctx.args.Get("reason");
  auto run = ctx.client->CancelRun(ctx.arg(0), reason);
  if (!run.ok()) return Fail(ctx, run.status());
  if (!ctx.table()) {
    PrintMessage(ctx, *run);
    return kExitOk;
  }
  std::cout << "cancelled " << run->id() << " (" << run->task_identifier() << " v" << run->task_version() << ")"
            << (reason.empty() ? "" : ": " + reason) << "\n";
  return kExitOk;
}

// ---- functions, versions ----

int ListFunctions(Ctx& ctx, const std::string& task) {
  int limit = 100;
  if (ctx.args.Has("limit") && (!absl::SimpleAtoi(ctx.args.Get("limit"), &limit) || limit < 1)) {
    return Usage(&ctx, "--limit: must be a positive number");
  }
  std::vector<v1::TaskFunction> functions;
  std::string token = ctx.args.Get("page_token");
  while (static_cast<int>(functions.size()) < limit) {
    auto page = ctx.client->ListFunctions(task, std::min(1000, limit - static_cast<int>(functions.size())), token);
    if (!page.ok()) return Fail(ctx, page.status());
    for (auto& f : page->functions) functions.push_back(std::move(f));
    token = page->next_page_token;
    if (token.empty()) break;
  }
  if (!ctx.table()) {
    std::vector<std::string> items;
    for (const auto& f : functions) items.push_back(MessageJson(f, false));
    PrintStructured(ctx, JsonList("functions", items, token));
    return kExitOk;
  }
  if (functions.empty()) {
    if (!task.empty()) {
      std::cerr << "tasker: NOT_FOUND: no task '" << task << "'\n";
      return kExitServerError;
    }
    std::cerr << "tasker: no tasks published yet (tasker publish TASK FILE)\n";
    return kExitOk;
  }
  const absl::Time now = absl::Now();
  Table table({"TASK", "VERSION", "CREATED", "SHA256", "PERMISSIONS"});
  for (const auto& f : functions) {
    table.Add({f.identifier(), std::to_string(f.version()), RelativeTime(TimeOf(f.created_at()), now),
               f.code_sha256().substr(0, 12), Ellipsize(absl::StrJoin(f.permissions(), ","), 60)});
  }
  std::cout << table.Render(ctx.out);
  if (!token.empty()) std::cerr << ctx.err.Dim(absl::StrCat("more: --page_token=", token)) << "\n";
  return kExitOk;
}

int Functions(Ctx& ctx) {
  if (ctx.nargs() > 1) return Usage(&ctx, "functions takes at most TASK");
  return ListFunctions(ctx, ctx.arg(0));
}

int Versions(Ctx& ctx) {
  if (ctx.nargs() != 1) return Usage(&ctx, "versions needs TASK");
  return ListFunctions(ctx, ctx.arg(0));
}

// ---- keystore ----

// Reads a secret from the terminal without echo.
std::string ReadHidden(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios old;
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~ECHO;
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::cerr << "\n";
  return line;
}

int Keystore(Ctx& ctx) {
  const std::string sub = ctx.arg(0);
  const auto& p = ctx.args.positional;
  auto need = [&](size_t n, const char* what) { return p.size() == n ? 0 : Usage(&ctx, what); };
  if (sub == "set") {
    if (int rc = need(3, "keystore set needs NAMESPACE KEY (the value: stdin, --from_file or --value)")) return rc;
    std::string value;
    int sources = ctx.args.Has("value") + ctx.args.Has("from_file");
    if (sources > 1) return Usage(&ctx, "give --value or --from_file, not both");
    if (ctx.args.Has("value")) {
      value = ctx.args.Get("value");
    } else if (ctx.args.Has("from_file")) {
      std::ifstream in(ctx.args.Get("from_file"), std::ios::binary);
      if (!in) return Usage(&ctx, absl::StrCat("--from_file: cannot read ", ctx.args.Get("from_file")));
      std::stringstream text;
      text << in.rdbuf();
      value = text.str();
    } else if (isatty(STDIN_FILENO)) {
      value = ReadHidden(absl::StrCat("value for ", p[1], "/", p[2], " (not echoed): "));
    } else {
      std::stringstream text;
      text << std::cin.rdbuf();
      value = text.str();
      // `echo secret | tasker keystore set ...`: the newline is not the secret's.
      if (absl::EndsWith(value, "\r\n")) {
        value.resize(value.size() - 2);
      } else if (absl::EndsWith(value, "\n")) {
        value.pop_back();
      }
    }
    auto set = ctx.client->SetKey(p[1], p[2], value);
    if (!set.ok()) return Fail(ctx, set.status(), true);
    if (!ctx.table()) {
      PrintStructured(ctx, nlohmann::json{{"namespace", p[1]}, {"key", p[2]}, {"bytes", value.size()}}.dump(2));
      return kExitOk;
    }
    std::cout << "set " << p[1] << "/" << p[2] << " (" << value.size() << " bytes)\n";
    return kExitOk;
  }
  if (sub == "get") {
    if (int rc = need(3, "keystore get needs NAMESPACE KEY")) return rc;
    auto got = ctx.client->GetKey(p[1], p[2]);
    if (!got.ok()) return Fail(ctx, got.status(), true);
    const bool reveal = ctx.args.Bool("reveal");
    const absl::Time updated = TimeOf(got->updated_at());
    if (!ctx.table()) {
      nlohmann::json j{{"namespace", p[1]}, {"key", p[2]}, {"bytes", got->value().size()}};
      if (updated != absl::InfinitePast()) j["updatedAt"] = absl::FormatTime(absl::RFC3339_full, updated, absl::UTCTimeZone());
      if (reveal) j["value"] = got->value();
      PrintStructured(ctx, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      return kExitOk;
    }
    if (reveal) {
      std::cout << got->value();
      if (isatty(STDOUT_FILENO) && !absl::EndsWith(got->value(), "\n")) std::cout << "\n";
      return kExitOk;
    }
    std::cout << p[1] << "/" << p[2] << " is set (" << got->value().size() << " bytes, updated "
              << RelativeTime(updated, absl::Now()) << "); --reveal prints it\n";
    return kExitOk;
  }
  if (sub == "list" || sub == "ls") {
    if (p.size() > 2) return Usage(&ctx, "keystore list takes at most NAMESPACE");
    if (p.size() == 1) {
      auto namespaces = ctx.client->ListNamespaces();
      if (!namespaces.ok()) return Fail(ctx, namespaces.status(), true);
      if (!ctx.table()) {
        std::vector<std::string> items;
        for (const auto& n : *namespaces) items.push_back(MessageJson(n, false));
        PrintStructured(ctx, JsonList("namespaces", items, ""));
        return kExitOk;
      }
      if (namespaces->empty()) {
        std::cerr << "tasker: the keystore is empty (tasker keystore set NAMESPACE KEY)\n";
        return kExitOk;
      }
      Table table({"NAMESPACE", "TASK-READABLE"});
      for (const auto& n : *namespaces) table.Add({n.namespace_(), n.task_readable() ? "yes" : "no"});
      std::cout << table.Render(ctx.out);
      return kExitOk;
    }
    auto keys = ctx.client->ListKeys(p[1]);
    if (!keys.ok()) return Fail(ctx, keys.status(), true);
    if (!ctx.table()) {
      PrintStructured(ctx, nlohmann::json{{"namespace", p[1]}, {"keys", *keys}}.dump(2));
      return kExitOk;
    }
    for (const auto& k : *keys) std::cout << k << "\n";
    if (keys->empty()) std::cerr << "tasker: no keys in " << p[1] << "\n";
    return kExitOk;
  }
  if (sub == "delete" || sub == "rm") {
    if (int rc = need(3, "keystore delete needs NAMESPACE KEY")) return rc;
    auto deleted = ctx.client->DeleteKey(p[1], p[2]);
    if (!deleted.ok()) return Fail(ctx, deleted.status(), true);
    if (!ctx.table()) {
      PrintStructured(ctx, nlohmann::json{{"namespace", p[1]}, {"key", p[2]}, {"deleted", *deleted}}.dump(2));
    } else {
      std::cout << (*deleted ? "deleted " : "not set: ") << p[1] << "/" << p[2] << "\n";
    }
    return *deleted ? kExitOk : kExitServerError;
  }
  return Usage(&ctx, sub.empty() ? "keystore needs a subcommand: set, get, list or delete"
                                 : absl::StrCat("keystore: unknown subcommand '", sub, "' (set, get, list, delete)"));
}

// ---- version, config ----

int Version(Ctx& ctx) {
  if (!ctx.table()) {
    PrintStructured(ctx, nlohmann::json{{"version", kVersion}, {"commit", GitCommit()}}.dump(2));
    return kExitOk;
  }
  std::cout << "tasker " << kVersion << " (commit " << GitCommit() << ")\n";
  return kExitOk;
}

int Config(Ctx& ctx) {
  const Settings& s = ctx.settings;
  nlohmann::json j{{"address", s.address},
                   {"addressFrom", s.address_source},
                   {"keystoreAddress", s.keystore_address},
                   {"keystoreAddressFrom", s.keystore_source},
                   {"token", s.token.empty() ? "none" : "set"},
                   {"tokenFrom", s.token_source.empty() ? "none" : s.token_source},
                   {"tlsCa", s.tls_ca},
                   {"tlsCert", s.tls_cert},
                   {"tlsKey", s.tls_key},
                   {"configFile", s.config_path.empty() ? "none" : s.config_path},
                   {"output", s.output},
                   {"timeout", absl::FormatDuration(s.timeout)}};
  if (!ctx.table()) {
    PrintStructured(ctx, j.dump(2));
    return kExitOk;
  }
  Table table({"SETTING", "VALUE", "FROM"});
  table.Add({"address", s.address, s.address_source});
  table.Add({"keystore", s.keystore_address, s.keystore_source});
  table.Add({"token", s.token.empty() ? "none" : "(set)", s.token_source.empty() ? "-" : s.token_source});
  table.Add({"tls", s.tls_ca.empty() ? "off" : absl::StrCat("ca ", s.tls_ca, s.tls_cert.empty() ? "" : ", client cert"),
             "-"});
  table.Add({"config file", s.config_path.empty() ? "none" : s.config_path, "-"});
  std::cout << table.Render(ctx.out);
  return kExitOk;
}

int Help(Ctx& ctx);
int Dev(Ctx&) { return 0; }  // dispatched before parsing (absl flags); here for help

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"publish", {}, "publish TASK FILE [--permissions=LIST] [--metadata=JSON]",
       "publish FILE as the next version of task TASK",
       "Publishes the JavaScript in FILE as the next immutable version of TASK (1, 2, 3, ...).\n"
       "--permissions says what its runs may reach (README, \"Security\"); without it a server in\n"
       "development mode grants everything, with a warning.\n\n"
       "Examples:\n"
       "  tasker publish hello tasks/hello.js\n"
       "  tasker publish gmail-search gmail-search.js --permissions='gapi:admin.users.list,gapi:gmail.*'\n"
       "  tasker publish report report.js --metadata='{\"description\":\"weekly report\"}'\n",
       {{"permissions", "LIST", "what the function may reach, comma-separated; repeatable"},
        {"metadata", "JSON", "the function's metadata, a JSON object"}},
       Publish},
      {"submit", {"run"}, "submit TASK [INPUT_JSON] [--wait] [--idempotency_key=KEY]",
       "submit a run of TASK; prints the run id at once",
       "Submits a run of the latest version of TASK (or --task_version) with INPUT_JSON (default null).\n"
       "The run id is printed first, at once. With --wait, follows the run until it ends, however long\n"
       "that takes (reconnecting when the connection drops), with a progress line on a terminal; the\n"
       "exit code is then the run's: 0 completed, 3 failed, 4 cancelled.\n\n"
       "Examples:\n"
       "  tasker submit hello '{\"name\":\"Ada\"}'\n"
       "  tasker submit hello '{\"name\":\"Ada\"}' --wait\n"
       "  id=$(tasker submit nightly -q)              # only the id\n"
       "  tasker submit nightly --input_file=input.json --idempotency_key=nightly-2026-12-03\n"
       "  tasker submit hello --wait -o json | jq .result\n",
       {{"wait", "", "follow the run until it ends; exit code from its status", 'w'},
        {"idempotency_key", "KEY", "the same key and input return the first run instead of a new one"},
        {"task_version", "N", "run this version (default: the latest)"},
        {"input_file", "FILE", "read INPUT_JSON from FILE ('-': stdin)"},
        {"quiet", "", "print only the run id", 'q'}},
       Submit},
      {"watch", {}, "watch RUN",
       "follow a run until it ends",
       "Follows RUN (an id or a run number) until it ends, however long that takes; a dropped\n"
       "connection (the executor restarting, a network blip) is retried with backoff and the run's\n"
       "state read again, so no change is missed. On a terminal a progress line shows the status,\n"
       "calls done, the call in flight and the time elapsed; off a terminal, one line per change.\n"
       "-o json prints every change as one JSON line (a RunEvent). Exit code: the run's.\n\n"
       "Examples:\n"
       "  tasker watch run_01JEXAMPLE\n"
       "  tasker watch 42 -o json | jq -c '.run.status'\n",
       {},
       Watch},
      {"logs", {}, "logs RUN [-f]", "what the run printed (console.*)",
       "Prints the lines RUN's code printed with console.log/info/warn/error. With -f, follows\n"
       "new lines until the run ends (exit code: the run's).\n\n"
       "Examples:\n"
       "  tasker logs run_01JEXAMPLE\n"
       "  tasker logs -f 42\n",
       {{"follow", "", "follow until the run ends", 'f'}},
       Logs},
      {"runs", {"ls"}, "runs [--status=S,...] [--task=TASK] [--since=DURATION] [--limit=N]",
       "list runs, newest first",
       "Lists runs, newest first: id, number, task and version, status, when created, duration.\n\n"
       "Examples:\n"
       "  tasker runs\n"
       "  tasker runs --status=failed,cancelled --since=24h\n"
       "  tasker runs --task=gmail-search --limit=100 -o json\n",
       {{"status", "LIST", "only these statuses: pending, running, suspended, completed, failed, cancelled"},
        {"task", "TASK", "only runs of this task"},
        {"since", "DURATION", "only runs created in the last DURATION (30m, 24h, 7d) or since an RFC 3339 time"},
        {"limit", "N", "at most N runs (default 20)", 'n'},
        {"page_token", "TOKEN", "continue a previous listing"}},
       Runs},
      {"describe", {"get", "show"}, "describe RUN", "a run and its stack-run tree",
       "Shows RUN (an id or a run number): task, status, times, input, result or error, and the\n"
       "tree of its stack runs: the root and each host call with its status, attempts and duration.\n"
       "-o json prints the whole GetRun answer (the run, its logs and every stack run).\n\n"
       "Examples:\n"
       "  tasker describe run_01JEXAMPLE\n"
       "  tasker describe 42 -o yaml\n",
       {},
       Describe},
      {"cancel", {}, "cancel RUN [REASON]", "cancel a run that has not ended",
       "Cancels RUN and every call of it not finished. A run that already ended: FAILED_PRECONDITION.\n\n"
       "Examples:\n"
       "  tasker cancel run_01JEXAMPLE 'no longer needed'\n",
       {{"reason", "TEXT", "why (also the second argument)"}},
       Cancel},
      {"functions", {"tasks"}, "functions [TASK]", "published tasks (latest versions), or every version of TASK",
       "Lists the latest version of every published task, or with TASK every version of it.\n\n"
       "Examples:\n"
       "  tasker functions\n"
       "  tasker functions -o json | jq -r '.functions[].identifier'\n",
       {{"limit", "N", "at most N (default 100)", 'n'}, {"page_token", "TOKEN", "continue a previous listing"}},
       Functions},
      {"versions", {}, "versions TASK", "every published version of TASK",
       "Lists every version of TASK: version, when published, code hash, permissions.\n\n"
       "Examples:\n"
       "  tasker versions gmail-search\n",
       {{"limit", "N", "at most N (default 100)", 'n'}, {"page_token", "TOKEN", "continue a previous listing"}},
       Versions},
      {"keystore", {}, "keystore set|get|list|delete ...", "credentials in the keystore (admin)",
       "Manages the keystore's credentials (the keystore service: --keystore, TASKER_KEYSTORE_ADDRESS or\n"
       "the config's keystore_address; default the address's host, port 50053; the admin role).\n"
       "Values are never printed unless asked with --reveal, and `set` reads the value from stdin or\n"
       "a file so it stays out of shell history (on a terminal it asks without echo).\n\n"
       "  keystore set NAMESPACE KEY [--from_file=FILE | --value=VALUE]   (default: stdin; one\n"
       "                                         trailing newline of stdin dropped)\n"
       "  keystore get NAMESPACE KEY [--reveal]  whether it is set, its size and age; --reveal: the value\n"
       "  keystore list [NAMESPACE]              namespaces, or the keys of one (never values)\n"
       "  keystore delete NAMESPACE KEY          exit code 1 when it was not set\n\n"
       "Examples:\n"
       "  tasker keystore set global slack_token < token.txt\n"
       "  pass show slack | tasker keystore set global slack_token\n"
       "  tasker keystore get global slack_token --reveal | wc -c\n"
       "  tasker keystore list global\n",
       {{"value", "VALUE", "set: the value (visible in shell history and ps: prefer stdin)"},
        {"from_file", "FILE", "set: read the value from FILE, byte for byte"},
        {"reveal", "", "get: print the value"}},
       Keystore},
      {"version", {}, "version", "the CLI's version and git commit",
       "Prints the CLI's version and the git commit it was built from (\"unknown\" when the build\n"
       "was not stamped: bazel build --workspace_status_command=services/cli/workspace_status.sh).\n",
       {},
       Version,
       false},
      {"config", {}, "config", "where the address, token and TLS come from",
       "Shows the settings in effect and where each came from. Precedence: flag > environment >\n"
       "config file > default.\n\n"
       "  setting     flag                environment                config file key\n"
       "  address     --address/--target  TASKER_ADDRESS             address\n"
       "  keystore    --keystore          TASKER_KEYSTORE_ADDRESS    keystore_address\n"
       "  token       --token_file        TASKER_TOKEN, TASKER_TOKEN_FILE   token or token_file\n"
       "  TLS         --tls_ca/cert/key   TASKER_TLS_CA/CERT/KEY     tls: {ca, cert, key, server_name}\n"
       "  output      -o/--output         TASKER_OUTPUT              output\n"
       "  timeout     --timeout           TASKER_TIMEOUT             timeout\n\n"
       "The config file: --config, else $TASKER_CONFIG, else ~/.config/tasker/config.yaml (or\n"
       "config.json; $XDG_CONFIG_HOME if set). Relative paths in it are relative to the file:\n\n"
       "  # ~/.config/tasker/config.yaml\n"
       "  address: tasker.example.com:443\n"
       "  token_file: token            # ~/.config/tasker/token\n"
       "  tls:\n"
       "    ca: ca.crt\n"
       "    cert: client.crt\n"
       "    key: client.key\n",
       {},
       Config,
       false},
      {"dev", {}, "dev [--port=3000] [--host=127.0.0.1] [--tasks=./tasks] [--verbose]",
       "the development server: every service on this machine, tasks/ republished on change",
       "Runs the whole platform on this machine (storage on SQLite, keystore, proxy, processor, executor\n"
       "with the HTTP API and the web UI), publishes every task of the tasks folder and republishes a\n"
       "task within a second of its file changing (docs/dev-server.md). Ctrl-C stops everything.\n\n"
       "Flags:\n"
       "  --port=N             the HTTP API and web UI (default: env PORT, else 3000; 0: any free port)\n"
       "  --host=ADDR          where they listen (default 127.0.0.1)\n"
       "  --tasks=DIR          the tasks folder (default ./tasks)\n"
       "  --grpc_port=N        the TaskService (default 50052)\n"
       "  --services_config=F  the proxy's services config (default tasks/services.json if present)\n"
       "  --grace=DURATION     how long services get to stop (default 10s)\n"
       "  --verbose            every service's log lines\n\n"
       "Examples:\n"
       "  tasker dev\n"
       "  tasker dev --port=8080 --tasks=my-tasks\n",
       {},
       Dev,
       false},
      {"help", {}, "help [COMMAND]", "help on a command", "Shows the commands, or help on one.\n", {}, Help, false},
  };
  return *commands;
}

const Command* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
    for (const auto& a : c.aliases) {
      if (a == name) return &c;
    }
  }
  return nullptr;
}

std::string FlagLine(const FlagSpec& f) {
  std::string left = f.short_name ? absl::StrCat("-", std::string(1, f.short_name), ", ") : "    ";
  absl::StrAppend(&left, "--", f.name, f.value_name.empty() ? "" : "=" + f.value_name);
  if (left.size() < 28) left.resize(28, ' ');
  return absl::StrCat("  ", left, " ", f.help, "\n");
}

std::string MainHelp() {
  std::string out =
      "tasker: the command line of Tasker, the durable task platform.\n\n"
      "Usage: tasker [FLAGS] COMMAND [ARGS]    (flags may also follow the command)\n\n"
      "Commands:\n";
  for (const auto& c : Commands()) {
    std::string name = c.name;
    name.resize(12, ' ');
    absl::StrAppend(&out, "  ", name, c.summary, "\n");
  }
  absl::StrAppend(&out, "\nFlags (every command):\n");
  for (const auto& f : GlobalFlags()) absl::StrAppend(&out, FlagLine(f));
  absl::StrAppend(&out,
                  "\nWhere Tasker is: --address, else TASKER_ADDRESS, else the config file\n"
                  "(~/.config/tasker/config.yaml: address, token_file, tls), else 127.0.0.1:50052.\n"
                  "The token: TASKER_TOKEN, --token_file or the config file. See 'tasker help config'.\n\n",
                  kExitCodesHelp,
                  "\nExamples:\n"
                  "  export TASKER_ADDRESS=tasker.internal:50052\n"
                  "  tasker publish hello hello.js\n"
                  "  tasker submit hello '{\"name\":\"Ada\"}' --wait\n"
                  "  tasker runs --status=failed --since=1h\n"
                  "  tasker describe 42\n\n"
                  "Run 'tasker help COMMAND' (or 'tasker COMMAND --help') for a command's flags and examples.\n"
                  "Docs: docs/cli.md.\n");
  return out;
}

std::string CommandHelp(const Command& c) {
  std::string out = absl::StrCat("Usage: tasker ", c.usage, "\n\n", c.summary, ".\n\n", c.help);
  if (!c.aliases.empty()) absl::StrAppend(&out, "\nAliases: ", absl::StrJoin(c.aliases, ", "), "\n");
  if (!c.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    for (const auto& f : c.flags) absl::StrAppend(&out, FlagLine(f));
  }
  if (c.name != "dev" && c.name != "help") {
    absl::StrAppend(&out, "\nGlobal flags: --address, --keystore, --config, --token_file, --tls_ca, --tls_cert, "
                          "--tls_key,\n  -o/--output=table|json|yaml, --color, --no_color, --timeout "
                          "(tasker --help).\n\n",
                    kExitCodesHelp);
  }
  return out;
}

int Help(Ctx& ctx) {
  if (ctx.nargs() == 0) {
    std::cout << MainHelp();
    return kExitOk;
  }
  if (ctx.arg(0) == "exit-codes") {
    std::cout << kExitCodesHelp;
    return kExitOk;
  }
  const Command* c = FindCommand(ctx.arg(0));
  if (!c) return Usage(nullptr, absl::StrCat("help: unknown command '", ctx.arg(0), "'"));
  std::cout << CommandHelp(*c);
  return kExitOk;
}

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

// The first argument that is not a flag (or a flag's value): the command.
std::string CommandName(const std::vector<std::string>& args) {
  std::vector<FlagSpec> all = GlobalFlags();
  for (const auto& c : Commands()) all.insert(all.end(), c.flags.begin(), c.flags.end());
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") return i + 1 < args.size() ? args[i + 1] : "";
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string::npos) continue;
      std::string name = a[1] == '-' ? a.substr(2) : "";
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      for (const auto& f : all) {
        const bool match = a[1] == '-' ? f.name == name : (a.size() == 2 && f.short_name == a[1]);
        if (match && !f.value_name.empty()) {
          ++i;  // its value
          break;
        }
      }
      continue;
    }
    return a;
  }
  return "";
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::string name = CommandName(args);

  if (name == "dev") {
    for (const auto& a : args) {
      if (a == "-h" || a == "--help" || a == "-help") {
        std::cout << CommandHelp(*FindCommand("dev"));
        return kExitOk;
      }
    }
    // dev's own flags are absl flags (dev.cc).
    absl::ParseCommandLine(argc, argv);
    return RunDev(argv[0]);
  }

  const Command* command = name.empty() ? nullptr : FindCommand(name);
  std::vector<FlagSpec> known = GlobalFlags();
  if (command) known.insert(known.end(), command->flags.begin(), command->flags.end());
  Ctx ctx;
  ctx.command = command;
  auto parsed = ParseArgs(args, known);
  // Help wins over any other problem on the line.
  for (const auto& a : args) {
    if (a == "-h" || a == "--help" || a == "-help") {
      std::cout << (command ? CommandHelp(*command) : MainHelp());
      return kExitOk;
    }
    if (a == "--") break;
  }
  if (!parsed.ok()) return Usage(command ? &ctx : nullptr, std::string(parsed.status().message()));
  ctx.args = std::move(*parsed);
  if (ctx.args.Bool("version")) command = FindCommand("version");
  if (!command) {
    if (name.empty()) {
      std::cerr << MainHelp();
      return kExitUsage;
    }
    return Usage(nullptr, absl::StrCat("unknown command '", name, "'"));
  }
  ctx.command = command;
  // The command word itself is not an argument.
  if (!ctx.args.positional.empty() && !ctx.args.Bool("version")) ctx.args.positional.erase(ctx.args.positional.begin());
  if (ctx.args.Bool("version")) ctx.args.positional.clear();

  auto settings = ResolveSettings(ctx.args, GetEnv);
  if (!settings.ok()) return Usage(nullptr, std::string(settings.status().message()));
  ctx.settings = *settings;
  ctx.out = Style(ctx.settings.color, stdout);
  ctx.err = Style(ctx.settings.color, stderr);
  if (command->needs_client) {
    Connection connection{.address = ctx.settings.address,
                          .keystore_address = ctx.settings.keystore_address,
                          .token = ctx.settings.token,
                          .timeout = ctx.settings.timeout};
    auto read = [&](const std::string& path, const char* what, std::string* out) -> bool {
      if (path.empty()) return true;
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in || text.str().empty()) {
        Usage(nullptr, absl::StrCat(what, ": cannot read ", path));
        return false;
      }
      *out = text.str();
      return true;
    };
    if (!read(ctx.settings.tls_ca, "--tls_ca", &connection.tls.ca) ||
        !read(ctx.settings.tls_cert, "--tls_cert", &connection.tls.cert_chain) ||
        !read(ctx.settings.tls_key, "--tls_key", &connection.tls.private_key)) {
      return kExitUsage;
    }
    connection.tls.server_name = ctx.settings.tls_server_name;
    auto client = Client::Connect(connection);
    if (!client.ok()) return Usage(nullptr, absl::StrCat("--address: ", client.status().message()));
    ctx.client = std::move(*client);
  }
  return command->run(ctx);
}

}  // namespace
}  // namespace tasker::cli

int main(int argc, char** argv) { return tasker::cli::Main(argc, argv); }
