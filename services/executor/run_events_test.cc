#include "services/executor/run_events.h"

#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tasker::services {
namespace {

TEST(RunEventsTest, AWatcherWakesOnItsRunsChangeOnly) {
  RunEvents events;
  RunEvents::Watcher watcher(&events, "run-1");
  EXPECT_FALSE(watcher.Wait(absl::Milliseconds(20)));  // nothing happened
  events.Changed("run-2");                               // another run
  EXPECT_FALSE(watcher.Wait(absl::Milliseconds(20)));
  std::thread changer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    events.Changed("run-1");
  });
  const absl::Time start = absl::Now();
  EXPECT_TRUE(watcher.Wait(absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // woken, not timed out
  changer.join();
  // A change between two waits is not missed.
  events.Changed("run-1");
  EXPECT_TRUE(watcher.Wait(absl::ZeroDuration()));
  EXPECT_FALSE(watcher.Wait(absl::Milliseconds(10)));
}

TEST(RunEventsTest, SeveralWatchersOfOneRunAllWake) {
  RunEvents events;
  RunEvents::Watcher a(&events, "run");
  {
    RunEvents::Watcher b(&events, "run");
    events.Changed("run");
    EXPECT_TRUE(a.Wait(absl::ZeroDuration()));
    EXPECT_TRUE(b.Wait(absl::ZeroDuration()));
  }
  // `a` still watches after `b` is gone.
  events.Changed("run");
  EXPECT_TRUE(a.Wait(absl::ZeroDuration()));
}

TEST(RunEventsTest, TheRecordedEndReachesTheWatcher) {
  RunEvents events;
  RunEvents::Watcher watcher(&events, "run");
  events.Changed("run");
  EXPECT_TRUE(watcher.Wait(absl::ZeroDuration()));
  EXPECT_EQ(watcher.final_run(), nullptr);
  tasker::v1::TaskRunRecord done;
  done.set_id("run");
  done.set_status(tasker::v1::RUN_STATUS_COMPLETED);
  events.Changed("run", &done);
  EXPECT_TRUE(watcher.Wait(absl::ZeroDuration()));
  ASSERT_NE(watcher.final_run(), nullptr);
  EXPECT_EQ(watcher.final_run()->status(), tasker::v1::RUN_STATUS_COMPLETED);
}

}  // namespace
}  // namespace tasker::services
