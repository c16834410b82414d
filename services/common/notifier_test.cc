// The Notifier's pushes against scripted peers on real loopback ports: a
// lone push goes at once; pushes made while one is on the wire to the same
// peer leave together in the next; nothing is lost or sent twice.
#include "services/common/notifier.h"

#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/server/server.h"

namespace tasker::services {
namespace {

namespace v1 = ::tasker::v1;

// Holds the first request of each kind until released, and records every
// request's ids.
class Gate {
 public:
  void Enter() {
    std::unique_lock<std::mutex> lock(mu_);
    if (entered_++ == 0) cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Record(std::vector<std::string> ids) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(ids));
  }
  std::vector<std::vector<std::string>> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  bool WaitForEntered(int n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (entered_ >= n) return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
  std::vector<std::vector<std::string>> requests_;
};

class ScriptedExecutor : public v1::Executor::Service {
 public:
  grpc::Status DeliverResults(grpc::ServerContext*, const v1::DeliverResultsRequest* request,
                              v1::DeliverResultsResponse* response) override {
    std::vector<std::string> ids;
    for (const auto& call : request->calls()) ids.push_back(call.id());
    gate.Record(ids);
    gate.Enter();
    response->set_accepted(request->calls_size());
    return grpc::Status::OK;
  }
  Gate gate;
};

class ScriptedProcessor : public v1::StackProcessor::Service {
 public:
  grpc::Status NotifyCalls(grpc::ServerContext*, const v1::NotifyCallsRequest* request,
                           v1::NotifyCallsResponse*) override {
    std::vector<std::string> ids;
    for (const auto& call : request->calls()) ids.push_back(call.id());
    gate.Record(ids);
    gate.Enter();
    return grpc::Status::OK;
  }
  Gate gate;
};

v1::StackRunRecord Call(int i) {
  v1::StackRunRecord call;
  call.set_id(absl::StrCat("sr", i));
  call.set_parent_id("root");
  call.set_call_id(absl::StrCat("c", i));
  call.set_status(v1::STACK_RUN_STATUS_COMPLETED);
  return call;
}

// Every id exactly once, over all requests.
std::multiset<std::string> AllIds(const std::vector<std::vector<std::string>>& requests) {
  std::multiset<std::string> ids;
  for (const auto& r : requests) ids.insert(r.begin(), r.end());
  return ids;
}

TEST(NotifierTest, ResultsPushedWhileOneIsOnTheWireLeaveTogether) {
  ScriptedExecutor executor;
  ServerRunner runner(ServerConfig{.component = "scripted-executor", .authenticator = tasker::Authenticator::InsecureDev()});
  runner.AddService(&executor, "*", tasker::Roles::All());
  ASSERT_TRUE(runner.Start().ok());
  Notifier notifier({}, {}, ClientConfig{});
  notifier.DeliverResult(runner.local_target(), Call(0));
  ASSERT_TRUE(executor.gate.WaitForEntered(1));  // the first push is held on the wire
  for (int i = 1; i <= 9; ++i) notifier.DeliverResult(runner.local_target(), Call(i));
  executor.gate.Open();
  notifier.Flush();
  const auto requests = executor.gate.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0], std::vector<std::string>{"sr0"});
  EXPECT_EQ(requests[1].size(), 9u);
  std::multiset<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.insert(absl::StrCat("sr", i));
  EXPECT_EQ(AllIds(requests), expected);
  // Once the lane is idle, a lone push goes at once, alone.
  notifier.DeliverResult(runner.local_target(), Call(10));
  notifier.Flush();
  ASSERT_EQ(executor.gate.requests().size(), 3u);
  EXPECT_EQ(executor.gate.requests()[2], std::vector<std::string>{"sr10"});
  runner.Shutdown();
}

TEST(NotifierTest, DispatchesWhileOneIsOnTheWireLeaveTogether) {
  ScriptedProcessor processor;
  ServerRunner runner(ServerConfig{.component = "scripted-processor", .authenticator = tasker::Authenticator::InsecureDev()});
  runner.AddService(&processor, "*", tasker::Roles::All());
  ASSERT_TRUE(runner.Start().ok());
  Notifier notifier({}, {runner.local_target()}, ClientConfig{});
  notifier.DispatchCalls({Call(0)});
  ASSERT_TRUE(processor.gate.WaitForEntered(1));
  for (int i = 1; i <= 6; i += 2) notifier.DispatchCalls({Call(i), Call(i + 1)});
  processor.gate.Open();
  notifier.Flush();
  const auto requests = processor.gate.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1], (std::vector<std::string>{"sr1", "sr2", "sr3", "sr4", "sr5", "sr6"}));
  runner.Shutdown();
}

TEST(NotifierTest, AnUnreachableExecutorLosesOnlyThePushes) {
  // Pushes are best effort: a dead peer fails them (storage has the results)
  // and the lane is free again for the next ones.
  Notifier notifier({}, {}, ClientConfig{});
  for (int i = 0; i < 5; ++i) notifier.DeliverResult("127.0.0.1:1", Call(i));
  notifier.Flush();
  ScriptedExecutor executor;
  ServerRunner runner(ServerConfig{.component = "scripted-executor", .authenticator = tasker::Authenticator::InsecureDev()});
  runner.AddService(&executor, "*", tasker::Roles::All());
  ASSERT_TRUE(runner.Start().ok());
  executor.gate.Open();
  notifier.DeliverResult(runner.local_target(), Call(7));
  notifier.Flush();
  ASSERT_EQ(executor.gate.requests().size(), 1u);
  EXPECT_EQ(executor.gate.requests()[0], std::vector<std::string>{"sr7"});
  runner.Shutdown();
}

TEST(NotifierTest, WhatWaitsForAPeerIsBounded) {
  ScriptedExecutor executor;
  ServerRunner runner(ServerConfig{.component = "scripted-executor", .authenticator = tasker::Authenticator::InsecureDev()});
  runner.AddService(&executor, "*", tasker::Roles::All());
  ASSERT_TRUE(runner.Start().ok());
  Notifier notifier({}, {}, ClientConfig{}, NotifierOptions{.max_queued = 10});
  notifier.DeliverResult(runner.local_target(), Call(0));
  ASSERT_TRUE(executor.gate.WaitForEntered(1));  // held on the wire
  for (int i = 1; i <= 25; ++i) notifier.DeliverResult(runner.local_target(), Call(i));
  EXPECT_EQ(notifier.dropped(), 15);
  executor.gate.Open();
  notifier.Flush();
  ASSERT_EQ(executor.gate.requests().size(), 2u);
  EXPECT_EQ(executor.gate.requests()[1].size(), 10u);
  runner.Shutdown();
}

TEST(NotifierTest, ExecutorsKeptAreBounded) {
  Notifier notifier({}, {}, ClientConfig{}, NotifierOptions{.deadline = absl::Milliseconds(200), .max_executor_peers = 3});
  for (int i = 0; i < 10; ++i) {
    notifier.DeliverResult(absl::StrCat("127.0.0.1:", i + 1), Call(i));
    notifier.Flush();  // answered (failed): the peer is idle
  }
  EXPECT_LE(notifier.executor_peers(), 3);
  // A live one still gets its pushes.
  ScriptedExecutor executor;
  ServerRunner runner(ServerConfig{.component = "scripted-executor", .authenticator = tasker::Authenticator::InsecureDev()});
  runner.AddService(&executor, "*", tasker::Roles::All());
  ASSERT_TRUE(runner.Start().ok());
  executor.gate.Open();
  notifier.DeliverResult(runner.local_target(), Call(42));
  notifier.Flush();
  ASSERT_EQ(executor.gate.requests().size(), 1u);
  EXPECT_LE(notifier.executor_peers(), 3);
  runner.Shutdown();
}

// A processor that does not answer (frozen): the dispatch is not resent to
// another processor with the same fencing token (the frozen one could still
// perform it), and the next dispatches pass it over.
TEST(NotifierTest, AnUnansweringProcessorIsPassedOverWithoutResendingItsCalls) {
  ScriptedProcessor frozen, healthy;
  ServerRunner frozen_runner(ServerConfig{.component = "frozen", .authenticator = tasker::Authenticator::InsecureDev()});
  frozen_runner.AddService(&frozen, "*", tasker::Roles::All());
  ASSERT_TRUE(frozen_runner.Start().ok());
  ServerRunner healthy_runner(ServerConfig{.component = "healthy", .authenticator = tasker::Authenticator::InsecureDev()});
  healthy_runner.AddService(&healthy, "*", tasker::Roles::All());
  ASSERT_TRUE(healthy_runner.Start().ok());
  healthy.gate.Open();
  Notifier notifier({}, {frozen_runner.local_target(), healthy_runner.local_target()}, ClientConfig{},
                    NotifierOptions{.deadline = absl::Milliseconds(300), .suspect_for = absl::Seconds(30)});
  notifier.DispatchCalls({Call(0)});  // round-robin: to the frozen one
  ASSERT_TRUE(frozen.gate.WaitForEntered(1));
  absl::SleepFor(absl::Milliseconds(600));  // its deadline passes
  for (int i = 1; i <= 4; ++i) notifier.DispatchCalls({Call(i)});
  // Every later dispatch went to the healthy one; sr0 was not resent.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (AllIds(healthy.gate.requests()).size() < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(AllIds(healthy.gate.requests()), (std::multiset<std::string>{"sr1", "sr2", "sr3", "sr4"}));
  frozen.gate.Open();
  notifier.Flush();
  frozen_runner.Shutdown();
  healthy_runner.Shutdown();
}

}  // namespace
}  // namespace tasker::services
