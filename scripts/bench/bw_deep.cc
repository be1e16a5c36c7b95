// Ground truth: known deep stacks with an inlined leaf. main calls
// bw_deep_recurse(depth) (default 150), a real, non-tail recursion, so that
// the bottom frame of exactly `depth` bw_deep_recurse frames calls
// bw_deep_leaf, whose whole body is bw_deep_hot, always inlined: every sample
// taken in the leaf must show bw_deep_hot, bw_deep_leaf and all `depth`
// recursion frames. Prints the CPU of bw_deep_leaf (read from
// CLOCK_THREAD_CPUTIME_ID) and the depth.
//
//   bw_deep [seconds of CPU, default 1.0] [depth, default 150]
#include "scripts/bench/workload.h"

namespace {

volatile int g_depth_seen;

}  // namespace

// Inlined into its one caller by force; the profile must still show it as a
// frame of its own, from the inline records of the debug information.
extern "C" __attribute__((always_inline)) inline bw::Burned bw_deep_hot(int64_t ns) {
  return bw::burn(ns);
}

// noipa: one real frame per call, never inlined or cloned.
extern "C" __attribute__((noipa)) bw::Burned bw_deep_leaf(int64_t ns) { return bw_deep_hot(ns); }

extern "C" __attribute__((noipa)) bw::Burned bw_deep_recurse(int depth, int64_t ns) {
  bw::Burned done = depth <= 1 ? bw_deep_leaf(ns) : bw_deep_recurse(depth - 1, ns);
  // A volatile store after the call: neither a tail call nor a loop.
  g_depth_seen = depth;
  return done;
}

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 1.0);
  int depth = bw::int_arg(argc, argv, 2, 150);

  bw::Burned done = bw_deep_recurse(depth, budget_ns);

  bw::TruthLine truth(start);
  truth.function("bw_deep_leaf", done.cpu_ns);
  truth.extra("depth", depth);
  truth.print(done.units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
