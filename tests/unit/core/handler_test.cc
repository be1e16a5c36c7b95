// The real handler on this thread's real CPU timer: what it records.
#include "core/handler.h"

#include <dlfcn.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/unit/core/test_support.h"

using core_test::Sampling;
using core_test::thread_cpu_seconds;

extern "C" {

// Known stacks: noinline, exported (the test links with -rdynamic) so that
// dladdr names them.
__attribute__((noinline, visibility("default"))) double handler_test_burn(double seconds) {
  double x = 0;
  double until = thread_cpu_seconds() + seconds;
  while (thread_cpu_seconds() < until) {
    for (int i = 0; i < 1000; ++i) x += i * 0.5;
  }
  return x;
}

__attribute__((noinline, visibility("default"))) double handler_test_recurse(int depth, double seconds) {
  if (depth == 0) return handler_test_burn(seconds);
  double r = handler_test_recurse(depth - 1, seconds);
  asm volatile("" ::: "memory");  // keeps the call from becoming a jump
  return r + 1;
}

}  // extern "C"

namespace {

const char* symbol_of(uint64_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) == 0) return "";
  return info.dli_sname != nullptr ? info.dli_sname : "";
}

int count_frames(const std::vector<uint64_t>& pcs, const char* name) {
  int n = 0;
  for (uint64_t pc : pcs) n += std::string(symbol_of(pc)) == name;
  return n;
}

}  // namespace

TEST_CASE("every sample's leaf is the burning function, called from the test", "[handler]") {
  Sampling sampling(250);
  handler_test_burn(0.3);
  sampling.stop();
  auto records = sampling.records();
  // 0.3 s of CPU at 250 Hz is 75 expiries; allow for the tick's phase.
  REQUIRE(records.size() >= 50);
  int leaf_in_burn = 0;
  for (const auto& r : records) {
    REQUIRE(r.pcs.size() >= 3);
    // The leaf, or further out when the sample hit clock_gettime inside the
    // loop: the vDSO, libc's wrapper, then thread_cpu_seconds when -O1 did
    // not inline it.
    std::vector<uint64_t> top(r.pcs.begin(), r.pcs.begin() + std::min<size_t>(4, r.pcs.size()));
    leaf_in_burn += count_frames(top, "handler_test_burn") == 1;
  }
  CHECK(leaf_in_burn == static_cast<int>(records.size()));
  sampling.release();
}

TEST_CASE("a 200-deep recursion is recorded whole", "[handler]") {
  Sampling sampling(250);
  handler_test_recurse(200, 0.2);
  sampling.stop();
  auto records = sampling.records();
  REQUIRE(records.size() >= 20);
  for (const auto& r : records) {
    CHECK(count_frames(r.pcs, "handler_test_recurse") == 201);
    CHECK(r.pcs.back() != profpre::kPcTruncated);
  }
  sampling.release();
}

TEST_CASE("a stack deeper than the limit ends in the truncation frame", "[handler]") {
  Sampling sampling(250);
  handler_test_recurse(400, 0.2);
  sampling.stop();
  auto records = sampling.records();
  REQUIRE(records.size() >= 20);
  for (const auto& r : records) {
    CHECK(r.pcs.size() == profpre::kMaxFrames);
    CHECK(r.pcs.back() == profpre::kPcTruncated);
  }
  CHECK(sampling.slot()->counters.truncated.load() == records.size());
  sampling.release();
}

TEST_CASE("weights count the expiries the kernel merged", "[handler]") {
  // 2000 Hz is eight times the 250 Hz tick: most expiries arrive as overruns.
  constexpr double kSeconds = 0.5;
  constexpr int kHz = 2000;
  Sampling sampling(kHz);
  double start = thread_cpu_seconds();
  handler_test_burn(kSeconds);
  double used = thread_cpu_seconds() - start;
  sampling.stop();
  uint64_t weight = 0;
  for (const auto& r : sampling.records()) weight += r.weight;
  double expected = used * kHz;
  CHECK(static_cast<double>(weight) > 0.9 * expected);
  CHECK(static_cast<double>(weight) < 1.1 * expected);
  CHECK(sampling.records().size() < weight);
  sampling.release();
}

TEST_CASE("signals not sent by a timer are ignored", "[handler]") {
  Sampling sampling(1);
  raise(SIGPROF);  // si_code SI_TKILL
  CHECK(sampling.records().empty());
  sampling.release();
}

TEST_CASE("a full ring counts lost samples instead of writing", "[handler]") {
  Sampling sampling(250);
  // Leave less than one record's room so every signal finds the ring full.
  sampling.slot()->head.store(profpre::kRingWords - profpre::kMaxRecordWords + 1);
  sampling.slot()->tail.store(0);
  handler_test_burn(0.2);
  sampling.stop();
  CHECK(sampling.slot()->counters.lost_samples.load() >= 20);
  CHECK(sampling.slot()->counters.samples.load() == 0);
  sampling.release();
}
