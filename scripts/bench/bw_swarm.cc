// Ground truth: a swarm of short threads against one long-lived thread, each
// side using about half the process's CPU. bw_swarm_long runs in one thread
// for the whole run; bw_swarm_short runs in thousands of threads of about
// 0.2 ms of CPU each, started a few at a time and joined. Every thread reads
// its own CLOCK_THREAD_CPUTIME_ID; prints the CPU of both functions and the
// number of short threads.
//
//   bw_swarm [seconds of CPU per side, default 0.5] [ms per short thread, 0.2]
//            [short threads at a time, default 4]
#include <pthread.h>

#include "scripts/bench/workload.h"

namespace {

struct Job {
  int64_t budget_ns;
  bw::Burned done;
};

}  // namespace

// C linkage and noipa (no inlining, cloning or identical-code folding): each
// name stays one real function that profiles can show.
extern "C" __attribute__((noipa)) bw::Burned bw_swarm_long(int64_t ns) { return bw::burn(ns); }
extern "C" __attribute__((noipa)) bw::Burned bw_swarm_short(int64_t ns) { return bw::burn(ns); }

namespace {

void* run_long(void* raw) {
  auto* job = static_cast<Job*>(raw);
  job->done = bw_swarm_long(job->budget_ns);
  return nullptr;
}

void* run_short(void* raw) {
  auto* job = static_cast<Job*>(raw);
  job->done = bw_swarm_short(job->budget_ns);
  return nullptr;
}

// Runs batches of `batch` short threads until they have used `side_ns` in all.
bw::Burned run_swarm(int64_t side_ns, int64_t each_ns, int batch, int* threads_run) {
  bw::Burned total;
  Job jobs[64];
  pthread_t threads[64];
  while (total.cpu_ns < side_ns) {
    for (int i = 0; i < batch; ++i) {
      jobs[i] = Job{each_ns, {}};
      if (pthread_create(&threads[i], nullptr, run_short, &jobs[i]) != 0) abort();
    }
    for (int i = 0; i < batch; ++i) {
      pthread_join(threads[i], nullptr);
      total.cpu_ns += jobs[i].done.cpu_ns;
      total.units += jobs[i].done.units;
    }
    *threads_run += batch;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t side_ns = bw::seconds_arg(argc, argv, 1, 0.5);
  int64_t each_ns = bw::seconds_arg(argc, argv, 2, 0.2) / 1000;
  int batch = bw::int_arg(argc, argv, 3, 4);
  if (batch < 1 || batch > 64) batch = 4;

  Job long_job{side_ns, {}};
  pthread_t long_thread;
  if (pthread_create(&long_thread, nullptr, run_long, &long_job) != 0) abort();
  int threads_run = 0;
  bw::Burned swarm = run_swarm(side_ns, each_ns, batch, &threads_run);
  pthread_join(long_thread, nullptr);

  bw::TruthLine truth(start);
  truth.function("bw_swarm_long", long_job.done.cpu_ns);
  truth.function("bw_swarm_short", swarm.cpu_ns);
  truth.extra("short_threads", threads_run);
  truth.print(long_job.done.units + swarm.units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
