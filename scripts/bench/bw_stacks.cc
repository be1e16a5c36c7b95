// Ground truth: many distinct stacks from a known set of functions, for the
// cost of writing the profile at exit. A tree of 3 levels of BW_STACKS_WIDTH
// distinct functions (template instances, each with code of its own) is
// walked along random paths: every call of bw_stacks_walk picks one of
// WIDTH^3 stacks and burns one unit of work in its leaf. Built twice, with
// widths 16 and 64, so that the second has about four times as many distinct
// addresses. Prints the CPU of bw_stacks_walk (all threads, each from its own
// CLOCK_THREAD_CPUTIME_ID) and the width.
//
//   bw_stacks [seconds of CPU per thread, default 1.0] [threads, default 2]
#include <pthread.h>


#include "scripts/bench/stack_tree.h"
#include "scripts/bench/workload.h"

#ifndef BW_STACKS_WIDTH
#define BW_STACKS_WIDTH 16
#endif

namespace {

constexpr int kWidth = BW_STACKS_WIDTH;
using Tree = bw::StackTree<kWidth>;

}  // namespace

extern "C" __attribute__((noipa)) bw::Burned bw_stacks_walk(int64_t budget_ns, uint64_t seed) {
  return Tree::walk(budget_ns, seed);
}

namespace {

void* run_job(void* raw) {
  auto* job = static_cast<bw::WalkJob*>(raw);
  job->done = bw_stacks_walk(job->budget_ns, job->seed);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 1.0);
  int count = bw::int_arg(argc, argv, 2, 2);
  if (count < 1 || count > 64) count = 2;

  bw::WalkJob jobs[64];
  pthread_t threads[64];
  for (int i = 0; i < count; ++i) {
    jobs[i] = bw::WalkJob::for_thread(budget_ns, i);
    if (pthread_create(&threads[i], nullptr, run_job, &jobs[i]) != 0) abort();
  }
  bw::Burned all;
  for (int i = 0; i < count; ++i) {
    pthread_join(threads[i], nullptr);
    all.cpu_ns += jobs[i].done.cpu_ns;
    all.units += jobs[i].done.units;
  }

  bw::TruthLine truth(start);
  truth.function("bw_stacks_walk", all.cpu_ns);
  truth.extra("width", kWidth);
  truth.extra("threads", count);
  truth.print(all.units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
