// DependencyHealth against a real gRPC server that goes away and comes back.
#include "services/common/dependency_health.h"

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

}  // namespace
}  // namespace tasker::services
