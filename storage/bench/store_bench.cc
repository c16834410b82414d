// Storage benchmark: full warm-run lifecycles (submit, claim root, record a
// call with the journal's first step, claim the call, complete it, checkpoint
// with a 64 KB snapshot and the step that delivered the result, complete the
// run: seven state transitions) against SQLite (synchronous=FULL unless
// --sqlite_synchronous=normal) and a real Postgres (fsync on), at the Store
// level and through the Storage gRPC service on loopback, with 1 and 8 client
// threads. Prints per-operation p50/p99 and transitions/s.
//
//   bazel run -c opt //storage/bench:store_bench -- --lifecycles=300
#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/server/server.h"
#include "storage/remote/remote_store.h"
#include "services/storage/storage_service.h"
#include "storage/open_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

ABSL_FLAG(int, lifecycles, 300, "Run lifecycles per configuration (split across threads).");
ABSL_FLAG(std::string, backends, "sqlite,postgres", "Backends to measure.");
ABSL_FLAG(std::string, sqlite_synchronous, "full", "SQLite's synchronous setting: full or normal.");

namespace tasker::storage {
namespace {

enum Op { kSubmit, kClaimRoot, kRecordCalls, kClaimCall, kCompleteCall, kCheckpoint, kCompleteRun, kOps };
const char* kOpNames[] = {"submit", "claim", "record-calls", "claim-call", "complete-call", "checkpoint64k",
                          "complete-run"};

struct Samples {
  std::vector<double> micros[kOps];
  void Merge(const Samples& other) {
    for (int i = 0; i < kOps; ++i) micros[i].insert(micros[i].end(), other.micros[i].begin(), other.micros[i].end());
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

#define TIMED(op, expr)                                                        \
  [&] {                                                                         \
    absl::Time t0 = absl::Now();                                                \
    auto r = (expr);                                                            \
    samples->micros[op].push_back(absl::ToDoubleMicroseconds(absl::Now() - t0)); \
    if (!r.ok()) {                                                              \
      std::fprintf(stderr, "%s failed: %s\n", kOpNames[op], r.status().ToString().c_str()); \
      std::abort();                                                             \
    }                                                                           \
    return std::move(r).value();                                                \
  }()

void Lifecycle(Store* store, const std::string& owner, const std::string& blob, Samples* samples) {
  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier("bench");
  submit.set_input_json(R"("input")");
  auto submitted = TIMED(kSubmit, store->SubmitRun(submit));
  v1::ClaimWorkRequest claim;
  claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
  claim.set_owner(owner);
  claim.set_lease_ms(30000);
  claim.set_stack_run_id(submitted.root().id());
  auto root = TIMED(kClaimRoot, store->ClaimWork(claim));
  v1::RecordCallsRequest record;
  record.set_root_stack_run_id(root.stack_run().id());
  record.set_fencing_token(root.lease().fencing_token());
  auto* start = record.add_steps();
  start->set_seq(0);
  start->set_clock_ms(absl::ToUnixMillis(absl::Now()));
  start->set_random_seed(0x9e3779b97f4a7c15ull);
  auto* call = record.add_calls();
  call->set_index(1);
  call->set_step(0);
  call->set_call_id("c1");
  call->set_service("admin-debug");
  call->set_method("echo");
  auto recorded = TIMED(kRecordCalls, store->RecordCalls(record));
  claim.set_kind(v1::WORK_KIND_PERFORM_CALL);
  claim.set_stack_run_id(recorded.calls(0).id());
  auto held = TIMED(kClaimCall, store->ClaimWork(claim));
  v1::CompleteCallRequest complete;
  complete.set_stack_run_id(held.stack_run().id());
  complete.set_fencing_token(held.lease().fencing_token());
  complete.set_result_json("42");
  TIMED(kCompleteCall, store->CompleteCall(complete));
  // Off the hot path: the snapshot, and the step in which the task saw c1.
  v1::PutCheckpointRequest checkpoint;
  checkpoint.set_root_stack_run_id(root.stack_run().id());
  checkpoint.set_fencing_token(root.lease().fencing_token());
  auto* delivered = checkpoint.add_steps();
  delivered->set_seq(1);
  delivered->set_trigger_call_id("c1");
  delivered->set_clock_ms(absl::ToUnixMillis(absl::Now()));
  checkpoint.mutable_checkpoint()->set_data(blob);
  checkpoint.mutable_checkpoint()->set_format_version(1);
  checkpoint.mutable_checkpoint()->set_step(2);
  TIMED(kCheckpoint, store->PutCheckpoint(checkpoint));
  v1::CompleteRunRequest finish;
  finish.set_root_stack_run_id(root.stack_run().id());
  finish.set_fencing_token(root.lease().fencing_token());
  finish.set_result_json("true");
  TIMED(kCompleteRun, store->CompleteRun(finish));
}

void Measure(const std::string& label, Store* store, int threads, int lifecycles) {
  std::string blob(64 * 1024, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::vector<Samples> per_thread(threads);
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = t; i < lifecycles; i += threads) {
        Lifecycle(store, absl::StrCat("bench-", t), blob, &per_thread[t]);
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  Samples all;
  for (auto& s : per_thread) all.Merge(s);
  const double transitions = static_cast<double>(lifecycles) * kOps;
  std::printf("%-22s threads=%d  %7.0f transitions/s  (%d lifecycles in %.2fs)\n", label.c_str(), threads,
              transitions / seconds, lifecycles, seconds);
  for (int op = 0; op < kOps; ++op) {
    std::printf("    %-14s p50 %7.0f us   p99 %7.0f us\n", kOpNames[op], Percentile(all.micros[op], 0.5),
                Percentile(all.micros[op], 0.99));
  }
  std::fflush(stdout);
}

int Main() {
  SetLogLevel(LogLevel::kWarning);
  const int lifecycles = absl::GetFlag(FLAGS_lifecycles);
  std::unique_ptr<tasker::testing::PostgresServer> pg;
  for (const std::string backend : {"sqlite", "postgres"}) {
    if (absl::GetFlag(FLAGS_backends).find(backend) == std::string::npos) continue;
    std::string url;
    if (backend == "sqlite") {
      url = absl::StrCat("sqlite://", tasker::testing::MakeTempDir("bench"), "/tasks.db?synchronous=",
                         absl::GetFlag(FLAGS_sqlite_synchronous));
    } else {
      auto started = tasker::testing::PostgresServer::Start({.fsync = true});
      if (!started.ok()) {
        std::fprintf(stderr, "postgres: %s\n", started.status().ToString().c_str());
        return 1;
      }
      pg = std::move(*started);
      url = *pg->CreateDatabase("bench");
    }
    auto store = OpenStore(url);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("bench");
    publish.set_code("return 1");
    (void)(*store)->PublishTaskFunction(publish);

    StorageService service(store->get());
    ServerRunner runner(ServerConfig{.component = "bench", .authenticator = tasker::Authenticator::InsecureDev()});
    runner.AddService(&service, "*", tasker::Roles::All());
    if (!runner.Start().ok()) return 1;
    RemoteStore remote(*MakeChannel({.target = runner.local_target()}));

    {
      v1::GetFunctionRequest get;
      get.set_identifier("bench");
      for (Store* target : {static_cast<Store*>(store->get()), static_cast<Store*>(&remote)}) {
        std::vector<double> v;
        for (int i = 0; i < 2000; ++i) {
          absl::Time t0 = absl::Now();
          (void)target->GetTaskFunction(get);
          v.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
        }
        std::printf("%-22s read p50 %5.0f us p99 %5.0f us\n",
                    target == &remote ? "grpc round trip" : "store read", Percentile(v, 0.5),
                    Percentile(v, 0.99));
      }
    }
    for (int threads : {1, 8}) {
      Measure(absl::StrCat(backend, " store"), store->get(), threads, lifecycles);
      Measure(absl::StrCat(backend, " grpc"), &remote, threads, lifecycles);
    }
    runner.Shutdown();
  }
  return 0;
}

}  // namespace
}  // namespace tasker::storage

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tasker::storage::Main();
}
