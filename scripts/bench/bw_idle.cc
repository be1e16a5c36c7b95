// Ground truth for the cost of PROF_MODE=wall with many idle threads: the
// main thread burns a fixed amount of CPU in bw_idle_busy (CPU-bounded,
// counting units, like every workload here) while IDLE threads wait on one
// condition variable in bw_idle_wait from before the burn to after it. Each
// thread measures its own lifetime with CLOCK_MONOTONIC, from its first
// instruction to its last; the main thread's runs from the start of main to
// the truth line. Extra fields: "idle_threads", "thread_wall_s" (the sum of
// all the lifetimes, main included), "busy_wall_s", "spurious" (wakeups of
// the condition variable before the end: 0 unless something woke them), and
// the process's CPU and wall time in each phase: "start_cpu_s" and
// "start_wall_s" (main to every thread waiting), "busy_phase_cpu_s" (the
// burn), "end_cpu_s" and "end_wall_s" (the broadcast to every thread joined).
//
//   bw_idle [seconds of CPU in bw_idle_busy, default 1.0] [idle threads, default 100]
#include <pthread.h>

#include <vector>

#include "scripts/bench/workload.h"

namespace {

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_ready_cond = PTHREAD_COND_INITIALIZER;
pthread_cond_t g_stop_cond = PTHREAD_COND_INITIALIZER;
int g_ready = 0;
bool g_stop = false;
int g_spurious = 0;

struct Idle {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

}  // namespace

// Blocks until the end: one pthread_cond_wait, woken once by the broadcast.
extern "C" __attribute__((noipa)) void bw_idle_wait() {
  pthread_mutex_lock(&g_lock);
  ++g_ready;
  pthread_cond_signal(&g_ready_cond);
  while (!g_stop) {
    pthread_cond_wait(&g_stop_cond, &g_lock);
    if (!g_stop) ++g_spurious;
  }
  pthread_mutex_unlock(&g_lock);
}

extern "C" __attribute__((noipa)) bw::Burned bw_idle_busy(int64_t ns) { return bw::burn(ns); }

namespace {

void* idle_main(void* raw) {
  auto* idle = static_cast<Idle*>(raw);
  idle->start_ns = bw::clock_ns(CLOCK_MONOTONIC);
  bw_idle_wait();
  idle->end_ns = bw::clock_ns(CLOCK_MONOTONIC);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 1.0);
  int count = bw::int_arg(argc, argv, 2, 100);
  if (count < 0 || count > 10000) count = 100;

  std::vector<Idle> idle(static_cast<size_t>(count));
  std::vector<pthread_t> threads(static_cast<size_t>(count));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < count; ++i) {
    if (pthread_create(&threads[i], &attr, idle_main, &idle[i]) != 0) abort();
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&g_lock);
  while (g_ready < count) pthread_cond_wait(&g_ready_cond, &g_lock);
  pthread_mutex_unlock(&g_lock);

  double cpu_ready = bw::rusage_cpu_s(RUSAGE_SELF);
  int64_t busy_start = bw::clock_ns(CLOCK_MONOTONIC);
  bw::Burned busy = bw_idle_busy(budget_ns);
  int64_t busy_wall = bw::clock_ns(CLOCK_MONOTONIC) - busy_start;
  double cpu_busy_end = bw::rusage_cpu_s(RUSAGE_SELF);
  int64_t end_start = bw::clock_ns(CLOCK_MONOTONIC);

  pthread_mutex_lock(&g_lock);
  g_stop = true;
  pthread_cond_broadcast(&g_stop_cond);
  pthread_mutex_unlock(&g_lock);
  int64_t lives = 0;
  for (int i = 0; i < count; ++i) {
    pthread_join(threads[i], nullptr);
    lives += idle[i].end_ns - idle[i].start_ns;
  }

  int64_t end_wall = bw::clock_ns(CLOCK_MONOTONIC) - end_start;
  double cpu_joined = bw::rusage_cpu_s(RUSAGE_SELF);

  bw::TruthLine truth(start);
  truth.function("bw_idle_busy", busy.cpu_ns);
  truth.extra("idle_threads", count);
  truth.extra("busy_wall_s", static_cast<double>(busy_wall) * 1e-9);
  truth.extra("spurious", g_spurious);
  truth.extra("start_cpu_s", cpu_ready);
  truth.extra("start_wall_s", static_cast<double>(busy_start - start) * 1e-9);
  truth.extra("busy_phase_cpu_s", cpu_busy_end - cpu_ready);
  truth.extra("end_cpu_s", cpu_joined - cpu_busy_end);
  truth.extra("end_wall_s", static_cast<double>(end_wall) * 1e-9);
  double rusage = bw::rusage_cpu_s(RUSAGE_SELF);
  // The main thread lives until the truth line: its lifetime is taken last.
  lives += bw::clock_ns(CLOCK_MONOTONIC) - start;
  truth.extra("thread_wall_s", static_cast<double>(lives) * 1e-9);
  truth.print(busy.units, rusage);
  return 0;
}
