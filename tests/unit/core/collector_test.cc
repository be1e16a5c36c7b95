// The collector thread: aggregation keeps memory bounded by distinct stacks.
#include "core/collector.h"

#include <pthread.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

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

namespace {

struct Delivered {
  std::mutex mutex;
  std::vector<profpre::Snapshot> windows;
  std::vector<profpre::Snapshot> dumps;
};

void deliver(profpre::Snapshot& snapshot, profpre::SnapshotKind kind, void* context) {
  auto* out = static_cast<Delivered*>(context);
  std::lock_guard lock(out->mutex);
  (kind == profpre::SnapshotKind::kDump ? out->dumps : out->windows).push_back(std::move(snapshot));
}

int64_t samples_in(const profpre::Snapshot& s) {
  int64_t count = 0;
  for (const auto& stack : s.stacks) count += stack.count;
  return count;
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

TEST_CASE("windows tile the run and together hold every sample", "[collector]") {
  Delivered delivered;
  profpre::CollectorOptions options;
  options.start_mono_ns = now_ns();
  options.window_ns = 300 * 1000 * 1000;
  options.deliver = deliver;
  options.context = &delivered;
  REQUIRE(profpre::collector_start(pthread_create, options));
  core_test::Sampling sampling(250);
  handler_test_burn(1.6);
  sampling.stop();

  Captured last;
  profpre::collector_finish(capture, &last);
  REQUIRE(last.called);
  std::lock_guard lock(delivered.mutex);
  // 1.6 s of burning in 0.3 s windows: five closed, whatever the load.
  REQUIRE(delivered.windows.size() >= 4);
  int64_t total = samples_in(last.snapshot);
  int64_t previous_end = options.start_mono_ns;
  for (const auto& w : delivered.windows) {
    CHECK(w.start_mono_ns == previous_end);
    CHECK(w.end_mono_ns > w.start_mono_ns);
    previous_end = w.end_mono_ns;
    total += samples_in(w);
  }
  CHECK(last.snapshot.start_mono_ns == previous_end);
  CHECK(total == static_cast<int64_t>(last.snapshot.stats.samples));
  CHECK(total >= 300);
  sampling.release();
}

TEST_CASE("a dump is a copy of the aggregate so far", "[collector]") {
  Delivered delivered;
  profpre::CollectorOptions options;
  options.start_mono_ns = now_ns();
  options.deliver = deliver;
  options.context = &delivered;
  REQUIRE(profpre::collector_start(pthread_create, options));
  core_test::Sampling sampling(250);
  handler_test_burn(0.6);
  profpre::collector_request_dump();
  handler_test_burn(0.6);
  sampling.stop();

  Captured last;
  profpre::collector_finish(capture, &last);
  REQUIRE(last.called);
  std::lock_guard lock(delivered.mutex);
  REQUIRE(delivered.dumps.size() == 1);
  CHECK(delivered.windows.empty());
  int64_t dumped = samples_in(delivered.dumps[0]);
  int64_t whole = samples_in(last.snapshot);
  // The dump saw about half; the end still has everything, the dump's part too.
  CHECK(dumped >= 50);
  CHECK(whole == static_cast<int64_t>(last.snapshot.stats.samples));
  CHECK(whole > dumped + 50);
  CHECK(last.snapshot.start_mono_ns == options.start_mono_ns);
  sampling.release();
}
