// RemoteStore's write batching against scripted Storage services on real
// loopback ports: concurrent writes share WriteBatch round trips and each
// gets its own result; a lone write goes at once; a storage service without
// WriteBatch is written to one method at a time.
#include "storage/remote/write_batcher.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/server/server.h"
#include "storage/remote/remote_store.h"

namespace tasker::storage {
namespace {

// Answers RecordCalls (alone or in a batch) with one call whose id echoes
// the root; a negative fencing token is refused as stale. Each round trip
// takes `delay`, so that writes queue behind it.
class ScriptedStorage : public v1::Storage::Service {
 public:
  explicit ScriptedStorage(bool batches, absl::Duration delay) : batches_(batches), delay_(delay) {}

  grpc::Status WriteBatch(grpc::ServerContext*, const v1::WriteBatchRequest* request,
                          v1::WriteBatchResponse* response) override {
    if (!batches_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no WriteBatch here");
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_sizes_.push_back(request->ops_size());
      batch_bytes_.push_back(request->ByteSizeLong());
    }
    absl::SleepFor(delay_);
    for (const auto& op : request->ops()) {
      auto* result = response->add_results();
      grpc::Status answer = Answer(op.record_calls(), result->mutable_record_calls());
      if (!answer.ok()) {
        result->Clear();
        result->set_code(static_cast<int>(answer.error_code()));
        result->set_message(answer.error_message());
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status RecordCalls(grpc::ServerContext*, const v1::RecordCallsRequest* request,
                           v1::RecordCallsResponse* response) override {
    ++single_calls_;
    absl::SleepFor(delay_);
    return Answer(*request, response);
  }

  std::vector<int> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  int single_calls() const { return single_calls_; }
  std::vector<size_t> batch_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_bytes_;
  }

 private:
  static grpc::Status Answer(const v1::RecordCallsRequest& request, v1::RecordCallsResponse* response) {
    if (request.fencing_token() < 0) return grpc::Status(grpc::StatusCode::ABORTED, "stale fencing token");
    response->add_calls()->set_id(absl::StrCat("call-of-", request.root_stack_run_id()));
    return grpc::Status::OK;
  }

  const bool batches_;
  const absl::Duration delay_;
  std::mutex mu_;
  std::vector<int> batch_sizes_;
  std::vector<size_t> batch_bytes_;
  std::atomic<int> single_calls_{0};
};

struct Served {
  std::unique_ptr<ScriptedStorage> service;
  std::unique_ptr<ServerRunner> runner;
  std::unique_ptr<RemoteStore> store;
};

Served Serve(bool batches, absl::Duration delay) {
  Served s;
  s.service = std::make_unique<ScriptedStorage>(batches, delay);
  s.runner = std::make_unique<ServerRunner>(ServerConfig{.component = "scripted-storage", .authenticator = tasker::Authenticator::InsecureDev()});
  s.runner->AddService(s.service.get(), "*", tasker::Roles::All());
  EXPECT_TRUE(s.runner->Start().ok());
  auto channel = MakeChannel({.target = s.runner->local_target()});
  EXPECT_TRUE(channel.ok());
  s.store = std::make_unique<RemoteStore>(*channel);
  return s;
}

v1::RecordCallsRequest Request(int i) {
  v1::RecordCallsRequest r;
  r.set_root_stack_run_id(absl::StrCat("root", i));
  r.set_fencing_token(i % 5 == 4 ? -1 : 1);
  return r;
}

TEST(WriteBatcherTest, ConcurrentWritesShareRoundTripsAndKeepTheirOwnResults) {
  Served s = Serve(true, absl::Milliseconds(40));
  constexpr int kWriters = 30;
  std::vector<absl::StatusOr<v1::RecordCallsResponse>> results(kWriters, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] { results[i] = s.store->RecordCalls(Request(i)); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWriters; ++i) {
    if (i % 5 == 4) {
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kAborted) << i;
      EXPECT_EQ(results[i].status().message(), "stale fencing token");
      continue;
    }
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    ASSERT_EQ(results[i]->calls_size(), 1);
    EXPECT_EQ(results[i]->calls(0).id(), absl::StrCat("call-of-root", i));
  }
  const std::vector<int> sizes = s.service->batch_sizes();
  int total = 0;
  for (int n : sizes) total += n;
  EXPECT_EQ(total, kWriters);
  // 30 writes while each round trip takes 40 ms: with at most two on the
  // wire, the rest queue and leave together.
  EXPECT_LT(sizes.size(), 10u) << "writes were not coalesced";
  EXPECT_EQ(s.service->single_calls(), 0);
  s.runner->Shutdown();
}

TEST(WriteBatcherTest, BatchesOfLargePayloadsStayUnderTheByteCap) {
  Served s = Serve(true, absl::Milliseconds(40));
  constexpr int kWriters = 8;
  const std::string args = absl::StrCat("\"", std::string(12 << 20, 'x'), "\"");
  std::vector<absl::Status> results(kWriters, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      v1::RecordCallsRequest request = Request(i * 5);
      request.add_calls()->set_args_json(args);
      results[i] = s.store->RecordCalls(request).status();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWriters; ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
  // 8 x 12 MiB in one batch would be 96 MiB; the cap (32 MiB) allows two.
  for (size_t bytes : s.service->batch_bytes()) EXPECT_LE(bytes, (size_t{32} << 20) + 1024);
  for (int n : s.service->batch_sizes()) EXPECT_LE(n, 2);
  s.runner->Shutdown();
}

TEST(WriteBatcherTest, ALoneWriteLeavesAtOnce) {
  Served s = Serve(true, absl::ZeroDuration());
  const absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s.store->RecordCalls(Request(i * 5)).ok());
  // Twenty sequential writes, each its own batch of one, with no waiting for
  // company (a loopback round trip is well under 50 ms).
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(s.service->batch_sizes(), std::vector<int>(20, 1));
  s.runner->Shutdown();
}

TEST(WriteBatcherTest, AStorageServiceWithoutWriteBatchGetsEachWriteOnItsMethod) {
  Served s = Serve(false, absl::ZeroDuration());
  for (int i = 0; i < 6; ++i) {
    auto result = s.store->RecordCalls(Request(i));
    if (i % 5 == 4) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
    } else {
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->calls(0).id(), absl::StrCat("call-of-root", i));
    }
  }
  EXPECT_EQ(s.service->single_calls(), 6);
  s.runner->Shutdown();
}

// Loses the answer of the first `lose` finishing writes (UNAVAILABLE after
// applying them), then answers; counts what it applied.
class LossyStorage : public v1::Storage::Service {
 public:
  explicit LossyStorage(int lose) : lose_(lose) {}
  grpc::Status WriteBatch(grpc::ServerContext*, const v1::WriteBatchRequest* request,
                          v1::WriteBatchResponse* response) override {
    ++received;
    if (lose_-- > 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection lost mid-commit");
    for (const auto& op : request->ops()) {
      auto* result = response->add_results();
      if (op.has_complete_run()) result->mutable_complete_run()->set_id(op.complete_run().step_token());
      if (op.has_fail_run()) result->mutable_fail_run()->set_id(op.fail_run().step_token());
    }
    return grpc::Status::OK;
  }
  std::atomic<int> received{0};

 private:
  std::atomic<int> lose_;
};

TEST(RemoteStoreTest, AStepWriteWithATokenIsSentAgainWhenItsAnswerIsLost) {
  for (bool tokened : {true, false}) {
    LossyStorage service(2);
    ServerRunner runner(ServerConfig{.component = "lossy-storage", .authenticator = tasker::Authenticator::InsecureDev()});
    runner.AddService(&service, "*", tasker::Roles::All());
    ASSERT_TRUE(runner.Start().ok());
    auto channel = MakeChannel({.target = runner.local_target()});
    ASSERT_TRUE(channel.ok());
    RemoteStore store(*channel);
    v1::CompleteRunRequest complete;
    complete.set_root_stack_run_id("root");
    complete.set_fencing_token(1);
    if (tokened) complete.set_step_token("run/1/7");
    auto completed = store.CompleteRun(complete);
    if (tokened) {
      ASSERT_TRUE(completed.ok()) << completed.status();
      EXPECT_EQ(completed->id(), "run/1/7");
      EXPECT_EQ(service.received.load(), 3);
    } else {
      EXPECT_EQ(completed.status().code(), absl::StatusCode::kUnavailable);
      EXPECT_EQ(service.received.load(), 1);  // not known to be safe to repeat
    }
    v1::FailRunRequest fail;
    fail.set_root_stack_run_id("root");
    fail.set_step_token("run/1/8");
    auto failed = store.FailRun(fail);
    ASSERT_TRUE(failed.ok()) << failed.status();
    EXPECT_EQ(failed->id(), "run/1/8");
    runner.Shutdown();
  }
}

}  // namespace
}  // namespace tasker::storage
