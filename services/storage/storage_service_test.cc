// The storage-service binary, driven through a real gRPC channel: the right
// status codes at the boundary, auth, reflection, and a kill -9 during a
// write load leaving a consistent database on SQLite and on Postgres.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "tasker/v1/storage.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "storage/open_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace tasker::storage {
namespace {

using tasker::testing::Subprocess;

constexpr char kToken[] = "storage-test-token";

class StorageServer {
 public:
  // Starts (or restarts) the binary on `url`.
  void Start(const std::string& url, const std::string& dir, const std::vector<std::string>& flags = {}) {
    const std::string port_file = dir + "/port";
    std::remove(port_file.c_str());
    std::ofstream(dir + "/credentials") << "executor-1 executor " << kToken << "\n";
    std::vector<std::string> argv = {tasker::testing::Runfile("services/storage/storage-service"),
                                     "--listen=127.0.0.1:0", "--port_file=" + port_file,
                                     "--credentials_file=" + dir + "/credentials"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto process = Subprocess::Start(argv, {{"TASKER_DATABASE_URL", url}}, dir + "/storage.log");
    ASSERT_TRUE(process.ok()) << process.status();
    process_ = std::move(*process);
    auto port = tasker::testing::WaitForPortFile(port_file, absl::Seconds(30));
    ASSERT_TRUE(port.ok()) << port.status();
    target_ = absl::StrCat("127.0.0.1:", *port);
    auto channel = MakeChannel({.target = target_, .auth_token = kToken});
    ASSERT_TRUE(channel.ok());
    stub_ = v1::Storage::NewStub(*channel);
  }
  void Kill() {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(10));
  }
  v1::Storage::Stub* stub() { return stub_.get(); }
  const std::string& target() const { return target_; }
  Subprocess* process() { return process_.get(); }

 private:
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<v1::Storage::Stub> stub_;
  std::string target_;
};


template <typename Req, typename Resp>
grpc::Status Call(grpc::Status (v1::Storage::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  v1::Storage::Stub* stub, const Req& request, Resp* response) {
  auto context = MakeContext(absl::Seconds(10));
  return (stub->*method)(context.get(), request, response);
}

TEST(StorageServiceTest, ServesTheStoreWithTheRightStatusCodes) {
  const std::string dir = tasker::testing::MakeTempDir("svc");
  StorageServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start("sqlite://" + dir + "/tasks.db", dir));
  auto* stub = server.stub();

  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("bad id");
  publish.set_code("return 1");
  v1::TaskFunction function;
  grpc::Status status = Call(&v1::Storage::Stub::PublishTaskFunction, stub, publish, &function);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("identifier"), std::string::npos);
  publish.set_identifier("t");
  ASSERT_TRUE(Call(&v1::Storage::Stub::PublishTaskFunction, stub, publish, &function).ok());
  EXPECT_EQ(function.version(), 1);

  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier("missing");
  v1::SubmitTaskRunResponse submitted;
  EXPECT_EQ(Call(&v1::Storage::Stub::SubmitTaskRun, stub, submit, &submitted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  submit.set_task_identifier("t");
  submit.set_input_json(R"({"customer":"x"})");
  ASSERT_TRUE(Call(&v1::Storage::Stub::SubmitTaskRun, stub, submit, &submitted).ok());

  v1::ClaimWorkRequest claim;
  claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
  claim.set_owner("exec");
  claim.set_lease_ms(30000);
  v1::ClaimWorkResponse claimed;
  ASSERT_TRUE(Call(&v1::Storage::Stub::ClaimWork, stub, claim, &claimed).ok());
  ASSERT_EQ(claimed.stack_run().id(), submitted.root().id());
  EXPECT_EQ(claimed.task_run().input_json(), R"({"customer":"x"})");

  v1::RecordCallsRequest record;
  record.set_root_stack_run_id(claimed.stack_run().id());
  record.set_fencing_token(claimed.lease().fencing_token() + 1);
  record.add_steps()->set_seq(0);
  auto* call = record.add_calls();
  call->set_index(1);
  call->set_call_id("c1");
  call->set_service("gapi");
  call->set_method("admin.domains.list");
  v1::RecordCallsResponse recorded;
  EXPECT_EQ(Call(&v1::Storage::Stub::RecordCalls, stub, record, &recorded).error_code(),
            grpc::StatusCode::ABORTED);
  record.set_fencing_token(claimed.lease().fencing_token());
  ASSERT_TRUE(Call(&v1::Storage::Stub::RecordCalls, stub, record, &recorded).ok());
  ASSERT_EQ(recorded.calls_size(), 1);
  // Again with the same call index: the state forbids it.
  record.clear_steps();
  EXPECT_EQ(Call(&v1::Storage::Stub::RecordCalls, stub, record, &recorded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::PutCheckpointRequest checkpoint;
  checkpoint.set_root_stack_run_id(claimed.stack_run().id());
  checkpoint.set_fencing_token(claimed.lease().fencing_token());
  checkpoint.mutable_checkpoint()->set_data(std::string(64 * 1024, '\x7f'));
  checkpoint.mutable_checkpoint()->set_format_version(1);
  checkpoint.mutable_checkpoint()->set_step(1);
  v1::PutCheckpointResponse put;
  ASSERT_TRUE(Call(&v1::Storage::Stub::PutCheckpoint, stub, checkpoint, &put).ok());
  checkpoint.mutable_checkpoint()->clear_data();
  EXPECT_EQ(Call(&v1::Storage::Stub::PutCheckpoint, stub, checkpoint, &put).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::RenewLeasesRequest renew;
  renew.set_owner("exec");
  renew.set_lease_ms(30000);
  auto* lease = renew.add_leases();
  lease->set_stack_run_id(claimed.stack_run().id());
  lease->set_fencing_token(claimed.lease().fencing_token());
  lease = renew.add_leases();
  lease->set_stack_run_id("sr_gone");
  v1::RenewLeasesResponse renewed;
  ASSERT_TRUE(Call(&v1::Storage::Stub::RenewLeases, stub, renew, &renewed).ok());
  ASSERT_EQ(renewed.lost_size(), 1);
  EXPECT_EQ(renewed.lost(0), "sr_gone");

  v1::GetJournalRequest get_journal;
  get_journal.set_root_stack_run_id(claimed.stack_run().id());
  v1::Journal journal;
  ASSERT_TRUE(Call(&v1::Storage::Stub::GetJournal, stub, get_journal, &journal).ok());
  EXPECT_EQ(journal.steps_size(), 1);
  ASSERT_EQ(journal.calls_size(), 1);
  EXPECT_EQ(journal.calls(0).id(), recorded.calls(0).id());
  EXPECT_EQ(journal.checkpoint().data().size(), 64u * 1024);
  get_journal.set_root_stack_run_id("sr_unknown");
  EXPECT_EQ(Call(&v1::Storage::Stub::GetJournal, stub, get_journal, &journal).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::CancelTaskRunRequest cancel;
  cancel.set_id(submitted.run().id());
  v1::TaskRunRecord run;
  ASSERT_TRUE(Call(&v1::Storage::Stub::CancelTaskRun, stub, cancel, &run).ok());
  EXPECT_EQ(run.status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(Call(&v1::Storage::Stub::CancelTaskRun, stub, cancel, &run).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::GetTaskRunRequest get;
  get.set_id("run_unknown");
  EXPECT_EQ(Call(&v1::Storage::Stub::GetTaskRun, stub, get, &run).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Without the token: refused before the store is touched.
  auto anonymous = MakeChannel({.target = server.target()});
  auto anonymous_stub = v1::Storage::NewStub(*anonymous);
  EXPECT_EQ(Call(&v1::Storage::Stub::PublishTaskFunction, anonymous_stub.get(), publish, &function)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto health = CheckHealth(*anonymous, "", absl::Seconds(5));
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, HealthStatus::kServing);

  // Reflection lists the Storage service to a real reflection client.
  const std::string buf = "/opt/tasker-npm/node_modules/@bufbuild/buf-linux-x64/bin/buf";
  auto [code, output] = tasker::testing::RunCommand(absl::StrCat(
      "HOME=", dir, " ", buf, " curl --protocol grpc --http2-prior-knowledge --list-services ",
      "--reflect-header 'Authorization: Bearer ", kToken, "' http://", server.target()));
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("tasker.v1.Storage"), std::string::npos) << output;
  // And a call with JSON payloads as a grpcurl user writes them.
  auto [call_code, call_output] = tasker::testing::RunCommand(absl::StrCat(
      "HOME=", dir, " ", buf, " curl --protocol grpc --http2-prior-knowledge -H ",
      "'Authorization: Bearer ", kToken, "' --reflect-header '*' -d '{\"id\":\"",
      submitted.run().id(), "\"}' http://", server.target(), "/tasker.v1.Storage/GetTaskRun"));
  EXPECT_EQ(call_code, 0) << call_output;
  // Payloads are JSON text: the exact bytes submitted, as a string field.
  EXPECT_NE(call_output.find(R"("inputJson": "{\"customer\":\"x\"}")"), std::string::npos) << call_output;
}

// --finished_run_retention: the service's sweep deletes runs finished
// longer ago than that; a run still going stays.
TEST(StorageServiceTest, RetentionSweepDeletesFinishedRuns) {
  const std::string dir = tasker::testing::MakeTempDir("svcret");
  StorageServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start("sqlite://" + dir + "/tasks.db", dir,
                                       {"--finished_run_retention=1s", "--retention_sweep_interval=100ms"}));
  auto* stub = server.stub();
  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier("t");
  publish.set_code("return 1");
  v1::TaskFunction function;
  ASSERT_TRUE(Call(&v1::Storage::Stub::PublishTaskFunction, stub, publish, &function).ok());
  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier("t");
  v1::SubmitTaskRunResponse finished, going;
  ASSERT_TRUE(Call(&v1::Storage::Stub::SubmitTaskRun, stub, submit, &finished).ok());
  v1::ClaimWorkRequest claim;
  claim.set_kind(v1::WORK_KIND_EXECUTE_ROOT);
  claim.set_owner("exec");
  claim.set_lease_ms(30000);
  claim.set_stack_run_id(finished.root().id());
  v1::ClaimWorkResponse claimed;
  ASSERT_TRUE(Call(&v1::Storage::Stub::ClaimWork, stub, claim, &claimed).ok());
  v1::CompleteRunRequest complete;
  complete.set_root_stack_run_id(claimed.stack_run().id());
  complete.set_fencing_token(claimed.lease().fencing_token());
  v1::TaskRunRecord run;
  ASSERT_TRUE(Call(&v1::Storage::Stub::CompleteRun, stub, complete, &run).ok());
  ASSERT_TRUE(Call(&v1::Storage::Stub::SubmitTaskRun, stub, submit, &going).ok());
  v1::GetTaskRunRequest get;
  get.set_id(finished.run().id());
  ASSERT_TRUE(Call(&v1::Storage::Stub::GetTaskRun, stub, get, &run).ok());  // not yet a second old
  grpc::Status status;
  for (int i = 0; i < 100; ++i) {
    status = Call(&v1::Storage::Stub::GetTaskRun, stub, get, &run);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << "the finished run was not deleted";
  get.set_id(going.run().id());
  EXPECT_TRUE(Call(&v1::Storage::Stub::GetTaskRun, stub, get, &run).ok());
  std::ifstream log(dir + "/storage.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("finished runs deleted"), std::string::npos);
}

// Readiness follows the database: Postgres refusing storage's connections
// makes storage NOT_SERVING (for "" and tasker.v1.Storage, liveness still
// SERVING); accepting them again makes it SERVING.
TEST(StorageServiceTest, HealthIsNotServingWhileTheDatabaseIsUnreachable) {
  std::string error;
  auto* postgres = tasker::testing::SharedPostgres(&error);
  ASSERT_NE(postgres, nullptr) << error;
  auto url = postgres->CreateDatabase("health_db");
  ASSERT_TRUE(url.ok()) << url.status();
  const std::string dir = tasker::testing::MakeTempDir("svchealth");
  StorageServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start(*url, dir, {"--dependency_check_interval=100ms"}));
  auto channel = *MakeChannel({.target = server.target()});
  auto wait_for = [&](const std::string& service, HealthStatus want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<HealthStatus> got;
    while (absl::Now() < deadline) {
      got = CheckHealth(channel, service, absl::Seconds(2));
      if (got.ok() && *got == want) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "health of '" << service << "': " << (got.ok() ? static_cast<int>(*got) : -1) << " "
                  << got.status() << ", wanted " << static_cast<int>(want);
    return false;
  };
  ASSERT_TRUE(wait_for("tasker.v1.Storage", HealthStatus::kServing));
  auto admin = [&](const std::string& sql) {
    pqxx::connection conn(postgres->Url("postgres"));
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  };
  admin("ALTER DATABASE health_db ALLOW_CONNECTIONS false");
  admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'health_db'");
  EXPECT_TRUE(wait_for("", HealthStatus::kNotServing));
  EXPECT_TRUE(wait_for("tasker.v1.Storage", HealthStatus::kNotServing));
  EXPECT_EQ(*CheckHealth(channel, "liveness", absl::Seconds(2)), HealthStatus::kServing);
  admin("ALTER DATABASE health_db ALLOW_CONNECTIONS true");
  EXPECT_TRUE(wait_for("", HealthStatus::kServing));
  EXPECT_TRUE(wait_for("tasker.v1.Storage", HealthStatus::kServing));
  std::ifstream log(dir + "/storage.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"dependency\":\"database\""), std::string::npos) << text;
}

TEST(StorageServiceTest, StartupRefusesABadDatabaseUrl) {
  const std::string dir = tasker::testing::MakeTempDir("bad");
  auto process = Subprocess::Start({tasker::testing::Runfile("services/storage/storage-service"),
                                    "--database_url=mysql://nope", "--insecure_dev"},
                                   {}, dir + "/log");
  ASSERT_TRUE(process.ok());
  auto status = (*process)->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  auto [code, log] = tasker::testing::RunCommand("cat " + dir + "/log");
  EXPECT_NE(log.find("must start with sqlite:/// or postgres://"), std::string::npos) << log;
}

// A write load of full run lifecycles through the service, from several
// threads; the service is killed with SIGKILL mid-load and restarted. What the
// service acknowledged must survive; the database must be consistent; and the
// load must then finish every run exactly once.
class CrashTest : public ::testing::TestWithParam<std::string> {};

struct LoadStats {
  std::atomic<int> errors{0};
  std::mutex mu;
  std::set<std::string> completed_runs;     // acknowledged CompleteRun
  std::map<std::string, int> suspensions;   // root -> call rounds acknowledged by RecordCalls
  std::map<std::string, int> steps;         // root -> journal steps acknowledged
  std::set<std::string> completed_calls;    // acknowledged CompleteCall
};

bool Finished(const v1::StackRunRecord& s) {
  return s.status() == v1::STACK_RUN_STATUS_COMPLETED || s.status() == v1::STACK_RUN_STATUS_FAILED;
}

// The results of `journal`'s calls that no journal step shows delivered.
std::vector<std::string> Undelivered(const v1::Journal& journal) {
  std::set<std::string> delivered;
  for (const auto& step : journal.steps()) delivered.insert(step.trigger_call_id());
  std::vector<std::string> out;
  for (const auto& c : journal.calls()) {
    if (Finished(c) && !delivered.count(c.call_id())) out.push_back(c.call_id());
  }
  return out;
}

void Acknowledge(LoadStats* stats, const std::string& root, int suspensions, int steps) {
  std::lock_guard<std::mutex> lock(stats->mu);
  if (suspensions > 0) {
    int& s = stats->suspensions[root];
    s = std::max(s, suspensions);
  }
  int& n = stats->steps[root];
  n = std::max(n, steps);
}

// A stateless executor's turn on a claimed root: reads the journal, appends
// a step for the start (once) and for each result not yet delivered, then
// makes the next round of 3 calls (two rounds in all) and evicts the run, or
// evicts it while calls are outstanding, or completes it.
void ExecuteRoot(v1::Storage::Stub* stub, const v1::ClaimWorkResponse& claimed, LoadStats* stats) {
  const auto& s = claimed.stack_run();
  v1::GetJournalRequest get;
  get.set_root_stack_run_id(s.id());
  v1::Journal journal;
  if (!Call(&v1::Storage::Stub::GetJournal, stub, get, &journal).ok()) {
    ++stats->errors;
    return;
  }
  google::protobuf::RepeatedPtrField<v1::JournalStep> steps;
  int seq = journal.steps_size();
  if (seq == 0) {
    auto* start = steps.Add();
    start->set_seq(seq++);
    start->set_clock_ms(1000);
    start->set_random_seed(seq * 7919ull);
  }
  for (const auto& id : Undelivered(journal)) {
    auto* step = steps.Add();
    step->set_seq(seq++);
    step->set_trigger_call_id(id);
    step->set_clock_ms(1000 + seq);
  }
  int outstanding = 0;
  for (const auto& c : journal.calls()) outstanding += Finished(c) ? 0 : 1;
  v1::PutCheckpointRequest release;
  release.set_root_stack_run_id(s.id());
  release.set_fencing_token(claimed.lease().fencing_token());
  release.mutable_checkpoint()->set_data(std::string(8192, static_cast<char>('a' + s.suspension())));
  release.mutable_checkpoint()->set_format_version(1);
  release.mutable_checkpoint()->set_step(seq);
  release.set_release(true);
  if (outstanding == 0 && s.suspension() < 2) {
    v1::RecordCallsRequest record;
    record.set_root_stack_run_id(s.id());
    record.set_fencing_token(claimed.lease().fencing_token());
    *record.mutable_steps() = steps;
    for (int i = 1; i <= 3; ++i) {
      auto* call = record.add_calls();
      const int index = journal.calls_size() + i;
      call->set_index(index);
      call->set_step(seq - 1);
      call->set_call_id(absl::StrCat("c", index));
      call->set_service("admin-debug");
      call->set_method("echo");
    }
    v1::RecordCallsResponse recorded;
    if (!Call(&v1::Storage::Stub::RecordCalls, stub, record, &recorded).ok()) {
      ++stats->errors;
      return;
    }
    Acknowledge(stats, s.id(), s.suspension() + 1, seq);
  } else if (outstanding == 0) {
    v1::CompleteRunRequest done;
    done.set_root_stack_run_id(s.id());
    done.set_fencing_token(claimed.lease().fencing_token());
    done.set_result_json(R"("done")");
    v1::TaskRunRecord run;
    if (Call(&v1::Storage::Stub::CompleteRun, stub, done, &run).ok()) {
      std::lock_guard<std::mutex> lock(stats->mu);
      EXPECT_TRUE(stats->completed_runs.insert(run.id()).second) << "completed twice: " << run.id();
    } else {
      ++stats->errors;
    }
    return;
  } else {
    *release.mutable_steps() = steps;
  }
  v1::PutCheckpointResponse released;
  if (Call(&v1::Storage::Stub::PutCheckpoint, stub, release, &released).ok()) {
    Acknowledge(stats, s.id(), 0, seq);
  } else {
    ++stats->errors;
  }
}

// One worker step: claims whatever is ready and moves it on. Returns false
// when nothing was ready.
bool Step(v1::Storage::Stub* stub, const std::string& owner, LoadStats* stats) {
  for (v1::WorkKind kind : {v1::WORK_KIND_PERFORM_CALL, v1::WORK_KIND_RESUME_PARENT,
                            v1::WORK_KIND_EXECUTE_ROOT}) {
    v1::ClaimWorkRequest claim;
    claim.set_kind(kind);
    claim.set_owner(owner);
    claim.set_lease_ms(1000);
    if (kind != v1::WORK_KIND_PERFORM_CALL) claim.set_reply_to(owner + ":1");
    v1::ClaimWorkResponse claimed;
    if (!Call(&v1::Storage::Stub::ClaimWork, stub, claim, &claimed).ok()) {
      ++stats->errors;
      return true;
    }
    if (!claimed.has_stack_run()) continue;
    const auto& s = claimed.stack_run();
    if (kind == v1::WORK_KIND_PERFORM_CALL) {
      v1::CompleteCallRequest done;
      done.set_stack_run_id(s.id());
      done.set_fencing_token(claimed.lease().fencing_token());
      done.set_result_json(absl::StrCat(s.call_index() * 10));
      v1::CompleteCallResponse response;
      if (Call(&v1::Storage::Stub::CompleteCall, stub, done, &response).ok()) {
        std::lock_guard<std::mutex> lock(stats->mu);
        stats->completed_calls.insert(s.id());
      } else {
        ++stats->errors;
      }
    } else {
      ExecuteRoot(stub, claimed, stats);
    }
    return true;
  }
  return false;
}

void CheckInvariants(Store* store, int runs) {
  v1::ListTaskRunsRequest list;
  list.mutable_page()->set_limit(1000);
  auto all = store->ListTaskRuns(list);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->runs_size(), runs);
  for (const auto& run : all->runs()) {
    v1::ListStackRunsRequest sl;
    sl.mutable_filter()->set_task_run_id(run.id());
    sl.mutable_page()->set_limit(1000);
    auto stacks = store->ListStackRuns(sl);
    ASSERT_TRUE(stacks.ok());
    int roots = 0;
    for (const auto& s : stacks->stack_runs()) roots += s.kind() == v1::STACK_RUN_KIND_ROOT ? 1 : 0;
    ASSERT_EQ(roots, 1) << run.id();
    v1::GetJournalRequest get;
    get.set_root_stack_run_id(run.root_stack_run_id());
    auto journal = store->GetJournal(get);
    ASSERT_TRUE(journal.ok()) << journal.status();
    const v1::StackRunRecord& root = journal->root();
    EXPECT_EQ(journal->calls_size() + 1, stacks->stack_runs_size()) << run.id();
    // Every round created exactly 3 calls, numbered 1, 2, ... in the run.
    std::map<int, int> per_round;
    int open = 0;
    for (int i = 0; i < journal->calls_size(); ++i) {
      const auto& c = journal->calls(i);
      EXPECT_EQ(c.call_index(), i + 1) << run.id();
      EXPECT_EQ(c.call_id(), absl::StrCat("c", i + 1)) << run.id();
      EXPECT_LT(c.step(), journal->steps_size()) << run.id();
      ++per_round[c.suspension()];
      if (!Finished(c)) ++open;
    }
    EXPECT_EQ(static_cast<int>(per_round.size()), root.suspension()) << run.id();
    for (const auto& [n, count] : per_round) EXPECT_EQ(count, 3) << run.id();
    // The journal: seq 0, 1, ...; each result delivered at most once, and
    // only a finished call's.
    std::set<std::string> delivered;
    std::set<std::string> finished;
    for (const auto& c : journal->calls()) {
      if (Finished(c)) finished.insert(c.call_id());
    }
    for (int i = 0; i < journal->steps_size(); ++i) {
      const auto& step = journal->steps(i);
      EXPECT_EQ(step.seq(), i) << run.id();
      EXPECT_EQ(step.trigger_call_id().empty(), i == 0) << run.id();
      if (i > 0) {
        EXPECT_TRUE(delivered.insert(step.trigger_call_id()).second) << run.id();
        EXPECT_TRUE(finished.count(step.trigger_call_id())) << run.id();
      }
    }
    const int undelivered = static_cast<int>(Undelivered(*journal).size());
    if (run.status() != v1::RUN_STATUS_COMPLETED) EXPECT_EQ(root.waiting(), open) << run.id();
    if (root.status() == v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD) {
      EXPECT_TRUE(journal->has_checkpoint()) << run.id();
      EXPECT_GT(open, 0) << run.id();
      EXPECT_EQ(undelivered, 0) << run.id();
    }
    if (root.status() == v1::STACK_RUN_STATUS_READY_TO_RESUME) {
      EXPECT_TRUE(journal->has_checkpoint()) << run.id();
      EXPECT_GT(undelivered, 0) << run.id();
    }
    if (journal->has_checkpoint()) EXPECT_LE(journal->checkpoint().step(), journal->steps_size()) << run.id();
    if (run.status() == v1::RUN_STATUS_COMPLETED) {
      EXPECT_EQ(root.status(), v1::STACK_RUN_STATUS_COMPLETED) << run.id();
      EXPECT_EQ(root.suspension(), 2) << run.id();
      EXPECT_EQ(open, 0) << run.id();
      EXPECT_EQ(run.result_json(), R"("done")");
    }
  }
}

TEST_P(CrashTest, KillNineDuringWriteLoadLeavesAConsistentDatabase) {
  const std::string dir = tasker::testing::MakeTempDir("crash");
  std::string url;
  if (GetParam() == "sqlite") {
    url = "sqlite://" + dir + "/tasks.db";
  } else {
    std::string error;
    auto* pg = tasker::testing::SharedPostgres(&error);
    ASSERT_NE(pg, nullptr) << error;
    auto created = pg->CreateDatabase(absl::StrCat("crash_", getpid()));
    ASSERT_TRUE(created.ok()) << created.status();
    url = *created;
  }
  StorageServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start(url, dir));
  constexpr int kRuns = 120;
  {
    v1::PublishTaskFunctionRequest publish;
    publish.set_identifier("t");
    publish.set_code("return 1");
    v1::TaskFunction f;
    ASSERT_TRUE(Call(&v1::Storage::Stub::PublishTaskFunction, server.stub(), publish, &f).ok());
    for (int i = 0; i < kRuns; ++i) {
      v1::SubmitTaskRunRequest submit;
      submit.set_task_identifier("t");
      submit.set_idempotency_key(absl::StrCat("run-", i));
      v1::SubmitTaskRunResponse r;
      ASSERT_TRUE(Call(&v1::Storage::Stub::SubmitTaskRun, server.stub(), submit, &r).ok());
    }
  }
  LoadStats stats;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
      workers.emplace_back([&, t] {
        while (!stop) {
          if (!Step(server.stub(), absl::StrCat("w", round, "-", t), &stats)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
    server.Kill();  // mid-transaction, with writes in flight
    stop = true;
    for (auto& w : workers) w.join();
    std::printf("round %d: killed storage-service; acknowledged call rounds of %d runs, %d calls, %d runs "
                "complete; %d failed calls\n",
                round, static_cast<int>(stats.suspensions.size()), static_cast<int>(stats.completed_calls.size()),
                static_cast<int>(stats.completed_runs.size()), stats.errors.load());
    ASSERT_NO_FATAL_FAILURE(server.Start(url, dir));
  }
  // Invariants right after the crashes (through a second, direct Store).
  {
    auto store = OpenStore(url);
    ASSERT_TRUE(store.ok()) << store.status();
    CheckInvariants(store->get(), kRuns);
    // What was acknowledged survived.
    std::lock_guard<std::mutex> lock(stats.mu);
    for (const auto& id : stats.completed_runs) {
      v1::GetTaskRunRequest get;
      get.set_id(id);
      auto run = (*store)->GetTaskRun(get);
      ASSERT_TRUE(run.ok()) << id << ": " << run.status();
      EXPECT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << id;
    }
    for (const auto& [id, acknowledged] : stats.suspensions) {
      auto root = (*store)->GetStackRun(id);
      ASSERT_TRUE(root.ok()) << id << ": " << root.status();
      EXPECT_GE(root->suspension(), acknowledged) << id;
    }
    for (const auto& [id, acknowledged] : stats.steps) {
      v1::GetJournalRequest get;
      get.set_root_stack_run_id(id);
      auto journal = (*store)->GetJournal(get);
      ASSERT_TRUE(journal.ok()) << id << ": " << journal.status();
      EXPECT_GE(journal->steps_size(), acknowledged) << id;
    }
    for (const auto& id : stats.completed_calls) {
      auto call = (*store)->GetStackRun(id);
      ASSERT_TRUE(call.ok()) << id << ": " << call.status();
      EXPECT_EQ(call->status(), v1::STACK_RUN_STATUS_COMPLETED) << id;
    }
    EXPECT_GT(stats.suspensions.size(), 0u);
    EXPECT_GT(stats.completed_calls.size(), 0u);
  }
  // Finish the load: leases held by dead workers expire after 1 s. A
  // completion whose reply was lost in a crash is in the database but not in
  // stats, so progress is read from the database.
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok());
  v1::ListTaskRunsRequest done;
  done.mutable_filter()->add_statuses(v1::RUN_STATUS_COMPLETED);
  done.mutable_page()->set_limit(1000);
  auto completed = [&]() -> int {
    auto listed = (*store)->ListTaskRuns(done);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? listed->runs_size() : -1;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  for (int n = completed(); absl::Now() < deadline && n >= 0 && n < kRuns; n = completed()) {
    if (!Step(server.stub(), "finisher", &stats)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CheckInvariants(store->get(), kRuns);
  EXPECT_EQ(completed(), kRuns);
  std::lock_guard<std::mutex> lock(stats.mu);
  EXPECT_GT(static_cast<int>(stats.completed_runs.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tasker::storage
