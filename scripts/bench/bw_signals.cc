// Ground truth: the CPU cost of one profiling signal, measured where it can
// be resolved. At 1000 Hz a CPU timer delivers at most 250 signals per second
// (the kernel checks CPU timers on its 250 Hz tick): a few microseconds per
// signal is then far below the run-to-run noise of a shared machine. So this
// workload sends its own thread a SIGPROF every few units of work, about
// 20000 per second of CPU, dressed as the profiler's timer signal (si_code
// SI_TIMER and the id of the timer that /proc/self/timers shows notifying
// this thread), so that the profiler's handler takes each for one of its own.
// The signals ride the same delivery path as a timer's (signal frame, handler,
// sigreturn); only the expiry of the timer on the tick is not included.
//
// Phases of sending (A) and not sending (B) alternate every few milliseconds
// within the one process, so that the machine's drift cancels; the median
// over pairs of (CPU per unit in A - in B) times units per signal is the
// excess CPU per signal sent. In the run with no profiler SIGPROF is blocked
// (its default action would kill us), which leaves the cost of sending alone;
// the runner subtracts it.
//
// Prints the CPU of bw_signals_burn, the signals sent and the excess per
// signal in ns (signal_excess_ns).
//
//   bw_signals [seconds of CPU, default 1.0] [units per signal, default 4]
//              [1: block SIGPROF (no profiler), default 0]
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "scripts/bench/workload.h"

namespace {

constexpr int kUnitsPerPhase = 256;

struct Target {
  pid_t pid;
  pid_t tid;
  int timer_id;  // 0 when no timer notifies this thread
};

// The id of the POSIX timer that sends SIGPROF to `tid`, from
// /proc/self/timers ("ID: n", "signal: 27/...", "notify: signal/tid.T").
int timer_notifying(pid_t tid) {
  FILE* f = fopen("/proc/self/timers", "r");
  if (f == nullptr) return 0;
  char line[128];
  char wanted[32];
  snprintf(wanted, sizeof wanted, "tid.%d", static_cast<int>(tid));
  int id = -1;
  int found = 0;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (sscanf(line, "ID: %d", &id) == 1) continue;
    if (strncmp(line, "notify:", 7) == 0 && strstr(line, wanted) != nullptr) found = id;
  }
  fclose(f);
  return found;
}

// Queues SIGPROF to the calling thread as its profiling timer would.
void send_timer_signal(const Target& t) {
  siginfo_t info{};
  info.si_signo = SIGPROF;
  info.si_code = SI_TIMER;
  info.si_timerid = t.timer_id;
  syscall(SYS_rt_tgsigqueueinfo, t.pid, t.tid, SIGPROF, &info);
}

// CPU per unit of one phase, in ns; sends a signal every `every` units if
// `every` > 0.
double phase(const Target& t, int every, int64_t* sent) {
  int64_t start = bw::thread_cpu_ns();
  for (int i = 1; i <= kUnitsPerPhase; ++i) {
    bw::work_unit();
    if (every > 0 && i % every == 0) {
      send_timer_signal(t);
      ++*sent;
    }
  }
  return static_cast<double>(bw::thread_cpu_ns() - start) / kUnitsPerPhase;
}

struct Measured {
  int64_t cpu_ns = 0;
  int64_t units = 0;
  int64_t sent = 0;
  double excess_ns = 0;  // per signal
};

}  // namespace

// noipa: one real function that profiles can show.
extern "C" __attribute__((noipa)) Measured bw_signals_burn(int64_t budget_ns, int every) {
  Target target{getpid(), static_cast<pid_t>(syscall(SYS_gettid)), 0};
  target.timer_id = timer_notifying(target.tid);
  std::vector<double> excess;
  Measured m;
  int64_t start = bw::thread_cpu_ns();
  while (bw::thread_cpu_ns() - start < budget_ns) {
    double with = phase(target, every, &m.sent);
    double without = phase(target, 0, &m.sent);
    excess.push_back((with - without) * every);
    m.units += 2 * kUnitsPerPhase;
  }
  m.cpu_ns = bw::thread_cpu_ns() - start;
  std::nth_element(excess.begin(), excess.begin() + excess.size() / 2, excess.end());
  m.excess_ns = excess.empty() ? 0 : excess[excess.size() / 2];
  return m;
}

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 1.0);
  int every = bw::int_arg(argc, argv, 2, 4);
  if (every < 1 || every > kUnitsPerPhase) every = 4;
  if (bw::int_arg(argc, argv, 3, 0) == 1) {
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, nullptr);
  }

  Measured m = bw_signals_burn(budget_ns, every);

  bw::TruthLine truth(start);
  truth.function("bw_signals_burn", m.cpu_ns);
  truth.extra("signals_sent", static_cast<double>(m.sent));
  truth.extra("signal_excess_ns", m.excess_ns);
  truth.print(m.units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
