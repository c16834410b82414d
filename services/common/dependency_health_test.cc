// DependencyHealth against a real gRPC server that goes away and comes back.
#include "services/common/dependency_health.h"

#include "grpcpp/impl/service_type.h"
#include "gtest/gtest.h"
#include "runtime/client/channel.h"
#include "runtime/server/server.h"

namespace tasker::services {
namespace {

TEST(DependencyHealthTest, NotServingWhileADependencyIsDownAndServingAgainWhenItIsBack) {
  auto dependency = std::make_unique<ServerRunner>(ServerConfig{.authenticator = tasker::Authenticator::InsecureDev()});
  ASSERT_TRUE(dependency->Start().ok());
  const int port = dependency->port();
  auto channel = *MakeChannel({.target = dependency->local_target()});
  std::vector<bool> changes;
  DependencyHealth health({{"storage", channel}}, [&](bool serving, const std::vector<std::string>& down) {
    changes.push_back(serving);
    if (!serving) EXPECT_EQ(down, std::vector<std::string>{"storage"});
  });
  EXPECT_TRUE(health.CheckOnce().empty());
  EXPECT_TRUE(health.serving());

  // A dependency that reports NOT_SERVING counts as down.
  dependency->SetServing(false);
  EXPECT_EQ(health.CheckOnce(), std::vector<std::string>{"storage"});
  EXPECT_FALSE(health.serving());
  dependency->SetServing(true);
  EXPECT_TRUE(health.CheckOnce().empty());

  // Gone: down within one check.
  dependency->Shutdown();
  dependency.reset();
  EXPECT_EQ(health.CheckOnce(), std::vector<std::string>{"storage"});
  EXPECT_FALSE(health.serving());

  // Back on the same port: serving again (the channel reconnects).
  ServerConfig config;
  config.listen_address = "127.0.0.1:" + std::to_string(port);
  config.authenticator = tasker::Authenticator::InsecureDev();
  dependency = std::make_unique<ServerRunner>(config);
  ASSERT_TRUE(dependency->Start().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!health.CheckOnce().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(health.serving());
  EXPECT_EQ(changes, (std::vector<bool>{true, false, true, false, true}));
}

TEST(DependencyHealthTest, TheThreadReportsChanges) {
  auto dependency = std::make_unique<ServerRunner>(ServerConfig{.authenticator = tasker::Authenticator::InsecureDev()});
  ASSERT_TRUE(dependency->Start().ok());
  std::atomic<int> not_serving{0};
  DependencyHealth health({{"proxy", *MakeChannel({.target = dependency->local_target()})}},
                          [&](bool serving, const std::vector<std::string>&) { not_serving += serving ? 0 : 1; },
                          absl::Milliseconds(50), absl::Milliseconds(200));
  health.Start();
  dependency->Shutdown();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (not_serving == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  health.Stop();
  EXPECT_EQ(not_serving.load(), 1);
}

// A dependency is asked for the service this one calls: a server that does
// not serve it (a misconfigured target) counts as down, and so does one that
// reports it NOT_SERVING.
TEST(DependencyHealthTest, ChecksTheNamedServiceOfTheDependency) {
  class Storage final : public grpc::Service {} storage;
  auto dependency = std::make_unique<ServerRunner>(ServerConfig{.authenticator = tasker::Authenticator::InsecureDev()});
  dependency->AddService(&storage, "tasker.v1.Storage", {Role::kExecutor});
  ASSERT_TRUE(dependency->Start().ok());
  auto channel = *MakeChannel({.target = dependency->local_target()});
  DependencyHealth right({{"storage", channel, "tasker.v1.Storage"}}, nullptr);
  EXPECT_TRUE(right.CheckOnce().empty());
  DependencyHealth wrong({{"keystore", channel, "tasker.v1.Keystore"}}, nullptr);
  EXPECT_EQ(wrong.CheckOnce(), std::vector<std::string>{"keystore"});
  dependency->SetServing(false);
  EXPECT_EQ(right.CheckOnce(), std::vector<std::string>{"storage"});
}

// An in-process dependency (storage's database): down while its check fails.
TEST(DependencyHealthTest, InProcessChecks) {
  std::atomic<bool> up{true};
  std::vector<bool> changes;
  DependencyHealth health(
      {{"database", nullptr, "", [&]() { return up ? absl::OkStatus() : absl::UnavailableError("refused"); }}},
      [&](bool serving, const std::vector<std::string>&) { changes.push_back(serving); });
  EXPECT_TRUE(health.CheckOnce().empty());
  up = false;
  EXPECT_EQ(health.CheckOnce(), std::vector<std::string>{"database"});
  EXPECT_EQ(health.CheckOnce(), std::vector<std::string>{"database"});
  up = true;
  EXPECT_TRUE(health.CheckOnce().empty());
  EXPECT_EQ(changes, (std::vector<bool>{true, false, true}));
}

}  // namespace
}  // namespace tasker::services
