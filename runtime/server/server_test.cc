// The shared server runner, exercised through a real binary on port 0.
#include "runtime/server/server.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"
#include "runtime/server/auth.h"
#include "runtime/server/testing/echo.grpc.pb.h"
#include "tests/support/process.h"

namespace tasker {
namespace {

using ::tasker::testing::RunCommand;
using ::tasker::testing::Runfile;
using ::tasker::testing::Subprocess;
using ::tasker::testing::v1::Echo;
using ::tasker::testing::v1::EchoRequest;
using ::tasker::testing::v1::EchoResponse;

constexpr char kToken[] = "s3cret-token-for-tests";

class EchoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tasker::testing::MakeTempDir("echo");
    const std::string token_file = dir_ + "/token";
    std::ofstream(token_file) << kToken << "\n";
    port_file_ = dir_ + "/port";
    auto process = Subprocess::Start(
        {Runfile("runtime/server/testing/echo_server"), "--listen=127.0.0.1:0",
         "--port_file=" + port_file_, "--auth_token_file=" + token_file,
         "--shutdown_grace=5s"},
        {}, dir_ + "/server.log");
    ASSERT_TRUE(process.ok()) << process.status();
    server_ = std::move(*process);
    auto port = tasker::testing::WaitForPortFile(port_file_, absl::Seconds(20));
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    target_ = absl::StrCat("127.0.0.1:", port_);
  }

  std::string ServerLog() {
    std::ifstream in(dir_ + "/server.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::unique_ptr<Echo::Stub> Stub(const std::string& token) {
    auto channel = MakeChannel({.target = target_, .auth_token = token});
    EXPECT_TRUE(channel.ok());
    return Echo::NewStub(*channel);
  }

  grpc::Status CallEcho(Echo::Stub* stub, const std::string& message,
                        int delay_ms, EchoResponse* response) {
    EchoRequest request;
    request.set_message(message);
    request.set_delay_ms(delay_ms);
    auto context = MakeContext(absl::Seconds(20));
    return stub->Echo(context.get(), request, response);
  }

  std::string dir_;
  std::string port_file_;
  std::string target_;
  int port_ = 0;
  std::unique_ptr<Subprocess> server_;
};

TEST_F(EchoServerTest, ReportsBoundPortAndServes) {
  EXPECT_GT(port_, 0);
  EchoResponse response;
  grpc::Status status = CallEcho(Stub(kToken).get(), "hello", 0, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "hello");
}

TEST_F(EchoServerTest, HealthIsServingWithoutToken) {
  auto channel = MakeChannel({.target = target_});
  ASSERT_TRUE(channel.ok());
  auto health = CheckHealth(*channel, "", absl::Seconds(10));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST_F(EchoServerTest, MissingOrWrongTokenIsUnauthenticated) {
  EchoResponse response;
  grpc::Status none = CallEcho(Stub("").get(), "x", 0, &response);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("bearer token"), std::string::npos);
  grpc::Status wrong = CallEcho(Stub("not-the-token").get(), "x", 0, &response);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status prefix = CallEcho(Stub("s3cret").get(), "x", 0, &response);
  EXPECT_EQ(prefix.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(EchoServerTest, ReflectionListsServicesToARealReflectionClient) {
  const std::string buf = "/opt/tasker-npm/node_modules/@bufbuild/buf-linux-x64/bin/buf";
  std::ifstream probe(buf);
  ASSERT_TRUE(probe.good()) << "buf is not installed; run tools/setup";
  auto [code, output] = RunCommand(absl::StrCat(
      "HOME=", dir_, " ", buf,
      " curl --protocol grpc --http2-prior-knowledge --list-services "
      "--reflect-header 'Authorization: Bearer ",
      kToken, "' http://", target_));
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("tasker.testing.v1.Echo"), std::string::npos) << output;
  // And a call through reflection-resolved schemas.
  auto [call_code, call_output] = RunCommand(absl::StrCat(
      "HOME=", dir_, " ", buf,
      " curl --protocol grpc --http2-prior-knowledge -H 'Authorization: Bearer ",
      kToken, "' --reflect-header '*' -d '{\"message\":\"via-buf\"}' http://", target_,
      "/tasker.testing.v1.Echo/Echo"));
  ASSERT_EQ(call_code, 0) << call_output;
  EXPECT_NE(call_output.find("via-buf"), std::string::npos) << call_output;
  // Without the token, reflection is refused too.
  auto [denied_code, denied_output] = RunCommand(absl::StrCat(
      "HOME=", dir_, " ", buf,
      " curl --protocol grpc --http2-prior-knowledge --list-services http://", target_));
  EXPECT_NE(denied_code, 0);
  EXPECT_NE(denied_output.find("not authenticated"), std::string::npos) << denied_output;
}

TEST_F(EchoServerTest, SigtermDrainsInFlightCallThenExits) {
  auto stub = Stub(kToken);
  {
    // Connect first, so the slow call goes out at once.
    EchoResponse warm;
    grpc::Status status = CallEcho(stub.get(), "warm", 0, &warm);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const absl::Time start = absl::Now();
  auto in_flight = std::async(std::launch::async, [&] {
    EchoResponse response;
    grpc::Status status = CallEcho(stub.get(), "finishing", 1500, &response);
    return std::make_pair(status, response.message());
  });
  // The echo server does not log calls, so what follows proves the call was in
  // flight: the shutdown began before it returned, and once the shutdown has
  // begun the server accepts no new call, yet this one then ran to the end.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server_->Signal(SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (ServerLog().find("shutting down") == std::string::npos) {
    ASSERT_LT(absl::Now(), deadline) << "no shutdown after SIGTERM:\n" << ServerLog();
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(in_flight.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the call ended before the shutdown began";
  auto [status, message] = in_flight.get();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(message, "finishing");
  EXPECT_GE(took, absl::Milliseconds(1500));  // the server slept the whole delay
  auto exit_status = server_->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  // After exit, new calls fail.
  EchoResponse response;
  auto fresh = Stub(kToken);
  EchoRequest request;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(fresh->Echo(&context, request, &response).ok());
}

TEST(ServerRunnerTest, PortZeroGivesDistinctPortsAndBadAddressIsRejected) {
  ServerRunner a(ServerConfig{.listen_address = "127.0.0.1:0"});
  ServerRunner b(ServerConfig{.listen_address = "127.0.0.1:0"});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_GT(a.port(), 0);
  EXPECT_GT(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  ServerRunner bad(ServerConfig{.listen_address = "no-port-here"});
  EXPECT_EQ(bad.Start().code(), absl::StatusCode::kInvalidArgument);
  ServerRunner taken(ServerConfig{.listen_address = absl::StrCat("127.0.0.1:", a.port())});
  EXPECT_EQ(taken.Start().code(), absl::StatusCode::kUnavailable);
}

TEST(BearerTokenTest, ComparesExactly) {
  EXPECT_TRUE(BearerTokenMatches("Bearer abc", "abc"));
  EXPECT_TRUE(BearerTokenMatches("bearer abc", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer abd", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer abcd", "abc"));
  EXPECT_FALSE(BearerTokenMatches("abc", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));
}

TEST(ChannelTest, RejectsBadTargets) {
  EXPECT_EQ(MakeChannel({.target = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannel({.target = "localhost"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tasker
