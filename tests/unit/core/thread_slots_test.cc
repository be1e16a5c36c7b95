#include "core/thread_slots.h"

#include <catch2/catch.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>

#include "core/sleep_lock.h"
#include <set>
#include <thread>
#include <vector>

using namespace profpre;  // NOLINT: test file, every name is ours

TEST_CASE("latency buckets grow with the time and bound it from above", "[slots]") {
  int previous = -1;
  for (uint64_t ns = 4; ns < (uint64_t{1} << 24); ns = ns * 5 / 4 + 1) {
    int bucket = latency_bucket(ns);
    CHECK(bucket >= previous);
    CHECK(latency_bucket_upper(bucket) > ns);
    // Four buckets per octave: the bound is within 25% of the value.
    CHECK(latency_bucket_upper(bucket) <= ns + ns / 4 + 1);
    previous = bucket;
  }
  CHECK(latency_bucket(0) == 0);
  CHECK(latency_bucket(UINT64_MAX) == kLatencyBuckets - 1);
}

TEST_CASE("a claimed slot is found by its tid until released", "[slots]") {
  REQUIRE(slot_pool_init());
  ThreadSlot* slot = slot_claim(424242);
  REQUIRE(slot != nullptr);
  CHECK(slot->state.load() == kActive);
  CHECK(slot_find(424242) == slot);
  CHECK(slot_find(424243) == nullptr);
  slot_mark_exited(slot);
  CHECK(slot_find(424242) == nullptr);
  slot_release(slot);
  CHECK(slot->state.load() == kFree);
  CHECK(slot->tid.load() == 0);
}

TEST_CASE("threads claiming at once never share a slot", "[slots]") {
  REQUIRE(slot_pool_init());
  constexpr int kThreads = 8;
  constexpr int kClaimsEach = 6;
  for (int i = 0; i < kThreads * kClaimsEach; i += 4) slot_pool_reserve();
  std::vector<std::vector<ThreadSlot*>> claimed(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kClaimsEach; ++i) claimed[t].push_back(slot_claim(1000 + t * 100 + i));
    });
  }
  for (auto& th : threads) th.join();

  std::set<ThreadSlot*> distinct;
  int got = 0;
  for (auto& list : claimed) {
    for (ThreadSlot* s : list) {
      if (s == nullptr) continue;
      ++got;
      distinct.insert(s);
    }
  }
  CHECK(got == static_cast<int>(distinct.size()));
  CHECK(got > 0);
  for (ThreadSlot* s : distinct) slot_release(s);
}

TEST_CASE("a starting thread gets a slot even while another takes every free one", "[slots]") {
  // Threads that start together race for the spare slots: one can find
  // spares counted, and none left by the time it claims. A drainer taking
  // each slot as soon as it is free stands for them; no start may go without.
  REQUIRE(slot_pool_init());
  std::atomic<bool> done{false};
  std::vector<ThreadSlot*> drained;
  std::thread drainer([&] {
    while (!done.load()) {
      if (ThreadSlot* s = slot_claim(9000)) drained.push_back(s);
    }
  });
  constexpr int kStarters = 4;
  constexpr int kClaimsEach = 256;
  std::vector<std::vector<ThreadSlot*>> claimed(kStarters);
  std::vector<std::thread> starters;
  for (int t = 0; t < kStarters; ++t) {
    starters.emplace_back([&, t] {
      for (int i = 0; i < kClaimsEach; ++i) {
        claimed[t].push_back(slot_claim_growing(7000 + t * 100 + i));
      }
    });
  }
  for (auto& th : starters) th.join();
  done.store(true);
  drainer.join();

  std::set<ThreadSlot*> distinct(drained.begin(), drained.end());
  int missing = 0;
  for (auto& list : claimed) {
    for (ThreadSlot* s : list) {
      if (s == nullptr) ++missing;
      else distinct.insert(s);
    }
  }
  CHECK(missing == 0);
  CHECK(distinct.size() == drained.size() + static_cast<size_t>(kStarters * kClaimsEach - missing));
  for (ThreadSlot* s : distinct) slot_release(s);
}

TEST_CASE("the pool keeps spare slots mapped ahead of claims", "[slots]") {
  REQUIRE(slot_pool_init());
  std::vector<ThreadSlot*> held;
  for (int i = 0; i < 3 * kSlotsPerChunk; ++i) {
    slot_pool_reserve();
    ThreadSlot* s = slot_claim(5000 + i);
    REQUIRE(s != nullptr);
    held.push_back(s);
  }
  CHECK(g_slot_chunk_count.load() >= 3);
  for (ThreadSlot* s : held) slot_release(s);
}

TEST_CASE("SleepLock excludes, and its waiters sleep instead of spinning", "[slots]") {
  static SleepLock lock;
  static long counter = 0;  // guarded by lock, deliberately not atomic
  constexpr int kThreads = 8;
  constexpr int kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < kRounds; ++i) {
        lock.lock();
        ++counter;
        lock.unlock();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(counter == long{kThreads} * kRounds);

  // The holder keeps the lock for 300 ms; each waiter's own CPU clock shows
  // what waiting cost it. A spinning waiter would use up to the whole 300 ms.
  std::atomic<int> waiting{0};
  std::atomic<int64_t> waiter_cpu_ns{0};
  lock.lock();
  threads.clear();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      waiting.fetch_add(1);
      timespec a{}, b{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      lock.lock();
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      lock.unlock();
      waiter_cpu_ns.fetch_add((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    });
  }
  while (waiting.load() < 4) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  errno = 1234;
  lock.unlock();
  CHECK(errno == 1234);
  for (auto& t : threads) t.join();
  INFO("the waiters' CPU while the lock was held: " << waiter_cpu_ns.load() << " ns");
  CHECK(waiter_cpu_ns.load() < 40'000'000);

  // After a fork the holder may be gone: reset frees the lock.
  lock.lock();
  lock.reset();
  lock.lock();
  lock.unlock();
}
