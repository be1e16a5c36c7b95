// Ground truth for the accuracy of PROF_MODE=wall: one thread alternates
// CYCLES times between HALF_MS milliseconds of CPU in bw_sleep_compute
// (bounded by its own CPU clock) and a HALF_MS nanosleep in bw_sleep_wait.
// It measures the wall time of every call with CLOCK_MONOTONIC, and counts
// the sleeps that failed with EINTR (resumed for the time left, so that the
// total stays right) and those that returned before their time: both must
// stay 0 under a profiler. Extra fields: "compute_wall_s", "sleep_wall_s",
// "thread_wall_s" (the main thread's lifetime, from the start of main to the
// truth line), "eintr", "short_sleeps", "cycles".
//
//   bw_sleep [cycles, default 60] [milliseconds per half, default 20]

#include "scripts/bench/workload.h"

namespace {

int g_eintr = 0;
int g_short = 0;

}  // namespace

extern "C" __attribute__((noipa)) bw::Burned bw_sleep_compute(int64_t ns) { return bw::burn(ns); }

extern "C" __attribute__((noipa)) void bw_sleep_wait(int64_t ns) {
  bw::Slept slept = bw::checked_sleep(ns);
  g_eintr += slept.eintr;
  if (slept.short_sleep) ++g_short;
}

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int cycles = bw::int_arg(argc, argv, 1, 60);
  int64_t half_ns = static_cast<int64_t>(bw::int_arg(argc, argv, 2, 20)) * 1000000;
  int64_t compute_wall = 0;
  int64_t sleep_wall = 0;
  bw::Burned all;
  for (int i = 0; i < cycles; ++i) {
    int64_t t0 = bw::clock_ns(CLOCK_MONOTONIC);
    bw::Burned done = bw_sleep_compute(half_ns);
    int64_t t1 = bw::clock_ns(CLOCK_MONOTONIC);
    bw_sleep_wait(half_ns);
    int64_t t2 = bw::clock_ns(CLOCK_MONOTONIC);
    compute_wall += t1 - t0;
    sleep_wall += t2 - t1;
    all.cpu_ns += done.cpu_ns;
    all.units += done.units;
  }

  bw::TruthLine truth(start);
  truth.function("bw_sleep_compute", all.cpu_ns);
  truth.extra("compute_wall_s", static_cast<double>(compute_wall) * 1e-9);
  truth.extra("sleep_wall_s", static_cast<double>(sleep_wall) * 1e-9);
  truth.extra("eintr", g_eintr);
  truth.extra("short_sleeps", g_short);
  truth.extra("cycles", cycles);
  double rusage = bw::rusage_cpu_s(RUSAGE_SELF);
  truth.extra("thread_wall_s", static_cast<double>(bw::clock_ns(CLOCK_MONOTONIC) - start) * 1e-9);
  truth.print(all.units, rusage);
  return 0;
}
