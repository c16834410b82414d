// Warm-run memory benchmark: N runs (10,000 by default) started on one
// executor, each suspended on a call held open by a fake processor, under a
// small warm budget. Reports the live worker's resident memory, how many
// runs stayed warm, the eviction rate, and the time to finish them all once
// the calls are released (each evicted run restored from its checkpoint).
//
//   bazel build -c opt //services/executor:warm_bench
//   (cd bazel-bin/services/executor/warm_bench.runfiles/tasker && ../../warm_bench)
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/json.h"
#include "runtime/js/worker_host.h"
#include "services/executor/executor.h"
#include "services/executor/fake_processor.h"
#include "storage/open_store.h"
#include "tests/support/process.h"

ABSL_FLAG(int, runs, 10000, "Suspended runs.");
ABSL_FLAG(int64_t, warm_memory_mb, 64, "The executor's warm budget, MiB.");

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

int Main() {
  const int runs = absl::GetFlag(FLAGS_runs);
  const int64_t budget = absl::GetFlag(FLAGS_warm_memory_mb) << 20;
  const std::string dir = tasker::testing::MakeTempDir("warm-bench");
  auto store = storage::OpenStore(absl::StrCat("sqlite://", dir, "/t.db"));
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::atomic<Executor*> slot{nullptr};
  auto host = js::WorkerHost::Create({.worker_path = tasker::testing::Runfile("runtime/js/tasker-js-worker"), .workers = 2},
                                     [&slot](int worker, const std::string&) {
                                       if (Executor* e = slot.load()) e->WorkerLost(worker);
                                     });
  if (!host.ok()) {
    std::fprintf(stderr, "%s\n", host.status().ToString().c_str());
    return 1;
  }
  FakeProcessor processor(store->get());
  ExecutorConfig config;
  config.owner = "warm-bench";
  config.reply_to = "A";
  config.threads = 4;
  config.warm_memory_bytes = budget;
  config.checkpoint_every_steps = 0;
  config.checkpoint_interval = absl::ZeroDuration();
  config.lease = absl::Minutes(10);
  config.renew_interval = absl::Minutes(1);
  config.sweep_interval = absl::Seconds(1);
  Executor executor(ExecutorStores::Of(store->get()), host->get(), &processor, config);
  slot = &executor;
  processor.route = [&executor](const std::string&) { return &executor; };
  executor.Start();
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t idle = (*host)->ResidentBytes();

  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("t");
  publish.set_code("const a = await __callHostTool__('admin-debug', 'echo', {k: input.k}); return a.echo.k;");
  if (!(*store)->PublishTaskFunction(publish).ok()) return 1;
  processor.Hold(true);
  std::vector<std::string> ids;
  const absl::Time start = absl::Now();
  for (int i = 0; i < runs; ++i) {
    v1::SubmitTaskRunRequest submit;
    submit.set_task_identifier("t");
    submit.set_input_json(absl::StrCat(R"({"k":)", i, "}"));
    auto submitted = (*store)->SubmitRun(submit);
    if (!submitted.ok()) return 1;
    ids.push_back(submitted->run().id());
    executor.Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted->root().id());
  }
  if (!WaitFor([&] { return processor.held() == runs; }, absl::Minutes(30))) {
    std::fprintf(stderr, "only %d of %d runs suspended\n", processor.held(), runs);
    return 1;
  }
  WaitFor([&] { return executor.warm_bytes() <= budget; }, absl::Seconds(60));
  const double suspend_s = absl::ToDoubleSeconds(absl::Now() - start);
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t rss = (*host)->ResidentBytes();
  const int warm = executor.warm();
  const int64_t evicted = executor.counters().evicted;
  const absl::Time released = absl::Now();
  processor.Hold(false);
  v1::GetTaskRunRequest get;
  for (const auto& id : ids) {
    get.set_id(id);
    if (!WaitFor([&] { return (*store)->GetTaskRun(get)->status() == v1::RUN_STATUS_COMPLETED; }, absl::Minutes(30))) {
      std::fprintf(stderr, "run %s did not complete\n", id.c_str());
      return 1;
    }
  }
  const double finish_s = absl::ToDoubleSeconds(absl::Now() - released);
  auto [p50, p99] = executor.RebuildPercentiles();
  std::printf("%d suspended runs on one executor, warm budget %lld MiB: %d stayed warm, %lld evicted "
              "(%.0f evictions/s while starting them, %.1f s to suspend all); live worker RSS %.1f MiB "
              "(idle %.1f MiB); all finished %.1f s after release (%.0f restores/s, restore p50 %.2f ms p99 %.2f ms)\n",
              runs, static_cast<long long>(budget >> 20), warm, static_cast<long long>(evicted), evicted / suspend_s,
              suspend_s, rss / 1048576.0, idle / 1048576.0, finish_s, executor.counters().rebuilt / finish_s, p50, p99);
  std::printf("BENCH_WARM {\"runs\": %d, \"warm_budget_mb\": %lld, \"warm\": %d, \"evicted\": %lld, "
              "\"evictions_per_s\": %.0f, \"worker_rss_mb\": %.1f, \"worker_idle_rss_mb\": %.1f, "
              "\"finish_all_s\": %.1f, \"restore_p50_ms\": %.2f}\n",
              runs, static_cast<long long>(budget >> 20), warm, static_cast<long long>(evicted), evicted / suspend_s,
              rss / 1048576.0, idle / 1048576.0, finish_s, p50);
  executor.Stop();
  return 0;
}

}  // namespace
}  // namespace tasker::services

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tasker::services::Main();
}
