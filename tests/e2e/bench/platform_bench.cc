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
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "proto/tasker/v1/executor.grpc.pb.h"
#include "runtime/client/channel.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

ABSL_FLAG(int, runs, 64, "Concurrent runs.");
ABSL_FLAG(int, calls, 10, "Sequential host calls per run.");
ABSL_FLAG(std::string, backends, "sqlite,postgres", "Backends to measure.");
ABSL_FLAG(std::string, sqlite_synchronous, "full", "SQLite durability: full (fsync per commit) or normal.");
ABSL_FLAG(int, cold_runs, 12, "Runs whose every call finds them evicted (cold resume measurement).");

namespace tasker::e2e {
namespace {

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
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
  )");
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
  auto channel = MakeChannel({.target = (*stack)->executor_target()});
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
  )");
  if (!published.ok()) return Fail(published.status());
  // Warm up (JS workers, connections).
  auto warm = (*stack)->Submit("bench", R"({"calls":2})");
  if (!warm.ok()) return Fail(warm.status());
  if (auto done = Completed((*stack)->Wait(*warm, absl::Seconds(60))); !done.ok()) return Fail(done);

  const int runs = absl::GetFlag(FLAGS_runs);
  // 1) Overhead: one run at a time, so nothing queues behind it.
  std::vector<double> overhead;
  for (int r = 0; r < 20; ++r) {
    auto id = (*stack)->Submit("bench", absl::StrCat(R"({"calls":)", calls, "}"));
    if (!id.ok()) return Fail(id.status());
    auto run = (*stack)->Wait(*id, absl::Seconds(120));
    if (auto done = Completed(run); !done.ok()) return Fail(done);
    for (const auto& v : run->result().list_value().values()) overhead.push_back(v.number_value());
  }
  // 2) Throughput: `runs` runs at once.
  const absl::Time start = absl::Now();
  std::vector<std::string> ids;
  for (int r = 0; r < runs; ++r) {
    auto id = (*stack)->Submit("bench", absl::StrCat(R"({"calls":)", calls, "}"));
    if (!id.ok()) return Fail(id.status());
    ids.push_back(*id);
  }
  std::vector<double> loaded;
  for (const auto& id : ids) {
    auto run = (*stack)->Wait(id, absl::Seconds(600));
    if (auto done = Completed(run); !done.ok()) return Fail(done);
    for (const auto& v : run->result().list_value().values()) loaded.push_back(v.number_value());
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double steps = static_cast<double>(runs) * (calls + 1);  // start + one step per result
  stack->reset();
  auto cold = ColdResume(options);
  if (!cold.ok()) return Fail(cold.status());
  const std::string label =
      backend == "sqlite" ? absl::StrCat("sqlite (synchronous=", absl::GetFlag(FLAGS_sqlite_synchronous), ")") : backend;
  std::printf("%-28s per-call overhead (1 run)  p50 %6.2f ms  p99 %6.2f ms\n", label.c_str(), Pct(overhead, 0.5),
              Pct(overhead, 0.99));
  std::printf("%-28s %d concurrent runs x %d calls: %.0f host calls/s (%.0f steps/s), call latency p50 %.1f ms p99 %.1f ms\n",
              label.c_str(), runs, calls, runs * calls / seconds, steps / seconds, Pct(loaded, 0.5), Pct(loaded, 0.99));
  std::printf("%-28s cold resume (restore of an evicted run from its checkpoint): p50 %.2f ms p99 %.2f ms\n",
              label.c_str(), cold->first, cold->second);
  std::printf("BENCH {\"backend\": \"%s\", \"synchronous\": \"%s\", \"call_p50_ms\": %.2f, \"call_p99_ms\": %.2f, "
              "\"calls_per_s\": %.0f, \"steps_per_s\": %.0f, \"cold_resume_p50_ms\": %.2f}\n",
              backend.c_str(), backend == "sqlite" ? absl::GetFlag(FLAGS_sqlite_synchronous).c_str() : "fsync",
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
