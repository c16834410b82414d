// Logs (JSON lines with the thread's context), trace ids, metrics and the
// /metrics exposer, in one process.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/trace.h"

namespace tasker {
namespace {

// Runs `fn` with stderr sent to a file; returns what was written.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  const std::string path = ::testing::TempDir() + "/stderr.txt";
  std::fflush(stderr);
  const int saved = dup(fileno(stderr));
  FILE* file = std::fopen(path.c_str(), "w");
  dup2(fileno(file), fileno(stderr));
  fn();
  std::fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  std::fclose(file);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<nlohmann::json> Lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::stringstream s(text);
  std::string line;
  while (std::getline(s, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(LogTest, LinesAreJsonWithServiceAndTheThreadsContext) {
  SetLogComponent("unit");
  SetLogLevel(LogLevel::kInfo);
  const std::string text = CaptureStderr([] {
    LogInfo("plain", {{"k", "a \"quoted\"\nvalue"}, {"service", "not the process's"}});
    {
      ScopedLogContext context(RunLogContext("run_abc", "sr_1"));
      LogInfo("in a run");
      // A line naming an id itself keeps its own.
      LogInfo("own ids", {{"run_id", "run_other"}});
      {
        ScopedLogContext inner(LogContext{"", "", ""});
        LogInfo("cleared");
      }
      LogInfo("restored");
    }
    LogDebug("not written at info");
    LogInfo("after");
  });
  auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 6u) << text;
  EXPECT_EQ(lines[0]["service"], "unit");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["msg"], "plain");
  EXPECT_EQ(lines[0]["k"], "a \"quoted\"\nvalue");
  // A field named like a common key is renamed, never a duplicate key.
  EXPECT_EQ(lines[0]["field_service"], "not the process's");
  EXPECT_TRUE(lines[0].contains("ts"));
  EXPECT_FALSE(lines[0].contains("run_id"));
  EXPECT_EQ(lines[1]["run_id"], "run_abc");
  EXPECT_EQ(lines[1]["stack_run_id"], "sr_1");
  EXPECT_EQ(lines[1]["trace_id"], TraceIdForRun("run_abc"));
  EXPECT_EQ(lines[2]["run_id"], "run_other");
  EXPECT_EQ(lines[2]["stack_run_id"], "sr_1");
  EXPECT_FALSE(lines[3].contains("run_id"));
  EXPECT_FALSE(lines[3].contains("trace_id"));
  EXPECT_EQ(lines[4]["run_id"], "run_abc");
  EXPECT_EQ(lines[5]["msg"], "after");
  EXPECT_FALSE(lines[5].contains("run_id"));
}

TEST(LogTest, ContextIsPerThread) {
  ScopedLogContext context(RunLogContext("run_main"));
  std::string seen = "unset";
  std::thread([&] { seen = CurrentLogContext().run_id; }).join();
  EXPECT_EQ(seen, "");
  EXPECT_EQ(CurrentLogContext().run_id, "run_main");
}

TEST(TraceTest, RunTraceIdIsSha256OfTheRunId) {
  // printf 'tasker-run:run_abc' | sha256sum | cut -c1-32
  EXPECT_EQ(TraceIdForRun("run_abc"), "ac8a879683f47b09c77527db03b6e987");
  EXPECT_EQ(TraceIdForRun("run_abc"), TraceIdForRun("run_abc"));
  EXPECT_NE(TraceIdForRun("run_abc"), TraceIdForRun("run_abd"));
  EXPECT_EQ(TraceIdForRun(""), "");
}

TEST(TraceTest, ParsesAndFormatsTraceParent) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto parsed = ParseTraceParent(header);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(parsed->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(parsed->sampled);
  EXPECT_EQ(FormatTraceParent(parsed->trace_id, parsed->span_id), header);
  EXPECT_FALSE(ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // A later version may append fields.
  EXPECT_TRUE(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").has_value());
  for (const char* bad : {"", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(ParseTraceParent(bad).has_value()) << bad;
  }
  EXPECT_EQ(NewTraceId().size(), 32u);
  EXPECT_EQ(NewSpanId().size(), 16u);
  EXPECT_NE(NewTraceId(), NewTraceId());
  EXPECT_TRUE(ParseTraceParent(FormatTraceParent(NewTraceId(), NewSpanId())).has_value());
}

TEST(MetricsTest, LabelledSeriesAreBounded) {
  metrics::Counters counters("test_bounded_total", "Test.", {"service", "method"}, 3);
  counters.With({"a", "1"}).Increment();
  counters.With({"a", "1"}).Increment();
  counters.With({"a", "2"}).Increment();
  counters.With({"b", "1"}).Increment();
  for (int i = 0; i < 10; ++i) counters.With({"c", std::to_string(i)}).Increment();
  const std::string text = metrics::Render();
  EXPECT_NE(text.find("test_bounded_total{method=\"1\",service=\"a\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("test_bounded_total{method=\"other\",service=\"other\"} 10"), std::string::npos) << text;
  EXPECT_EQ(text.find("service=\"c\""), std::string::npos) << text;
}

TEST(MetricsTest, ExposerServesMetricsOnAPickedPort) {
  metrics::Counter("test_exposed_total", "Test.").Increment(3);
  metrics::Histograms latency("test_latency_seconds", "Test.", {"service"});
  latency.With({"gapi"}).Observe(0.02);
  std::atomic<int> depth{7};
  {
    metrics::ScrapedValue gauge("test_queue_depth", "Test.", metrics::ScrapedValue::Type::kGauge,
                                {{"queue", "calls"}}, [&] { return depth.load(); });
    auto port = metrics::StartMetricsExposer("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_GT(*port, 0);
    EXPECT_FALSE(metrics::StartMetricsExposer("127.0.0.1:0").ok());
    httplib::Client client("127.0.0.1", *port);
    auto response = client.Get("/metrics");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->body.find("test_exposed_total 3"), std::string::npos) << response->body;
    EXPECT_NE(response->body.find("test_latency_seconds_count{service=\"gapi\"} 1"), std::string::npos);
    EXPECT_NE(response->body.find("test_queue_depth{queue=\"calls\"} 7"), std::string::npos);
  }
  // Unregistered with its owner.
  EXPECT_EQ(metrics::Render().find("test_queue_depth"), std::string::npos);
  metrics::StopMetricsExposer();
  EXPECT_FALSE(metrics::StartMetricsExposer("nonsense").ok());
}

}  // namespace
}  // namespace tasker
