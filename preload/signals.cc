// Signal dispositions: ours, the program's, and the way between them.
//
// For each signal we manage, the program's view (the sigaction it last asked
// for, or what was in force when we started) is kept in a two-slot table: a
// writer fills the slot not in use and flips an atomic index, so a handler
// always reads a whole action without a lock. Writers are serialized by a
// spin flag, never taken in a handler.
#include "preload/signals.h"

#include <dlfcn.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/handler.h"
#include "preload/libc_next.h"
#include "preload/log.h"
#include "preload/runtime.h"

namespace profpre {

namespace {

enum class Kind : uint8_t { kNone, kSampling, kTermination, kCrash, kDump };

struct ProgramView {
  struct sigaction slots[2] = {};
  std::atomic<int> current{0};
  std::atomic<Kind> kind{Kind::kNone};
};

constinit ProgramView g_views[NSIG];
constinit std::atomic_flag g_write_lock = ATOMIC_FLAG_INIT;
constinit int g_sampling_signo = 0;
constinit std::atomic<bool> g_program_samples{false};
constinit std::atomic<bool> g_reported_program_handler{false};
constinit std::atomic<bool> g_dying{false};
constinit const char* g_dump_text = "";

constinit thread_local bool t_believes_blocked = false;

constexpr int kTerminationSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE};
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SigmaskFn = int (*)(int, const sigset_t*, sigset_t*);
constinit std::atomic<SigactionFn> g_real_sigaction{nullptr};
constinit std::atomic<SigmaskFn> g_real_sigprocmask{nullptr};
constinit std::atomic<SigmaskFn> g_real_pthread_sigmask{nullptr};


int real_sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  return next_definition(g_real_sigaction, "sigaction")(signo, act, old);
}

bool valid_signal(int signo) { return signo > 0 && signo < NSIG; }

Kind kind_of(int signo) {
  return valid_signal(signo) ? g_views[signo].kind.load(std::memory_order_acquire) : Kind::kNone;
}

// Handler-safe: one atomic load and a struct copy.
struct sigaction program_view(int signo) {
  ProgramView& v = g_views[signo];
  return v.slots[v.current.load(std::memory_order_acquire)];
}

// Not for the signal handler: takes the writers' spin flag.
void set_program_view(int signo, const struct sigaction& action) {
  while (g_write_lock.test_and_set(std::memory_order_acquire)) {
  }
  ProgramView& v = g_views[signo];
  int next = 1 - v.current.load(std::memory_order_relaxed);
  v.slots[next] = action;
  v.current.store(next, std::memory_order_release);
  if (signo == g_sampling_signo) {
    bool own = action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
    g_program_samples.store(own, std::memory_order_release);
  }
  g_write_lock.clear(std::memory_order_release);
}

// Handler-safe: raw system calls.
void raw_sigmask(int how, const sigset_t* set, sigset_t* old) {
  syscall(SYS_rt_sigprocmask, how, set, old, NSIG / 8);
}

// Handler-safe: sigaction and tgkill are async-signal-safe.
void die_by(int signo, const siginfo_t* info) {
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  real_sigaction(signo, &fallback, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  raw_sigmask(SIG_UNBLOCK, &only, nullptr);
  // A fault the hardware raised happens again when the handler returns, now
  // with the default action: the core dump shows the real faulting state.
  if (info != nullptr && info->si_code > 0 &&
      (signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL)) {
    return;
  }
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), signo);
}

// Default actions that do nothing: a forwarded signal of these is dropped.
bool default_ignores(int signo) {
  return signo == SIGCHLD || signo == SIGURG || signo == SIGWINCH || signo == SIGCONT;
}

// Calls the program's handler as the kernel would have: its mask added
// (and the signal itself unless SA_NODEFER), SA_RESETHAND honoured.
// Handler-safe: the program's handler is its own business; the rest is
// system calls and an atomic table.
void call_program_handler(int signo, const struct sigaction& action, siginfo_t* info,
                          void* ucontext) {
  sigset_t mask = static_cast<ucontext_t*>(ucontext)->uc_sigmask;
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&action.sa_mask, s) == 1) sigaddset(&mask, s);
  }
  if ((action.sa_flags & SA_NODEFER) == 0) sigaddset(&mask, signo);
  sigset_t saved;
  raw_sigmask(SIG_SETMASK, &mask, &saved);
  if ((action.sa_flags & SA_RESETHAND) != 0) {
    struct sigaction reset = action;
    reset.sa_handler = SIG_DFL;
    reset.sa_flags &= ~SA_SIGINFO;
    g_views[signo].slots[g_views[signo].current.load()] = reset;
  }
  if ((action.sa_flags & SA_SIGINFO) != 0) {
    action.sa_sigaction(signo, info, ucontext);
  } else {
    action.sa_handler(signo);
  }
  raw_sigmask(SIG_SETMASK, &saved, nullptr);
}

void termination_handler(int signo, siginfo_t* info, void* ucontext) {
  struct sigaction action = program_view(signo);
  if (action.sa_handler != SIG_DFL) {
    if (action.sa_handler != SIG_IGN) call_program_handler(signo, action, info, ucontext);
    return;
  }
  if (!g_dying.exchange(true)) runtime_write_before_death(kTerminationWriteTimeoutMs);
  die_by(signo, info);
}

void crash_handler(int signo, siginfo_t* info, void* ucontext) {
  // A fault inside our own stack walk: abandon the walk, not the process.
  if (t_in_unwind && (signo == SIGSEGV || signo == SIGBUS)) siglongjmp(t_unwind_escape, 1);

  struct sigaction action = program_view(signo);
  bool program_handles = action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
  if (program_handles) {
    call_program_handler(signo, action, info, ucontext);
    return;
  }
  if (!g_dying.exchange(true)) runtime_write_before_death(kCrashWriteTimeoutMs);
  die_by(signo, info);
}

// Only asks: the collector takes the copy and the writer writes it, while
// this thread goes back to what it was doing.
void dump_handler(int, siginfo_t*, void*) { runtime_request_dump(); }

// Returns whether our handler is in place.
bool install(int signo, Kind kind, void (*handler)(int, siginfo_t*, void*)) {
  struct sigaction current {};
  if (real_sigaction(signo, nullptr, &current) != 0) return false;
  // A signal the program's parent set to be ignored (nohup, background
  // jobs) stays as it is; so does one some other library already handles.
  if (current.sa_handler != SIG_DFL) return false;
  struct sigaction ours {};
  ours.sa_sigaction = handler;
  // SA_ONSTACK: a program that prepared an alternate stack for stack
  // overflows keeps it.
  ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigfillset(&ours.sa_mask);
  for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigdelset(&ours.sa_mask, fault);
  g_views[signo].slots[0] = current;
  g_views[signo].current.store(0);
  if (real_sigaction(signo, &ours, nullptr) != 0) return false;
  g_views[signo].kind.store(kind);
  return true;
}

// The program asked for `act` on a signal we manage.
void program_sets(int signo, Kind kind, const struct sigaction& act) {
  bool own_handler = act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN;
  if ((kind == Kind::kTermination || kind == Kind::kDump) && act.sa_handler != SIG_DFL) {
    // The program decides what this signal does: hand it back whole.
    g_views[signo].kind.store(Kind::kNone);
    real_sigaction(signo, &act, nullptr);
    if (kind == Kind::kDump) {
      LogLine().add("PROF_DUMP_SIGNAL=").add(g_dump_text)
          .add(": the program sets its own action for this signal; no more dumps on demand")
          .emit();
    }
    return;
  }
  (void)own_handler;
  set_program_view(signo, act);
}

// Removes the sampling signal from a mask the program wants to block, unless
// it handles that signal itself, and remembers that it asked.
const sigset_t* filter_mask(int how, const sigset_t* set, sigset_t* copy, bool* believed) {
  *believed = t_believes_blocked;
  if (set == nullptr || g_sampling_signo == 0 || program_handles_sampling_signal()) return set;
  bool member = sigismember(set, g_sampling_signo) == 1;
  if (how == SIG_UNBLOCK) {
    if (member) t_believes_blocked = false;
    return set;
  }
  if (how == SIG_SETMASK) t_believes_blocked = member;
  if (how == SIG_BLOCK && member) t_believes_blocked = true;
  if (!member) return set;
  *copy = *set;
  sigdelset(copy, g_sampling_signo);
  return copy;
}

int masked_call(SigmaskFn real, int how, const sigset_t* set, sigset_t* old) {
  sigset_t copy;
  bool believed = false;
  const sigset_t* effective = filter_mask(how, set, &copy, &believed);
  int rc = real(how, effective, old);
  if (rc == 0 && old != nullptr && believed) sigaddset(old, g_sampling_signo);
  return rc;
}

}  // namespace

void signals_install(int sampling_signo, const struct sigaction& previous, int dump_signo,
                     const char* dump_text) {
  g_sampling_signo = sampling_signo;
  g_views[sampling_signo].slots[0] = previous;
  g_views[sampling_signo].current.store(0);
  g_views[sampling_signo].kind.store(Kind::kSampling);
  bool own = previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN;
  g_program_samples.store(own);
  g_foreign_signal.store(forward_to_program, std::memory_order_release);
  if (dump_signo != 0) {
    g_dump_text = dump_text;
    if (!install(dump_signo, Kind::kDump, dump_handler)) {
      LogLine().add("PROF_DUMP_SIGNAL=").add(dump_text)
          .add(": this signal already has a handler or is ignored; no dumps on demand").emit();
    }
  }
  for (int s : kTerminationSignals) {
    if (s != sampling_signo && s != dump_signo) install(s, Kind::kTermination, termination_handler);
  }
  for (int s : kCrashSignals) install(s, Kind::kCrash, crash_handler);
}

bool program_handles_sampling_signal() {
  return g_program_samples.load(std::memory_order_acquire);
}

void forward_to_program(int signo, siginfo_t* info, void* ucontext) {
  struct sigaction action = program_view(signo);
  if (action.sa_handler == SIG_IGN) return;
  if (action.sa_handler != SIG_DFL) {
    call_program_handler(signo, action, info, ucontext);
    return;
  }
  // SIGPROF's default is to kill: a stray one (a timer's last signal, or
  // another process's kill) must not take the program down with it.
  if (signo == g_sampling_signo || default_ignores(signo)) return;
  die_by(signo, info);
}

int real_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return next_definition(g_real_sigprocmask, "sigprocmask")(how, set, old);
}

int program_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return masked_call(next_definition(g_real_sigprocmask, "sigprocmask"), how, set, old);
}

void unblock_sampling_signal() {
  if (g_sampling_signo == 0 || program_handles_sampling_signal()) return;
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, g_sampling_signo);
  next_definition(g_real_pthread_sigmask, "pthread_sigmask")(SIG_UNBLOCK, &only, nullptr);
}

void report_program_timer(int signo) {
  if (signo != g_sampling_signo || g_reported_program_handler.exchange(true)) return;
  LogLine().add("the program arms its own timer for signal ").add_int(signo)
      .add(" (SIGPROF unless PROF_SIGNAL says otherwise); its handler receives every such "
           "signal but ours").emit();
}

bool thread_believes_sampling_blocked() { return t_believes_blocked; }
void set_thread_believes_sampling_blocked(bool blocked) { t_believes_blocked = blocked; }

}  // namespace profpre

using profpre::Kind;

// Not for the signal handler: the program's sigaction, with our view kept.
extern "C" __attribute__((visibility("default")))  // interposes libc's
int sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  Kind kind = profpre::kind_of(signo);
  if (kind == Kind::kNone) return profpre::real_sigaction(signo, act, old);
  if (old != nullptr) *old = profpre::program_view(signo);
  if (act != nullptr) profpre::program_sets(signo, kind, *act);
  return 0;
}

// glibc's signal() calls its internal sigaction, so it is interposed too:
// BSD semantics, as glibc gives them.
extern "C" __attribute__((visibility("default")))  // interposes libc's
sighandler_t signal(int signo, sighandler_t handler) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  if (profpre::valid_signal(signo)) sigaddset(&act.sa_mask, signo);
  act.sa_flags = SA_RESTART;
  if (sigaction(signo, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

extern "C" __attribute__((visibility("default")))  // interposes libc's
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  auto real = profpre::next_definition(profpre::g_real_pthread_sigmask, "pthread_sigmask");
  return profpre::masked_call(real, how, set, old);
}


// The program's own profiling timers: reported once, then left alone.
using SetitimerFn = int (*)(int, const itimerval*, itimerval*);
using TimerCreateFn = int (*)(clockid_t, sigevent*, timer_t*);
constinit std::atomic<SetitimerFn> g_real_setitimer{nullptr};
constinit std::atomic<TimerCreateFn> g_real_timer_create{nullptr};

extern "C" __attribute__((visibility("default")))  // interposes libc's
int setitimer(int which, const itimerval* value, itimerval* old) {
  auto real = profpre::next_definition(g_real_setitimer, "setitimer");
  bool arms = value != nullptr && (value->it_value.tv_sec != 0 || value->it_value.tv_usec != 0);
  if (which == ITIMER_PROF && arms) profpre::report_program_timer(SIGPROF);
  return real(which, value, old);
}

extern "C" __attribute__((visibility("default")))  // interposes libc's
int timer_create(clockid_t clock, sigevent* event, timer_t* timer) {
  auto real = profpre::next_definition(g_real_timer_create, "timer_create");
  if (event != nullptr && (event->sigev_notify & SIGEV_SIGNAL) != 0) {
    profpre::report_program_timer(event->sigev_signo);
  }
  return real(clock, event, timer);
}
