// Ground truth: one thread's CPU split between four functions in the ratio
// 1:2:3:4. bw_share_1 .. bw_share_4 each run in many slices of random length
// (0.2 to 2 ms, in random order, so that none stays in phase with a sampling
// timer) and add up the thread CPU they used, read from
// CLOCK_THREAD_CPUTIME_ID around each slice. Prints the CPU of each function.
//
//   bw_shares [seconds of CPU in all, default 1.0]
#include "scripts/bench/workload.h"

namespace {

using ShareFn = bw::Burned (*)(int64_t);

uint64_t next_random(uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

// C linkage and noipa (no inlining, cloning or identical-code folding): each
// name stays one real function that profiles can show.
extern "C" __attribute__((noipa)) bw::Burned bw_share_1(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_share_2(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_share_3(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_share_4(int64_t ns) { return bw::burn(ns); }

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t total_ns = bw::seconds_arg(argc, argv, 1, 1.0);
  const ShareFn fns[4] = {bw_share_1, bw_share_2, bw_share_3, bw_share_4};
  const char* names[4] = {"bw_share_1", "bw_share_2", "bw_share_3", "bw_share_4"};
  int64_t spent[4] = {};
  int64_t units = 0;

  // Function k gets (k + 1) tenths of the total, in slices scaled by k + 1 so
  // that all four finish at about the same time.
  uint64_t rng = 0x9e3779b97f4a7c15ULL;
  for (int left = 4; left > 0;) {
    int k = static_cast<int>(next_random(rng) % 4);
    int64_t target = total_ns * (k + 1) / 10;
    if (spent[k] >= target) continue;
    int64_t slice = (k + 1) * (200000 + static_cast<int64_t>(next_random(rng) % 1800000)) / 4;
    bw::Burned done = fns[k](slice < target - spent[k] ? slice : target - spent[k]);
    spent[k] += done.cpu_ns;
    units += done.units;
    if (spent[k] >= target) --left;
  }

  bw::TruthLine truth(start);
  for (int k = 0; k < 4; ++k) truth.function(names[k], spent[k]);
  truth.print(units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
