// The floor: profpre's timers with a handler that does nothing but count.
//
// Preloaded like libprofpre.so, this library gives every thread the same CPU
// timer profpre gives it (core/timers.h: one POSIX timer on the thread's own
// CPU clock, SIGEV_THREAD_ID, random first expiry), armed by the same kind of
// pthread_create trampoline and deleted by a pthread key destructor when the
// thread ends. Its SIGPROF handler only counts signals and overruns, so its
// overhead over no profiler is what any profiler built on these timers pays
// before doing any work: timer expiry, signal delivery and sigreturn.
//
// Environment: PROF_HZ (1 to 10000, default 100) sets the rate; PROF_STATS
// (any value but empty or "0") prints at exit, on stderr, one line
//   floor: stats: signals=N overruns=N threads=N
// The counts are kept per thread and added up when the thread ends, so the
// handler touches no shared cache line.
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/timers.h"

namespace {

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

int64_t g_period_ns = 10000000;
pthread_key_t g_exit_key;
std::atomic<bool> g_active{false};
std::atomic<PthreadCreateFn> g_real_pthread_create{nullptr};
std::atomic<uint64_t> g_signals{0};
std::atomic<uint64_t> g_overruns{0};
std::atomic<uint64_t> g_threads{0};

// This thread's counts and timer; initial-exec TLS, a plain load in a handler.
constinit thread_local uint64_t t_signals = 0;
constinit thread_local uint64_t t_overruns = 0;
constinit thread_local int t_timer_id = -1;

// The whole handler. Handler-safe: two thread-local increments.
void count_signal(int /*signo*/, siginfo_t* info, void* /*ucontext*/) {
  if (info == nullptr || info->si_code != SI_TIMER) return;
  ++t_signals;
  t_overruns += info->si_overrun > 0 ? static_cast<uint64_t>(info->si_overrun) : 0;
}

// Adds this thread's counts to the totals and deletes its timer.
void flush_thread() {
  profpre::timer_disarm(t_timer_id);
  t_timer_id = -1;
  g_signals.fetch_add(t_signals);
  g_overruns.fetch_add(t_overruns);
  t_signals = 0;
  t_overruns = 0;
}

void thread_exit_hook(void*) { flush_thread(); }

// Arms the calling thread's timer and its exit hook, as profpre does.
void arm_current_thread() {
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  t_timer_id = profpre::timer_arm_thread(tid, SIGPROF, g_period_ns, profpre::timer_random());
  pthread_setspecific(g_exit_key, &g_exit_key);  // any non-null value runs the hook
  g_threads.fetch_add(1);
}

bool stats_wanted() {
  const char* value = getenv("PROF_STATS");
  return value != nullptr && value[0] != '\0' && strcmp(value, "0") != 0;
}

void at_exit() {
  g_active.store(false);
  flush_thread();
  if (!stats_wanted()) return;
  char line[160];
  int n = snprintf(line, sizeof line, "floor: stats: signals=%llu overruns=%llu threads=%llu\n",
                   static_cast<unsigned long long>(g_signals.load()),
                   static_cast<unsigned long long>(g_overruns.load()),
                   static_cast<unsigned long long>(g_threads.load()));
  if (n > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(n));
}

// A forked child has no timers: start over with the calling thread.
void after_fork_in_child() {
  if (!g_active.load()) return;
  g_signals.store(0);
  g_overruns.store(0);
  g_threads.store(0);
  t_signals = 0;
  t_overruns = 0;
  arm_current_thread();
}

int64_t period_from_env() {
  const char* text = getenv("PROF_HZ");
  long hz = text != nullptr ? strtol(text, nullptr, 10) : 100;
  if (hz < 1 || hz > 10000) hz = 100;
  return 1000000000 / hz;
}

__attribute__((constructor)) void floor_start() {
  g_period_ns = period_from_env();
  struct sigaction action {};
  action.sa_sigaction = count_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;  // as profpre installs its handler
  sigfillset(&action.sa_mask);
  if (pthread_key_create(&g_exit_key, thread_exit_hook) != 0 ||
      sigaction(SIGPROF, &action, nullptr) != 0) {
    return;
  }
  g_active.store(true);
  arm_current_thread();
  atexit(at_exit);
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
}

struct ThreadStart {
  void* (*start)(void*);
  void* arg;
};

void* start_trampoline(void* raw) {
  ThreadStart start = *static_cast<ThreadStart*>(raw);
  free(raw);
  if (g_active.load()) arm_current_thread();
  return start.start(start.arg);
}

PthreadCreateFn real_pthread_create() {
  PthreadCreateFn fn = g_real_pthread_create.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<PthreadCreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
    g_real_pthread_create.store(fn, std::memory_order_release);
  }
  return fn;
}

}  // namespace

// Interposes libc's, like preload/interpose.cc: the new thread runs the
// trampoline first. Not for the signal handler: allocates.
extern "C" __attribute__((visibility("default"))) int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  PthreadCreateFn real = real_pthread_create();
  if (real == nullptr) return EAGAIN;
  auto* boxed = static_cast<ThreadStart*>(malloc(sizeof(ThreadStart)));
  if (boxed == nullptr) return real(thread, attr, start, arg);
  *boxed = ThreadStart{start, arg};
  int rc = real(thread, attr, start_trampoline, boxed);
  if (rc != 0) free(boxed);
  return rc;
}
