// FaultInjectingStore over a real SQLite store: which calls a rule changes,
// and what each fault does (or does not do) to the inner store.
#include "storage/testing/fault_injecting_store.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/open_store.h"
#include "tests/support/process.h"

namespace tasker::storage::testing {
namespace {

using Fault = FaultInjectingStore::Fault;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore(absl::StrCat("sqlite://", tasker::testing::MakeTempDir("x"), "/t.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    inner_ = std::move(*store);
    faulty_ = std::make_unique<FaultInjectingStore>(inner_.get());
  }

  static v1::PublishTaskFunctionRequest PublishRequest(const std::string& id, const std::string& code) {
    v1::PublishTaskFunctionRequest request;
    request.set_identifier(id);
    request.set_code(code);
    return request;
  }

  static v1::GetFunctionRequest GetRequest(const std::string& id) {
    v1::GetFunctionRequest request;
    request.set_identifier(id);
    return request;
  }

  std::unique_ptr<Store> inner_;
  std::unique_ptr<FaultInjectingStore> faulty_;
};

TEST_F(FaultInjectingStoreTest, FailDoesNotReachTheInnerStore) {
  faulty_->Inject({.method = "PublishTaskFunction", .call = 1, .fault = Fault::kFail});
  auto failed = faulty_->PublishTaskFunction(PublishRequest("f", "return 1"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(), "injected fault");
  // Nothing was written: neither through the decorator nor in the inner store.
  EXPECT_EQ(faulty_->GetTaskFunction(GetRequest("f")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(inner_->GetTaskFunction(GetRequest("f")).status().code(), absl::StatusCode::kNotFound);
  // The next publish is the first one the store sees: version 1.
  auto published = faulty_->PublishTaskFunction(PublishRequest("f", "return 2"));
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->version(), 1);
  EXPECT_EQ(faulty_->Calls("PublishTaskFunction"), 2);
  EXPECT_EQ(faulty_->Injected("PublishTaskFunction"), 1);
}

TEST_F(FaultInjectingStoreTest, FailReturnsTheRuleStatusAndAnOkStatusBecomesUnavailable) {
  faulty_->Inject({.method = "GetTaskFunction",
                   .call = 1,
                   .fault = Fault::kFail,
                   .status = absl::ResourceExhaustedError("quota")});
  faulty_->Inject({.method = "ListTaskFunctions", .call = 1, .fault = Fault::kFail, .status = absl::OkStatus()});
  auto got = faulty_->GetTaskFunction(GetRequest("f"));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(got.status().message(), "quota");
  // A failure must carry an error: an OK status in a kFail rule is replaced.
  auto listed = faulty_->ListTaskFunctions(v1::ListFunctionsRequest());
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(FaultInjectingStoreTest, DropAnswerCommitsButReturnsTheError) {
  faulty_->Inject({.method = "PublishTaskFunction", .call = 1, .fault = Fault::kDropAnswer});
  auto dropped = faulty_->PublishTaskFunction(PublishRequest("f", "return 'kept'"));
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.status().code(), absl::StatusCode::kUnavailable);
  // The transaction committed: the function is there afterwards.
  auto in_inner = inner_->GetTaskFunction(GetRequest("f"));
  ASSERT_TRUE(in_inner.ok()) << in_inner.status();
  EXPECT_EQ(in_inner->version(), 1);
  EXPECT_EQ(in_inner->code(), "return 'kept'");
  auto through = faulty_->GetTaskFunction(GetRequest("f"));
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(through->code(), "return 'kept'");
  // A retry by the caller makes a second version: the first one was real.
  auto again = faulty_->PublishTaskFunction(PublishRequest("f", "return 'kept'"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version(), 2);
  EXPECT_EQ(faulty_->Injected("PublishTaskFunction"), 1);
}

TEST_F(FaultInjectingStoreTest, DropAnswerOfAStatusMethodCommits) {
  v1::KeystoreRow row;
  row.set_namespace_("ns");
  row.set_key("k");
  row.set_encrypted_value("secret");
  faulty_->Inject({.method = "PutKeystoreEntry",
                   .call = 1,
                   .fault = Fault::kDropAnswer,
                   .status = absl::DeadlineExceededError("lost")});
  absl::Status put = faulty_->PutKeystoreEntry(row);
  EXPECT_EQ(put.code(), absl::StatusCode::kDeadlineExceeded);
  auto stored = inner_->GetKeystoreEntry("ns", "k");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->encrypted_value(), "secret");
}

TEST_F(FaultInjectingStoreTest, CallAndTimesSelectExactlyTheIntendedCalls) {
  ASSERT_TRUE(inner_->PublishTaskFunction(PublishRequest("f", "return 1")).ok());
  // Calls 2 and 3 of GetTaskFunction fail; 1, 4 and 5 do not.
  faulty_->Inject({.method = "GetTaskFunction", .call = 2, .times = 2, .fault = Fault::kFail});
  std::vector<bool> ok;
  for (int i = 0; i < 5; ++i) ok.push_back(faulty_->GetTaskFunction(GetRequest("f")).ok());
  EXPECT_EQ(ok, (std::vector<bool>{true, false, false, true, true}));
  EXPECT_EQ(faulty_->Calls("GetTaskFunction"), 5);
  EXPECT_EQ(faulty_->Injected("GetTaskFunction"), 2);

  // times = 0: every call from `call` on.
  faulty_->Inject({.method = "ListTaskFunctions", .call = 3, .times = 0, .fault = Fault::kFail});
  ok.clear();
  for (int i = 0; i < 7; ++i) ok.push_back(faulty_->ListTaskFunctions(v1::ListFunctionsRequest()).ok());
  EXPECT_EQ(ok, (std::vector<bool>{true, true, false, false, false, false, false}));
  EXPECT_EQ(faulty_->Calls("ListTaskFunctions"), 7);
  EXPECT_EQ(faulty_->Injected("ListTaskFunctions"), 5);

  // Rules are per method, and so are the counts.
  EXPECT_EQ(faulty_->Calls("GetTaskFunction"), 5);
  EXPECT_EQ(faulty_->Injected("GetTaskFunction"), 2);
}

TEST_F(FaultInjectingStoreTest, CallsCountEveryMethodAndInjectedOnlyChangedCalls) {
  EXPECT_EQ(faulty_->Calls("SubmitRun"), 0);
  EXPECT_EQ(faulty_->Injected("SubmitRun"), 0);
  ASSERT_TRUE(faulty_->PublishTaskFunction(PublishRequest("f", "return 1")).ok());
  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier("f");
  ASSERT_TRUE(faulty_->SubmitRun(submit).ok());
  ASSERT_TRUE(faulty_->SubmitRun(submit).ok());
  // A failing call counts as a call too (the store still answers NOT_FOUND).
  submit.set_task_identifier("missing");
  EXPECT_EQ(faulty_->SubmitRun(submit).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(faulty_->Calls("SubmitRun"), 3);
  EXPECT_EQ(faulty_->Injected("SubmitRun"), 0);
  EXPECT_EQ(faulty_->Calls("PublishTaskFunction"), 1);
  EXPECT_EQ(faulty_->Calls("ClaimWork"), 0);
  // A rule on another method changes nothing here.
  faulty_->Inject({.method = "ClaimWork", .call = 1, .times = 0, .fault = Fault::kFail});
  submit.set_task_identifier("f");
  ASSERT_TRUE(faulty_->SubmitRun(submit).ok());
  EXPECT_EQ(faulty_->Calls("SubmitRun"), 4);
  EXPECT_EQ(faulty_->Injected("SubmitRun"), 0);
  EXPECT_EQ(faulty_->Injected("ClaimWork"), 0);
}

TEST_F(FaultInjectingStoreTest, DelayDelaysThenMakesTheCall) {
  const absl::Duration delay = absl::Milliseconds(150);
  faulty_->Inject({.method = "PublishTaskFunction", .call = 1, .fault = Fault::kDelay, .delay = delay});
  const absl::Time start = absl::Now();
  auto published = faulty_->PublishTaskFunction(PublishRequest("f", "return 1"));
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_GE(elapsed, delay);
  EXPECT_EQ(published->version(), 1);
  EXPECT_TRUE(inner_->GetTaskFunction(GetRequest("f")).ok());
  EXPECT_EQ(faulty_->Injected("PublishTaskFunction"), 1);
  // The rule covered one call only.
  ASSERT_TRUE(faulty_->PublishTaskFunction(PublishRequest("f", "return 2")).ok());
  EXPECT_EQ(faulty_->Injected("PublishTaskFunction"), 1);
  EXPECT_EQ(faulty_->Calls("PublishTaskFunction"), 2);
}

TEST_F(FaultInjectingStoreTest, ClearRemovesRulesButKeepsCounting) {
  faulty_->Inject({.method = "ListTaskFunctions", .call = 1, .times = 0, .fault = Fault::kFail});
  faulty_->Inject({.method = "GetTaskFunction", .call = 1, .times = 0, .fault = Fault::kFail});
  EXPECT_FALSE(faulty_->ListTaskFunctions(v1::ListFunctionsRequest()).ok());
  EXPECT_FALSE(faulty_->ListTaskFunctions(v1::ListFunctionsRequest()).ok());
  faulty_->Clear();
  EXPECT_TRUE(faulty_->ListTaskFunctions(v1::ListFunctionsRequest()).ok());
  EXPECT_TRUE(faulty_->ListTaskFunctions(v1::ListFunctionsRequest()).ok());
  EXPECT_EQ(faulty_->GetTaskFunction(GetRequest("f")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(faulty_->Calls("ListTaskFunctions"), 4);
  EXPECT_EQ(faulty_->Injected("ListTaskFunctions"), 2);
  EXPECT_EQ(faulty_->Injected("GetTaskFunction"), 0);
}

}  // namespace
}  // namespace tasker::storage::testing
