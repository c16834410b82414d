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
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "runtime/server/auth.h"
#include "runtime/server/reflection_v1.h"
#include "runtime/server/testing/echo.grpc.pb.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"
#include "tests/support/services.h"

namespace tasker {
namespace {

using ::tasker::testing::RunCommand;
using ::tasker::testing::Runfile;
using ::tasker::testing::Subprocess;
using ::tasker::testing::v1::Echo;
using ::tasker::testing::v1::EchoRequest;
using ::tasker::testing::v1::EchoResponse;

constexpr char kToken[] = "s3cret-token-for-tests";
constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kRevokedToken[] = "revoked-token-0123456789";

class EchoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tasker::testing::MakeTempDir("echo");
    credentials_ = dir_ + "/credentials";
    // The admin's token is listed by its hash, as tools/gen-certs writes them.
    std::ofstream(credentials_) << "# identity roles token\n"
                                << "tester client " << kToken << "\n"
                                << "ops admin sha256:" << TokenHash(kAdminToken) << "\n"
                                << "leaver client " << kRevokedToken << "\n";
    port_file_ = dir_ + "/port";
    auto process = Subprocess::Start(
        {Runfile("runtime/server/testing/echo_server"), "--listen=127.0.0.1:0",
         "--port_file=" + port_file_, "--credentials_file=" + credentials_,
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
  std::string credentials_;
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

TEST_F(EchoServerTest, AKnownIdentityWithoutTheRoleIsDeniedNamingTheRole) {
  EchoResponse response;
  grpc::Status denied = CallEcho(Stub(kAdminToken).get(), "x", 0, &response);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("requires the role client"), std::string::npos) << denied.error_message();
  EXPECT_NE(denied.error_message().find("'ops' has admin"), std::string::npos) << denied.error_message();
  EXPECT_EQ(denied.error_message().find(kAdminToken), std::string::npos);
  EXPECT_NE(ServerLog().find("permission_denied"), std::string::npos) << ServerLog();
}

TEST_F(EchoServerTest, RemovingALineRevokesThatTokenWithoutRestart) {
  EchoResponse response;
  ASSERT_TRUE(CallEcho(Stub(kRevokedToken).get(), "x", 0, &response).ok());
  std::ofstream(credentials_, std::ios::trunc) << "tester client " << kToken << "\n";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status status;
  do {
    absl::SleepFor(absl::Milliseconds(200));
    status = CallEcho(Stub(kRevokedToken).get(), "x", 0, &response);
  } while (status.ok() && absl::Now() < deadline);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(CallEcho(Stub(kToken).get(), "x", 0, &response).ok());
  // A broken edit keeps the last good credentials.
  std::ofstream(credentials_, std::ios::trunc) << "tester nosuchrole " << kToken << "\n";
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_TRUE(CallEcho(Stub(kToken).get(), "x", 0, &response).ok());
  EXPECT_NE(ServerLog().find("keeping the previous credentials"), std::string::npos);
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

TEST(ServerStartTest, RefusesToStartWithoutCredentialsUnlessInsecureDev) {
  const std::string dir = tasker::testing::MakeTempDir("echo-nocreds");
  auto [code, output] =
      RunCommand(Runfile("runtime/server/testing/echo_server") + " --listen=127.0.0.1:0 2>&1");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("--credentials_file"), std::string::npos) << output;
  EXPECT_NE(output.find("--insecure_dev"), std::string::npos) << output;
  std::ofstream(dir + "/bad") << "someone superuser 0123456789abcdef0123\n";
  auto [bad_code, bad_output] = RunCommand(Runfile("runtime/server/testing/echo_server") +
                                           " --listen=127.0.0.1:0 --credentials_file=" + dir + "/bad 2>&1");
  EXPECT_EQ(bad_code, 2) << bad_output;
  EXPECT_NE(bad_output.find("line 1: unknown role 'superuser'"), std::string::npos) << bad_output;
}

TEST(ServerStartTest, InsecureDevServesWithoutTokenAndSaysSo) {
  const std::string dir = tasker::testing::MakeTempDir("echo-dev");
  auto process = Subprocess::Start({Runfile("runtime/server/testing/echo_server"), "--listen=127.0.0.1:0",
                                    "--port_file=" + dir + "/port", "--insecure_dev"},
                                   {}, dir + "/server.log");
  ASSERT_TRUE(process.ok()) << process.status();
  auto port = tasker::testing::WaitForPortFile(dir + "/port", absl::Seconds(20));
  ASSERT_TRUE(port.ok()) << port.status();
  auto channel = MakeChannel({.target = absl::StrCat("127.0.0.1:", *port)});
  EchoRequest request;
  request.set_message("dev");
  EchoResponse response;
  auto context = MakeContext(absl::Seconds(10));
  ASSERT_TRUE(Echo::NewStub(*channel)->Echo(context.get(), request, &response).ok());
  EXPECT_EQ(response.message(), "dev");
  EXPECT_NE(tasker::testing::ReadFileOrEmpty(dir + "/server.log").find("INSECURE DEV MODE"), std::string::npos);
}

TEST(ServerTlsTest, MutualTlsAcceptsOurCertificateAndRefusesOthers) {
  const std::string dir = tasker::testing::MakeTempDir("echo-tls");
  auto pki = tasker::testing::MakeTestPki(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  std::ofstream(dir + "/credentials") << "tester client " << kToken << "\n";
  auto process = Subprocess::Start(
      {Runfile("runtime/server/testing/echo_server"), "--listen=127.0.0.1:0", "--port_file=" + dir + "/port",
       "--credentials_file=" + dir + "/credentials", "--tls_cert=" + pki->cert, "--tls_key=" + pki->key,
       "--tls_ca=" + pki->ca_cert, "--require_client_cert", "--health_listen=127.0.0.1:0"},
      {}, dir + "/server.log");
  ASSERT_TRUE(process.ok()) << process.status();
  auto port = tasker::testing::WaitForPortFile(dir + "/port", absl::Seconds(20));
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string target = absl::StrCat("127.0.0.1:", *port);
  using tasker::testing::ReadFileOrEmpty;
  auto call = [&](ClientTls tls, const std::string& token) {
    auto channel = MakeChannel({.target = target, .auth_token = token, .tls = tls});
    EXPECT_TRUE(channel.ok()) << channel.status();
    EchoRequest request;
    request.set_message("over-tls");
    EchoResponse response;
    auto context = MakeContext(absl::Seconds(5));
    return Echo::NewStub(*channel)->Echo(context.get(), request, &response);
  };
  const ClientTls ours{.ca = ReadFileOrEmpty(pki->ca_cert),
                       .cert_chain = ReadFileOrEmpty(pki->cert),
                       .private_key = ReadFileOrEmpty(pki->key)};
  grpc::Status ok = call(ours, kToken);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  // mTLS does not replace the token.
  EXPECT_EQ(call(ours, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // No client certificate, a certificate from another CA, plaintext: no call.
  EXPECT_EQ(call({.ca = ours.ca}, kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(call({.ca = ours.ca, .cert_chain = ReadFileOrEmpty(pki->rogue_cert),
                  .private_key = ReadFileOrEmpty(pki->rogue_key)},
                 kToken)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(call({}, kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A server certificate our CA did not sign is not trusted by the client.
  EXPECT_EQ(call({.ca = ReadFileOrEmpty(dir + "/rogue-ca.crt"), .cert_chain = ours.cert_chain,
                  .private_key = ours.private_key},
                 kToken)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(ReadFileOrEmpty(dir + "/server.log").find("\"tls\":\"mutual\""), std::string::npos)
      << ReadFileOrEmpty(dir + "/server.log");
}

TEST(ServerTlsTest, BadCertificatesAndKeysAreRefusedNamingTheFlag) {
  const std::string dir = tasker::testing::MakeTempDir("echo-badtls");
  auto pki = tasker::testing::MakeTestPki(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  std::ofstream(dir + "/credentials") << "tester client " << kToken << "\n";
  std::ofstream(dir + "/garbage.pem") << "not a certificate\n";
  const std::string base = Runfile("runtime/server/testing/echo_server") +
                           " --listen=127.0.0.1:0 --credentials_file=" + dir + "/credentials ";
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--tls_cert=" + dir + "/garbage.pem --tls_key=" + pki->key, "--tls_cert: not a PEM certificate"},
           {"--tls_cert=" + pki->cert + " --tls_key=" + dir + "/garbage.pem", "--tls_key: not a PEM private key"},
           {"--tls_cert=" + pki->cert + " --tls_key=" + pki->rogue_key, "--tls_key: is not the key of the certificate"},
           {"--tls_cert=" + pki->cert + " --tls_key=" + pki->key + " --tls_ca=" + dir + "/garbage.pem",
            "--tls_ca: not a PEM certificate"},
           {"--tls_cert=" + pki->cert + " --tls_key=" + dir + "/missing.key", "--tls_key: cannot read"},
           {"--tls_cert=" + pki->cert, "--tls_cert and --tls_key: give both or neither"},
           {"--tls_cert=" + pki->cert + " --tls_key=" + pki->key + " --require_client_cert",
            "--require_client_cert: needs"}}) {
    auto [code, output] = RunCommand(base + flags + " 2>&1");
    EXPECT_EQ(code, 2) << flags << "\n" << output;
    EXPECT_NE(output.find(message), std::string::npos) << flags << "\n" << output;
  }
}

TEST(ServerRunnerTest, PublicServicesOnTheirOwnPortAndHealthInPlaintext) {
  // Internal echo on the main port, a public one on the public port.
  class Svc final : public tasker::testing::v1::Echo::Service {
    grpc::Status Echo(grpc::ServerContext* context, const EchoRequest*, EchoResponse* response) override {
      response->set_message(CallerOf(*context));
      return grpc::Status::OK;
    }
  } internal_service;
  std::map<std::string, Identity> ids;
  ids[TokenHash(kToken)] = Identity{"tester", Roles{Role::kClient}};
  ids[TokenHash(kAdminToken)] = Identity{"exec", Roles{Role::kExecutor}};
  ServerConfig config{.listen_address = "127.0.0.1:0", .authenticator = Authenticator::FromIdentities(ids)};
  config.public_listen_address = "127.0.0.1:0";
  config.health_listen_address = "127.0.0.1:0";
  ServerRunner runner(config);
  runner.AddService(&internal_service, Echo::service_full_name(), {Role::kExecutor});
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_NE(runner.port(), runner.public_port());
  auto echo = [](int port, const std::string& token, std::string* out) {
    auto channel = MakeChannel({.target = absl::StrCat("127.0.0.1:", port), .auth_token = token});
    EchoRequest request;
    EchoResponse response;
    auto context = MakeContext(absl::Seconds(5));
    grpc::Status status = Echo::NewStub(*channel)->Echo(context.get(), request, &response);
    *out = response.message();
    return status.error_code();
  };
  std::string who;
  EXPECT_EQ(echo(runner.port(), kAdminToken, &who), grpc::StatusCode::OK);
  EXPECT_EQ(who, "exec");  // handlers see the caller's identity
  // The internal service is not served on the public port, whoever asks.
  EXPECT_EQ(echo(runner.public_port(), kAdminToken, &who), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(echo(runner.port(), kToken, &who), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(echo(runner.health_port(), kAdminToken, &who), grpc::StatusCode::PERMISSION_DENIED);
  auto health = CheckHealth(*MakeChannel({.target = absl::StrCat("127.0.0.1:", runner.health_port())}), "",
                            absl::Seconds(5));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::kServing);
  runner.SetServing(false);
  health = CheckHealth(*MakeChannel({.target = absl::StrCat("127.0.0.1:", runner.health_port())}), "",
                       absl::Seconds(5));
  EXPECT_EQ(*health, HealthStatus::kNotServing);
}

TEST(CredentialsTest, ParsesRolesHashesAndRefusesMistakesNamingTheLine) {
  auto parsed = ParseCredentials("# comment\n\nci client,admin abcdefghijklmnop0123\n"
                                 "exec executor sha256:" + TokenHash("x-token-0123456789") + "\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  const Identity& ci = parsed->at(TokenHash("abcdefghijklmnop0123"));
  EXPECT_EQ(ci.name, "ci");
  EXPECT_TRUE(ci.roles.Has(Role::kClient) && ci.roles.Has(Role::kAdmin) && !ci.roles.Has(Role::kExecutor));
  EXPECT_EQ(parsed->at(TokenHash("x-token-0123456789")).name, "exec");
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"a client short\n", "line 1: a token must be at least 16 characters"},
           {"a client\n", "line 1: expected"},
           {"a client abcdefghijklmnop0123\na admin zbcdefghijklmnop0123\n", "line 2: identity 'a' repeats line 1"},
           {"a client abcdefghijklmnop0123\nb admin abcdefghijklmnop0123\n", "line 2: the same token"},
           {"a client sha256:abc\n", "64 hex digits"},
           {"# nothing\n", "lists no identity"}}) {
    auto bad = ParseCredentials(text);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(bad.status().message().find(message), std::string::npos) << bad.status();
  }
}

TEST(ServerRunnerTest, PortZeroGivesDistinctPortsAndBadAddressIsRejected) {
  ServerRunner a(ServerConfig{.listen_address = "127.0.0.1:0", .authenticator = tasker::Authenticator::InsecureDev()});
  ServerRunner b(ServerConfig{.listen_address = "127.0.0.1:0", .authenticator = tasker::Authenticator::InsecureDev()});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_GT(a.port(), 0);
  EXPECT_GT(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  ServerRunner bad(ServerConfig{.listen_address = "no-port-here", .authenticator = tasker::Authenticator::InsecureDev()});
  EXPECT_EQ(bad.Start().code(), absl::StatusCode::kInvalidArgument);
  ServerRunner taken(ServerConfig{.listen_address = absl::StrCat("127.0.0.1:", a.port()), .authenticator = tasker::Authenticator::InsecureDev()});
  EXPECT_EQ(taken.Start().code(), absl::StatusCode::kUnavailable);
}

TEST(ChannelTest, RejectsBadTargets) {
  EXPECT_EQ(MakeChannel({.target = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannel({.target = "localhost"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tasker

namespace tasker {
namespace {

namespace rv1 = ::grpc::reflection::v1;
using ::tasker::testing::v1::Echo;

class EchoService final : public Echo::Service {};

// Health answers for "", each service's full name and "liveness"; an unknown
// name is NOT_FOUND; SetServing moves "" and every service name together.
TEST(ServerRunnerTest, HealthPerServiceNameFollowsSetServing) {
  EchoService echo;
  ServerConfig config{.listen_address = "127.0.0.1:0", .authenticator = Authenticator::InsecureDev()};
  config.health_listen_address = "127.0.0.1:0";
  ServerRunner runner(config);
  runner.AddService(&echo, Echo::service_full_name(), {Role::kClient});
  ASSERT_TRUE(runner.Start().ok());
  for (int port : {runner.port(), runner.health_port()}) {
    auto channel = *MakeChannel({.target = absl::StrCat("127.0.0.1:", port)});
    auto status_of = [&](const std::string& name) { return CheckHealth(channel, name, absl::Seconds(5)); };
    SCOPED_TRACE(port);
    for (const std::string name : {"", "tasker.testing.v1.Echo", "liveness"}) {
      ASSERT_TRUE(status_of(name).ok()) << name;
      EXPECT_EQ(*status_of(name), HealthStatus::kServing) << name;
    }
    EXPECT_EQ(status_of("tasker.testing.v1.Nope").status().code(), absl::StatusCode::kNotFound);
  }
  runner.SetServing(false);
  auto channel = *MakeChannel({.target = runner.local_target()});
  EXPECT_EQ(*CheckHealth(channel, "", absl::Seconds(5)), HealthStatus::kNotServing);
  EXPECT_EQ(*CheckHealth(channel, "tasker.testing.v1.Echo", absl::Seconds(5)), HealthStatus::kNotServing);
  EXPECT_EQ(*CheckHealth(channel, "liveness", absl::Seconds(5)), HealthStatus::kServing);
  runner.SetServing(true);
  EXPECT_EQ(*CheckHealth(channel, "tasker.testing.v1.Echo", absl::Seconds(5)), HealthStatus::kServing);
}

// One reflection stream to `method` (v1 or v1alpha: the messages are
// wire-identical, so v1's classes serve for both), answering `requests`.
std::vector<rv1::ServerReflectionResponse> Reflect(const std::shared_ptr<grpc::Channel>& channel,
                                                   const std::string& method,
                                                   const std::vector<rv1::ServerReflectionRequest>& requests) {
  grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING, channel);
  auto context = MakeContext(absl::Seconds(10));
  std::unique_ptr<grpc::ClientReaderWriter<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>> stream(
      grpc::internal::ClientReaderWriterFactory<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>::Create(
          channel.get(), rpc, context.get()));
  std::vector<rv1::ServerReflectionResponse> out;
  for (const auto& request : requests) {
    rv1::ServerReflectionResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) break;
    out.push_back(response);
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok()) << method;
  return out;
}

// Reflection v1 answers every kind of request with the bytes gRPC's v1alpha
// service answers (list_services: the same names), and resolves the health
// and reflection services' own descriptors (from Debian's grpc-proto).
TEST(ReflectionTest, V1AnswersAsV1AlphaDoesAndDescribesHealth) {
  EchoService echo;
  ServerRunner runner(ServerConfig{.listen_address = "127.0.0.1:0", .authenticator = Authenticator::InsecureDev()});
  runner.AddService(&echo, Echo::service_full_name(), {Role::kClient});
  ASSERT_TRUE(runner.Start().ok());
  auto channel = *MakeChannel({.target = runner.local_target()});
  std::vector<rv1::ServerReflectionRequest> requests;
  auto add = [&](auto set) {
    rv1::ServerReflectionRequest request;
    request.set_host("localhost");
    set(request);
    requests.push_back(request);
  };
  for (const char* symbol : {"tasker.testing.v1.Echo", "grpc.health.v1.Health", "grpc.health.v1.HealthCheckRequest",
                             "grpc.reflection.v1.ServerReflection", "tasker.testing.v1.EchoRequest",
                             "no.such.Symbol"}) {
    add([&](auto& r) { r.set_file_containing_symbol(symbol); });
  }
  for (const char* file : {"grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
                           "google/protobuf/descriptor.proto", "no/such/file.proto"}) {
    add([&](auto& r) { r.set_file_by_filename(file); });
  }
  add([](auto& r) { r.set_all_extension_numbers_of_type("google.protobuf.FieldOptions"); });
  add([](auto& r) { r.set_all_extension_numbers_of_type("no.such.Type"); });
  add([](auto& r) {
    r.mutable_file_containing_extension()->set_containing_type("google.protobuf.FieldOptions");
    r.mutable_file_containing_extension()->set_extension_number(99999);
  });
  add([](auto& r) { r.set_list_services(""); });
  add([](auto&) {});  // no request at all: UNIMPLEMENTED

  // One stream per request: gRPC 1.51's v1alpha service reuses its response
  // across a stream's requests, so an answer there also carries the files
  // of the answers before it (v1 answers each request alone).
  std::vector<rv1::ServerReflectionResponse> v1, v1alpha;
  for (const auto& request : requests) {
    for (auto [method, out] : {std::pair{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", &v1},
                               {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &v1alpha}}) {
      for (auto& response : Reflect(channel, method, {request})) out->push_back(response);
    }
  }
  ASSERT_EQ(v1.size(), requests.size());
  ASSERT_EQ(v1alpha.size(), requests.size());
  for (size_t i = 0; i + 2 < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].ShortDebugString());
    // (Not EXPECT_EQ on the bytes: a difference would print whole descriptors.)
    EXPECT_TRUE(v1[i].SerializeAsString() == v1alpha[i].SerializeAsString())
        << v1[i].DebugString().substr(0, 2000) << "\nvs v1alpha\n" << v1alpha[i].DebugString().substr(0, 2000);
  }
  // The health service's file, and the files it imports none of: one file.
  ASSERT_EQ(v1[1].file_descriptor_response().file_descriptor_proto_size(), 1) << v1[1].ShortDebugString();
  google::protobuf::FileDescriptorProto health;
  ASSERT_TRUE(health.ParseFromString(v1[1].file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(health.name(), "grpc/health/v1/health.proto");
  EXPECT_EQ(v1[5].error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  // The same services, in whatever order.
  auto names = [](const rv1::ServerReflectionResponse& response) {
    std::set<std::string> out;
    for (const auto& service : response.list_services_response().service()) out.insert(service.name());
    return out;
  };
  const size_t list = requests.size() - 2;
  EXPECT_EQ(names(v1[list]), names(v1alpha[list]));
  EXPECT_EQ(names(v1[list]), (std::set<std::string>{"tasker.testing.v1.Echo", kHealthService, kReflectionV1Service,
                                                    kReflectionV1AlphaService}));
  EXPECT_EQ(v1.back().error_response().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(v1.back().SerializeAsString(), v1alpha.back().SerializeAsString());
}

}  // namespace
}  // namespace tasker
