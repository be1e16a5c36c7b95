// Ground truth: eight threads, more than the two cores, each burning in its
// own function bw_thread_1 .. bw_thread_8; thread k uses k shares of the total
// CPU (1:2:...:8), read from its own CLOCK_THREAD_CPUTIME_ID. Prints the CPU
// of each function. The main thread only starts and joins them.
//
//   bw_threads [seconds of CPU in all, default 2.0]
#include <pthread.h>

#include "scripts/bench/workload.h"

namespace {

using ThreadFn = bw::Burned (*)(int64_t);

struct Job {
  ThreadFn fn;
  int64_t budget_ns;
  bw::Burned done;
};

void* run_job(void* raw) {
  auto* job = static_cast<Job*>(raw);
  job->done = job->fn(job->budget_ns);
  return nullptr;
}

}  // namespace

// C linkage and noipa (no inlining, cloning or identical-code folding): each
// name stays one real function that profiles can show.
extern "C" __attribute__((noipa)) bw::Burned bw_thread_1(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_2(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_3(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_4(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_5(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_6(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_7(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_thread_8(int64_t ns) { return bw::burn(ns); }

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t total_ns = bw::seconds_arg(argc, argv, 1, 2.0);
  const ThreadFn fns[8] = {bw_thread_1, bw_thread_2, bw_thread_3, bw_thread_4,
                           bw_thread_5, bw_thread_6, bw_thread_7, bw_thread_8};
  Job jobs[8];
  pthread_t threads[8];
  for (int k = 0; k < 8; ++k) {
    jobs[k] = Job{fns[k], total_ns * (k + 1) / 36, {}};
    if (pthread_create(&threads[k], nullptr, run_job, &jobs[k]) != 0) abort();
  }

  bw::TruthLine truth(start);
  int64_t units = 0;
  for (int k = 0; k < 8; ++k) {
    pthread_join(threads[k], nullptr);
    char name[16];
    snprintf(name, sizeof name, "bw_thread_%d", k + 1);
    truth.function(name, jobs[k].done.cpu_ns);
    units += jobs[k].done.units;
  }
  truth.print(units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
