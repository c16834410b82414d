// Platform benchmark: per-call overhead of a host call (a zero-latency
// admin-debug echo, timed inside the task from the call leaving JavaScript
// to its result arriving back) and host-call steps per second with 64
// concurrent runs, on SQLite and on Postgres, with every service a real
// process.
//
//   bazel build //tests/e2e/bench:platform_bench && bazel-bin/tests/e2e/bench/platform_bench
#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "tests/e2e/stack.h"
#include "tests/support/postgres.h"

ABSL_FLAG(int, runs, 64, "Concurrent runs.");
ABSL_FLAG(int, calls, 10, "Sequential host calls per run.");
ABSL_FLAG(std::string, backends, "sqlite,postgres", "Backends to measure.");

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
  for (int r = 0; r < 5; ++r) {
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
  const double steps = static_cast<double>(runs) * (calls + 1);  // start + one resume per call
  std::printf("%-9s per-call overhead (1 run)  p50 %6.1f ms  p99 %6.1f ms\n", backend.c_str(), Pct(overhead, 0.5),
              Pct(overhead, 0.99));
  std::printf("%-9s %d concurrent runs x %d calls: %.1f steps/s (%.0f host calls/s), call latency p50 %.1f ms p99 %.1f ms\n",
              backend.c_str(), runs, calls, steps / seconds, runs * calls / seconds, Pct(loaded, 0.5),
              Pct(loaded, 0.99));
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
