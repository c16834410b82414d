// Platform benchmark: per-call overhead of a host call (a zero-latency
// admin-debug echo, timed inside the task from the call leaving JavaScript
// to its result arriving back), host calls and steps per second with 64
// concurrent runs x 10 calls, and the cold resume of an evicted run (restore
// from its checkpoint to running), on SQLite and on Postgres, with every
// service a real process. One line per backend:
//
//   BENCH {"backend": "sqlite", "call_p50_ms": ..., "call_p99_ms": ..., "calls_per_s": ...,
//          "steps_per_s": ..., "cold_resume_p50_ms": ...}
//
//   bazel build //tests/e2e/bench:platform_bench && bazel-bin/tests/e2e/bench/platform_bench
#include <algorithm>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "tasker/v1/executor.grpc.pb.h"
#include "runtime/client/channel.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

ABSL_FLAG(int, runs, 64, "Concurrent runs.");
ABSL_FLAG(int, calls, 10, "Sequential host calls per run.");
ABSL_FLAG(std::string, backends, "sqlite,postgres", "Backends to measure.");
ABSL_FLAG(std::string, security, "insecure",
          "insecure (--insecure_dev), credentials (a token per service, checked on every call) or mtls "
          "(credentials plus mutual TLS on every channel).");
ABSL_FLAG(std::string, sqlite_synchronous, "full", "SQLite durability: full (fsync per commit) or normal.");
ABSL_FLAG(std::vector<std::string>, executor_args, {}, "Extra executor flags (comma-separated).");
ABSL_FLAG(std::vector<std::string>, processor_args, {}, "Extra processor flags (comma-separated).");
ABSL_FLAG(int, overhead_runs, 20, "Runs measured one at a time for the per-call overhead.");
ABSL_FLAG(int, cold_runs, 12, "Runs whose every call finds them evicted (cold resume measurement).");

namespace tasker::e2e {
namespace {

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// CPU time (user + system, ms) of this process's descendants by program
// name (storage-service, task-executor, tasker-js-worker, ...), from /proc.
std::map<std::string, double> DescendantCpuMs() {
  struct Proc {
    int ppid = 0;
    std::string name;
    double cpu_ms = 0;
  };
  std::map<int, Proc> procs;
  const double tick_ms = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    if (fields.size() < 13) continue;
    Proc p;
    p.name = stat.substr(open + 1, close - open - 1);
    long utime = 0, stime = 0;
    (void)absl::SimpleAtoi(fields[1], &p.ppid);
    (void)absl::SimpleAtoi(fields[11], &utime);
    (void)absl::SimpleAtoi(fields[12], &stime);
    p.cpu_ms = static_cast<double>(utime + stime) * tick_ms;
    procs[pid] = p;
  }
  std::map<std::string, double> by_name;
  const int self = getpid();
  for (const auto& [pid, p] : procs) {
    bool descendant = false;
    for (int up = p.ppid, hops = 0; up > 1 && hops < 8; ++hops) {
      if (up == self) {
        descendant = true;
        break;
      }
      auto it = procs.find(up);
      if (it == procs.end()) break;
      up = it->second.ppid;
    }
    if (descendant) by_name[p.name] += p.cpu_ms;
  }
  return by_name;
}

// Reports why a measurement stopped; the exit code for it.
int Fail(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return 1;
}

// OK for a completed run, otherwise why it is not one.
absl::Status Completed(const absl::StatusOr<tasker::v1::TaskRun>& run) {
  if (!run.ok()) return run.status();
  if (run->status() == tasker::v1::RUN_STATUS_COMPLETED) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("run ", run->id(), " ended ", tasker::v1::RunStatus_Name(run->status()),
                                          ": ", run->error().message()));
}

// Cold resume: every run is evicted (a 1 MiB warm budget) while its call
// (a 300 ms sleep) is out, so each result restores it from its checkpoint.
// The executor's own timing of those restores.
absl::StatusOr<std::pair<double, double>> ColdResume(StackOptions options) {
  options.executor_args.push_back("--warm_memory_mb=1");
  auto stack = Stack::Start(options);
  if (!stack.ok()) return stack.status();
  auto published = (*stack)->Publish("cold", R"(
    for (let i = 0; i < 3; i++) await __callHostTool__('admin-debug', 'sleep', {ms: 300});
    return 'ok';
  )", R"({"permissions":["admin-debug:sleep"]})");
  if (!published.ok()) return published.status();
  std::vector<std::string> ids;
  for (int r = 0; r < absl::GetFlag(FLAGS_cold_runs); ++r) {
    auto id = (*stack)->Submit("cold", "{}");
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  for (const auto& id : ids) {
    if (auto done = Completed((*stack)->Wait(id, absl::Seconds(300))); !done.ok()) return done;
  }
  // The executor's stats are an operator's (role admin) to read.
  auto channel = MakeChannel((*stack)->ClientFor((*stack)->executor_target(), "admin"));
  if (!channel.ok()) return channel.status();
  auto stub = tasker::v1::Executor::NewStub(*channel);
  auto context = MakeContext(absl::Seconds(10));
  tasker::v1::ExecutorStats stats;
  grpc::Status status = stub->GetExecutorStats(context.get(), {}, &stats);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  if (stats.evicted() == 0 || stats.rebuilt() == 0) {
    return absl::InternalError(absl::StrCat("no run was evicted and restored: ", stats.ShortDebugString()));
  }
  return std::make_pair(stats.rebuild_p50_ms(), stats.rebuild_p99_ms());
}

int Measure(const std::string& backend) {
  StackOptions options;
  const std::string security = absl::GetFlag(FLAGS_security);
  if (security != "insecure" && security != "credentials" && security != "mtls") {
    return Fail(absl::InvalidArgumentError("--security: insecure, credentials or mtls"));
  }
  options.secure = security != "insecure";
  options.mtls = security == "mtls";
  options.executor_args = absl::GetFlag(FLAGS_executor_args);
  options.processor_args = absl::GetFlag(FLAGS_processor_args);
  std::unique_ptr<testing::PostgresServer> pg;
  if (backend == "postgres") {
    auto started = testing::PostgresServer::Start({.fsync = true});
    if (!started.ok()) return Fail(started.status());
    pg = std::move(*started);
    auto url = pg->CreateDatabase("bench");
    if (!url.ok()) return Fail(url.status());
    options.database_url = *url;
  } else {
    options.sqlite_synchronous = absl::GetFlag(FLAGS_sqlite_synchronous);
  }
  auto stack = Stack::Start(options);
  if (!stack.ok()) return Fail(stack.status());
  const int calls = absl::GetFlag(FLAGS_calls);
  auto published = (*stack)->Publish("bench", R"(
    const gaps = [];
    for (let i = 0; i < input.calls; i++) {
      const t0 = Date.now();
      await __callHostTool__('admin-debug', 'echo', {i});
      gaps.push(Date.now() - t0);
    }
    return gaps;
  )", R"({"permissions":["admin-debug:echo"]})");
  if (!published.ok()) return Fail(published.status());
  // Warm up (JS workers, connections).
  auto warm = (*stack)->Submit("bench", R"({"calls":2})");
  if (!warm.ok()) return Fail(warm.status());
  if (auto done = Completed((*stack)->Wait(*warm, absl::Seconds(60))); !done.ok()) return Fail(done);

  const int runs = absl::GetFlag(FLAGS_runs);
  // 1) Overhead: one run at a time, so nothing queues behind it.
  std::vector<double> overhead;
  for (int r = 0; r < absl::GetFlag(FLAGS_overhead_runs); ++r) {
    auto id = (*stack)->Submit("bench", absl::StrCat(R"({"calls":)", calls, "}"));
    if (!id.ok()) return Fail(id.status());
    auto run = (*stack)->Wait(*id, absl::Seconds(120));
    if (auto done = Completed(run); !done.ok()) return Fail(done);
    for (const auto& v : nlohmann::json::parse(run->result_json())) overhead.push_back(v.get<double>());
  }
  // 2) Throughput: `runs` runs submitted at once, each followed to its end
  //    with WatchRun (as the peers' drivers start runs concurrently and
  //    await each result); wall time from the first submit to the last result.
  std::vector<absl::StatusOr<tasker::v1::TaskRun>> finished(runs, absl::UnknownError("not run"));
  const auto cpu_before = DescendantCpuMs();
  const absl::Time start = absl::Now();
  {
    std::vector<std::thread> clients;
    for (int r = 0; r < runs; ++r) {
      clients.emplace_back([&, r] {
        auto id = (*stack)->Submit("bench", absl::StrCat(R"({"calls":)", calls, "}"));
        finished[r] = id.ok() ? (*stack)->Watch(*id, absl::Seconds(600)) : id.status();
      });
    }
    for (auto& t : clients) t.join();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::string cpu_line;
  double cpu_total = 0;
  for (const auto& [name, ms] : DescendantCpuMs()) {
    auto it = cpu_before.find(name);
    const double used = ms - (it == cpu_before.end() ? 0 : it->second);
    cpu_total += used;
    absl::StrAppend(&cpu_line, " ", name, " ", absl::StrFormat("%.0f", 1000 * used / (runs * calls)));
  }
  std::vector<double> loaded;
  for (const auto& run : finished) {
    if (auto done = Completed(run); !done.ok()) return Fail(done);
    for (const auto& v : nlohmann::json::parse(run->result_json())) loaded.push_back(v.get<double>());
  }
  const double steps = static_cast<double>(runs) * (calls + 1);  // start + one step per result
  stack->reset();
  auto cold = ColdResume(options);
  if (!cold.ok()) return Fail(cold.status());
  std::string label =
      backend == "sqlite" ? absl::StrCat("sqlite (synchronous=", absl::GetFlag(FLAGS_sqlite_synchronous), ")") : backend;
  if (security != "insecure") absl::StrAppend(&label, " ", security);
  std::printf("%-28s per-call overhead (1 run)  p50 %6.2f ms  p99 %6.2f ms\n", label.c_str(), Pct(overhead, 0.5),
              Pct(overhead, 0.99));
  std::printf("%-28s %d concurrent runs x %d calls: %.0f host calls/s (%.0f steps/s), call latency p50 %.1f ms p99 %.1f ms\n",
              label.c_str(), runs, calls, runs * calls / seconds, steps / seconds, Pct(loaded, 0.5), Pct(loaded, 0.99));
  std::printf("%-28s CPU per host call in the 64-run phase, us: total %.0f (%.2f cores);%s\n", label.c_str(),
              1000 * cpu_total / (runs * calls), cpu_total / 1000 / seconds, cpu_line.c_str());
  std::printf("%-28s cold resume (restore of an evicted run from its checkpoint): p50 %.2f ms p99 %.2f ms\n",
              label.c_str(), cold->first, cold->second);
  std::printf("BENCH {\"backend\": \"%s\", \"synchronous\": \"%s\", \"security\": \"%s\", \"call_p50_ms\": %.2f, "
              "\"call_p99_ms\": %.2f, \"calls_per_s\": %.0f, \"steps_per_s\": %.0f, \"cold_resume_p50_ms\": %.2f}\n",
              backend.c_str(), backend == "sqlite" ? absl::GetFlag(FLAGS_sqlite_synchronous).c_str() : "fsync",
              security.c_str(),
              Pct(overhead, 0.5), Pct(overhead, 0.99), runs * calls / seconds, steps / seconds, cold->first);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace tasker::e2e

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  for (const std::string backend : {"sqlite", "postgres"}) {
    if (absl::GetFlag(FLAGS_backends).find(backend) == std::string::npos) continue;
    if (int rc = tasker::e2e::Measure(backend); rc != 0) return rc;
  }
  return 0;
}
