// Observability of a real stack (docs/observability.md): after a run with
// host calls, every service's /metrics shows that run's counters; every log
// line of every service is one JSON object; the run is found by its id in
// the executor's, processor's, proxy's and storage's logs, under one trace
// id (derived from the run id); a client's traceparent is honoured at submit;
// a run taken over after its executor died keeps its trace and is counted.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "runtime/client/channel.h"
#include "runtime/common/trace.h"
#include "tests/e2e/stack.h"

namespace tasker::e2e {
namespace {

namespace v1 = ::tasker::v1;

// The value of the series named exactly `series` ("name{labels}" with the
// labels in name order, as prometheus-cpp writes them); -1 when absent.
double Value(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return -1;
}

std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  auto response = client.Get("/metrics");
  if (!response || response->status != 200) return "";
  return response->body;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StackOptions options;
    options.metrics = true;
    // Debug lines too: every one of them must be JSON as well.
    options.env = {{"TASKER_LOG_LEVEL", "debug"}};
    auto stack = Stack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }
  void TearDown() override {
    if (HasFailure() && stack_) std::fprintf(stderr, "%s\n", stack_->Logs().substr(0, 30000).c_str());
  }
  std::unique_ptr<Stack> stack_;
};

TEST_F(ObservabilityTest, ARunIsSeenInEveryServicesMetricsAndLogsUnderOneTrace) {
  ASSERT_TRUE(stack_
                  ->Publish("observed", R"(
    const d = await __callHostTool__('gapi', 'admin.domains.list', {customer: 'my_customer'});
    const e = await __callHostTool__('admin-debug', 'echo', {n: d.domains.length});
    return e.n;
  )")
                  .ok());

  // Submitted with the client's own trace: the executor answers with the
  // run's trace, and logs the link.
  const std::string client_trace = NewTraceId();
  v1::SubmitRunRequest request;
  request.set_task_identifier("observed");
  request.set_input_json("{}");
  v1::SubmitRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  context->AddMetadata("traceparent", FormatTraceParent(client_trace, NewSpanId()));
  grpc::Status status = stack_->api()->SubmitRun(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string run_id = response.run().id();
  const std::string trace_id = TraceIdForRun(run_id);
  auto header = context->GetServerInitialMetadata().find("traceresponse");
  ASSERT_NE(header, context->GetServerInitialMetadata().end());
  auto answered = ParseTraceParent(std::string(header->second.data(), header->second.size()));
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->trace_id, trace_id);

  auto run = stack_->Wait(run_id, absl::Seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();

  // Metrics: the run's counters moved in every service.
  std::map<std::string, std::string> scraped;
  for (const std::string& name : stack_->components()) {
    const int port = stack_->metrics_port(name);
    ASSERT_GT(port, 0) << name;
    scraped[name] = Scrape(port);
    ASSERT_FALSE(scraped[name].empty()) << name;
    EXPECT_TRUE(absl::StrContains(scraped[name], "# TYPE tasker_grpc_server_requests_total counter")) << name;
  }
  const std::string& executor = scraped["executor0"];
  EXPECT_EQ(Value(executor, R"(tasker_runs_total{status="submitted"})"), 1) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_runs_total{status="completed"})"), 1) << executor;
  EXPECT_EQ(Value(executor, "tasker_executor_runs_started_total"), 1) << executor;
  EXPECT_EQ(Value(executor, "tasker_executor_suspensions_total"), 2) << executor;
  EXPECT_EQ(Value(executor, "tasker_executor_results_delivered_total"), 2) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_step_duration_seconds_count{kind="start"})"), 1) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_step_duration_seconds_count{kind="deliver"})"), 2) << executor;
  EXPECT_GT(Value(executor, R"(tasker_step_duration_seconds_sum{kind="start"})"), 0) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_grpc_server_requests_total{code="OK",method="/tasker.v1.TaskService/SubmitRun"})"),
            1)
      << executor;
  EXPECT_GE(Value(executor, R"(tasker_work_queue_depth{queue="executor_claims"})"), 0) << executor;
  EXPECT_EQ(Value(executor, "tasker_executor_warm_runs"), 0) << executor;
  EXPECT_EQ(Value(executor, "tasker_worker_restarts_total"), 0) << executor;

  const std::string& processor = scraped["processor0"];
  EXPECT_EQ(Value(processor, R"(tasker_host_calls_total{method="admin.domains.list",outcome="ok",service="gapi"})"), 1)
      << processor;
  EXPECT_EQ(Value(processor, R"(tasker_host_calls_total{method="echo",outcome="ok",service="admin-debug"})"), 1)
      << processor;
  EXPECT_EQ(Value(processor, R"(tasker_host_call_duration_seconds_count{service="gapi"})"), 1) << processor;
  EXPECT_EQ(Value(processor, "tasker_processor_calls_held"), 0) << processor;

  const std::string& proxy = scraped["proxy"];
  EXPECT_EQ(Value(proxy, R"(tasker_proxy_calls_total{code="OK",method="admin.domains.list",service="gapi"})"), 1)
      << proxy;
  EXPECT_EQ(Value(proxy, R"(tasker_proxy_call_duration_seconds_count{service="gapi"})"), 1) << proxy;
  EXPECT_EQ(Value(proxy, R"(tasker_grpc_server_requests_total{code="OK",method="/tasker.v1.WrappedServiceProxy/Call"})"),
            2)
      << proxy;

  const std::string& storage = scraped["storage"];
  EXPECT_EQ(Value(storage, R"(tasker_grpc_server_requests_total{code="OK",method="/tasker.v1.Storage/SubmitTaskRun"})"), 1)
      << storage;
  // The run's steps and call results were written (RecordCalls, CompleteCall,
  // CompleteRun travel in write batches).
  EXPECT_GE(Value(storage, R"(tasker_grpc_server_requests_total{code="OK",method="/tasker.v1.Storage/WriteBatch"})"),
            4)
      << storage;
  EXPECT_GE(Value(storage, R"(tasker_grpc_server_request_duration_seconds_count{method="/tasker.v1.Storage/WriteBatch"})"),
            4)
      << storage;
  EXPECT_GE(Value(storage, R"(tasker_work_queue_depth{queue="storage_handlers"})"), 0) << storage;
  // The keystore was called (the stack seeds it; the gapi provider reads its key there).
  EXPECT_GE(Value(scraped["keystore"], R"(tasker_grpc_server_requests_total{code="OK",method="/tasker.v1.Keystore/SetKey"})"),
            1)
      << scraped["keystore"];

  // Logs: every line of every service is a JSON object with the common
  // fields; the run is found by its id in every service it went through,
  // always under its trace id.
  std::map<std::string, std::vector<nlohmann::json>> run_lines;
  bool client_trace_linked = false;
  int debug_lines = 0;
  for (const std::string& name : stack_->components()) {
    std::ifstream in(stack_->LogPath(name));
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(entry.is_discarded()) << name << ": not JSON: " << line;
      ASSERT_TRUE(entry.is_object()) << name << ": " << line;
      for (const char* field : {"ts", "level", "msg", "service"}) {
        ASSERT_TRUE(entry.contains(field) && entry[field].is_string()) << name << ": no " << field << ": " << line;
      }
      if (entry["level"] == "debug") ++debug_lines;
      if (entry.value("client_trace_id", "") == client_trace) client_trace_linked = true;
      if (entry.value("run_id", "") != run_id) continue;
      EXPECT_EQ(entry.value("trace_id", ""), trace_id) << name << ": " << line;
      run_lines[name].push_back(entry);
    }
    EXPECT_GT(lines, 0) << name;
  }
  EXPECT_GT(debug_lines, 0);
  EXPECT_TRUE(client_trace_linked);
  auto messages = [&](const std::string& name) {
    std::set<std::string> out;
    for (const auto& entry : run_lines[name]) out.insert(entry["msg"].get<std::string>());
    return out;
  };
  for (const char* msg : {"run submitted", "run started", "run suspended on calls", "call result delivered",
                          "run completed"}) {
    EXPECT_TRUE(messages("executor0").count(msg)) << msg;
  }
  EXPECT_TRUE(messages("processor0").count("call completed"));
  EXPECT_TRUE(messages("proxy").count("call served"));
  EXPECT_TRUE(messages("storage").count("run stored"));
  // The calls' lines name their stack runs; the processor's name the call's.
  for (const auto& entry : run_lines["processor0"]) EXPECT_TRUE(entry.contains("stack_run_id"));
  // The submission's own lines in storage and the executor carried the client's trace.
  bool storage_under_client_trace = false;
  std::ifstream in(stack_->LogPath("storage"));
  for (std::string line; std::getline(in, line);) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.value("msg", "") == "run stored" && entry.value("client_trace_id", "") == client_trace) {
      storage_under_client_trace = true;
    }
  }
  EXPECT_TRUE(storage_under_client_trace);
}


// A run whose executor dies keeps its trace: the restarted executor takes it
// over (storage counts and logs the takeover) and logs the rest of its life
// under the same trace id; the new executor's metrics count the resumption.
TEST_F(ObservabilityTest, ATakenOverRunKeepsItsTraceAndIsCounted) {
  ASSERT_TRUE(stack_
                  ->Publish("survivor", R"(
    const a = await __callHostTool__('admin-debug', 'sleep', {ms: 1500});
    return a.slept;
  )")
                  .ok());
  auto id = stack_->Submit("survivor", "{}");
  ASSERT_TRUE(id.ok()) << id.status();
  const std::string trace_id = TraceIdForRun(*id);
  // Kill the executor while the run waits on its call.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto performing = [&] {
    std::ifstream in(stack_->LogPath("processor0"));
    for (std::string line; std::getline(in, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (entry.value("msg", "") == "performing call" && entry.value("run_id", "") == *id) return true;
    }
    return false;
  };
  while (!performing()) {
    ASSERT_LT(absl::Now(), deadline) << "the call never started";
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(stack_->KillAndRestart("executor0").ok());
  auto run = stack_->Wait(*id, absl::Seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->status(), v1::RUN_STATUS_COMPLETED) << run->error().message();

  const std::string storage = Scrape(stack_->metrics_port("storage"));
  EXPECT_GE(Value(storage, R"(tasker_lease_takeovers_total{kind="run"})"), 1) << storage;
  const std::string executor = Scrape(stack_->metrics_port("executor0"));  // the new process
  EXPECT_EQ(Value(executor, "tasker_executor_runs_resumed_total"), 1) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_runs_total{status="completed"})"), 1) << executor;
  EXPECT_EQ(Value(executor, R"(tasker_step_duration_seconds_count{kind="rebuild"})"), 1) << executor;

  // Both executor processes' lines (one log file), storage's takeover line:
  // one trace.
  std::set<std::string> executor_messages;
  std::ifstream in(stack_->LogPath("executor0"));
  for (std::string line; std::getline(in, line);) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(entry.is_discarded()) << line;
    if (entry.value("run_id", "") != *id) continue;
    EXPECT_EQ(entry.value("trace_id", ""), trace_id) << line;
    executor_messages.insert(entry.value("msg", ""));
  }
  for (const char* msg : {"run submitted", "run started", "run resumed", "run completed"}) {
    EXPECT_TRUE(executor_messages.count(msg)) << msg;
  }
  bool takeover_logged = false;
  std::ifstream storage_log(stack_->LogPath("storage"));
  for (std::string line; std::getline(storage_log, line);) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.value("msg", "") == "lease taken over" && entry.value("run_id", "") == *id) {
      takeover_logged = true;
      EXPECT_EQ(entry.value("trace_id", ""), trace_id) << line;
      EXPECT_EQ(entry.value("kind", ""), "run") << line;
    }
  }
  EXPECT_TRUE(takeover_logged);
}

}  // namespace
}  // namespace tasker::e2e
