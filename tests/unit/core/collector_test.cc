// The collector thread: aggregation keeps memory bounded by distinct stacks.
#include "core/collector.h"

#include <pthread.h>

#include <catch2/catch.hpp>
#include <thread>

#include "tests/unit/core/test_support.h"

extern "C" double handler_test_burn(double seconds);

namespace {

struct Captured {
  profpre::Snapshot snapshot;
  bool called = false;
};

void capture(profpre::Snapshot& snapshot, void* context) {
  auto* out = static_cast<Captured*>(context);
  out->snapshot = std::move(snapshot);
  out->called = true;
}

}  // namespace

TEST_CASE("the collector folds many samples of one stack into few entries", "[collector]") {
  REQUIRE(profpre::collector_start(pthread_create));
  core_test::Sampling sampling(250);
  // 1.5 s at 250 Hz: several times one ring's worth of shallow records.
  handler_test_burn(1.5);
  sampling.stop();

  Captured captured;
  profpre::collector_finish(capture, &captured);
  REQUIRE(captured.called);
  const auto& stacks = captured.snapshot.stacks;
  int64_t count = 0;
  for (const auto& s : stacks) {
    count += s.count;
    CHECK(s.tid == core_test::gettid_raw());
    CHECK(s.weight >= s.count);
  }
  CHECK(count == static_cast<int64_t>(captured.snapshot.stats.samples));
  CHECK(count >= 300);
  // One loop, a handful of distinct PCs in it: far fewer stacks than samples.
  CHECK(stacks.size() < 100);
  CHECK(sampling.slot()->head.load() == sampling.slot()->tail.load());
  sampling.release();
}

TEST_CASE("an exited thread's slot is drained and freed", "[collector]") {
  REQUIRE(profpre::collector_start(pthread_create));
  profpre::ThreadSlot* used = nullptr;
  pid_t tid = 0;
  std::thread worker([&] {
    core_test::Sampling sampling(250);
    handler_test_burn(0.2);
    sampling.stop();
    used = sampling.slot();
    tid = core_test::gettid_raw();
    profpre::slot_mark_exited(used);
  });
  worker.join();

  Captured captured;
  profpre::collector_finish(capture, &captured);
  REQUIRE(captured.called);
  int64_t count = 0;
  for (const auto& s : captured.snapshot.stacks) count += s.tid == tid ? s.count : 0;
  CHECK(count >= 20);
  CHECK(used->state.load() == profpre::kFree);
}
