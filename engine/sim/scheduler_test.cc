#include "engine/sim/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace faultlab::sim {
namespace {

TEST(SchedulerTest, TimeThenSequenceOrder) {
  Scheduler s(1);
  std::vector<int> order;
  s.At(20, [&] { order.push_back(3); });
  s.At(10, [&] { order.push_back(1); });
  s.At(10, [&] { order.push_back(2); });  // same time: scheduled later, runs later
  s.RunAll();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(s.now_ns(), 20u);
}

TEST(SchedulerTest, EventsScheduleEventsAndCancel) {
  Scheduler s(1);
  int fired = 0;
  const uint64_t id = s.After(5, [&] { fired += 100; });
  s.After(1, [&] { s.After(1, [&] { ++fired; }); });
  s.Cancel(id);
  s.RunAll();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(s.now_ns(), 2u);
}

TEST(SchedulerTest, ARunningEventKeepsWhatItCapturedWhileItSchedulesMore) {
  // Events run in their slots: one that schedules thousands more (new
  // slots) and then reads its own captures must find them intact, and what
  // an event captured is destroyed once it has run or been cancelled.
  Scheduler s(1);
  auto cancelled = std::make_shared<int>(0);
  std::weak_ptr<int> watch_cancelled = cancelled;
  s.Cancel(s.At(1, [c = std::move(cancelled)] { ++*c; }));  // dropped before the next runs
  auto kept = std::make_shared<std::vector<int>>(64, 7);
  std::weak_ptr<std::vector<int>> watch = kept;
  int sum = 0;
  s.At(1, [&s, &sum, kept = std::move(kept)] {
    for (int i = 0; i < 5000; ++i) s.After(1, [&sum] { ++sum; });
    for (int v : *kept) sum += v;
  });
  EXPECT_FALSE(watch.expired());
  s.RunAll();
  EXPECT_EQ(sum, 5000 + 64 * 7);
  EXPECT_TRUE(watch.expired()) << "a run event's captures outlived it";
  EXPECT_TRUE(watch_cancelled.expired()) << "a cancelled event's captures outlived it";
  EXPECT_EQ(s.pending(), 0u);
}

TEST(SchedulerTest, RunUntilStopsAtTheDeadline) {
  Scheduler s(1);
  bool flag = false;
  s.At(100, [&] { flag = true; });
  EXPECT_FALSE(s.RunUntil([&] { return flag; }, 50));
  EXPECT_EQ(s.now_ns(), 50u) << "the clock moves to the deadline";
  EXPECT_TRUE(s.RunUntil([&] { return flag; }, Scheduler::kNever));
  EXPECT_EQ(s.now_ns(), 100u);
  // Nothing pending and an infinite deadline: false, clock unchanged.
  EXPECT_FALSE(s.RunUntil([] { return false; }, Scheduler::kNever));
  EXPECT_EQ(s.now_ns(), 100u);
}

TEST(SchedulerTest, BackgroundEventsNeverKeepRunAllGoing) {
  Scheduler s(1);
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    s.After(10, tick, /*background=*/true);
  };
  s.After(10, tick, true);
  bool done = false;
  s.After(35, [&] { done = true; });
  s.RunAll();
  EXPECT_TRUE(done);
  EXPECT_EQ(ticks, 3) << "background events before the last foreground one ran";
  EXPECT_FALSE(s.RunUntil([] { return false; }, Scheduler::kNever));
  EXPECT_TRUE(s.RunUntil([&] { return ticks == 5; }, 1000)) << "a finite wait runs background work";
}

}  // namespace
}  // namespace faultlab::sim
