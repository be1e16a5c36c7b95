// The sampling signal handler: one stack walk into the thread's ring.
//
// Steps: keep errno; ignore signals that are not our timer's or that arrive
// while stopped; find the thread's slot (claiming one lock-free for a thread
// we did not see start); reserve room for a whole record or count the sample
// as lost; walk the stack; publish the record; wake the collector when the
// ring is half full. Every failure becomes a counter and a pseudo-frame.
#include "core/handler.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "core/collector.h"
#include "core/thread_slots.h"
#include "core/unwinder.h"

namespace profpre {

constinit std::atomic<bool> g_sampling{false};
constinit thread_local ThreadSlot* t_slot = nullptr;
constinit thread_local bool t_exiting = false;
constinit thread_local bool t_in_unwind = false;
constinit thread_local sigjmp_buf t_unwind_escape{};
constinit std::atomic<ForeignSignalFn> g_foreign_signal{nullptr};
constinit thread_local uint64_t t_unwind_lookup_pc = 0;

namespace {

// Restores errno on scope exit: the interrupted code may be between a failing
// call and its read of errno.
class ErrnoGuard {
 public:
  ErrnoGuard() : saved_(errno) {}
  ~ErrnoGuard() { errno = saved_; }
  ErrnoGuard(const ErrnoGuard&) = delete;
  ErrnoGuard& operator=(const ErrnoGuard&) = delete;

 private:
  int saved_;
};

// Handler-safe: clock_gettime is async-signal-safe (and a vDSO call).
uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The calling thread's slot: cached, or found by tid for a thread whose
// timer was armed by another thread. Handler-safe: slot_find is a lock-free
// scan.
ThreadSlot* current_slot() {
  if (t_slot != nullptr || t_exiting) return t_slot;
  t_slot = slot_find(static_cast<pid_t>(syscall(SYS_gettid)));
  return t_slot;
}

enum class Disposition { kSample, kForeign };

// Whether this signal is a sample for the calling thread or the program's.
// Handler-safe: see current_slot.
Disposition classify(const siginfo_t* info, ThreadSlot** out) {
  if (info->si_code != SI_TIMER) return Disposition::kForeign;
  bool sampling = g_sampling.load(std::memory_order_acquire);
  ThreadSlot* slot = sampling ? current_slot() : nullptr;
  if (slot == nullptr || slot->timer_id.load(std::memory_order_relaxed) != info->si_timerid) {
    return Disposition::kForeign;
  }
  *out = slot;
  return Disposition::kSample;
}

// Handler-safe: writes only this thread's ring and counters.
void record_sample(ThreadSlot* slot, void* ucontext, uint32_t weight) {
  uint64_t head = slot->head.load(std::memory_order_relaxed);
  uint64_t tail = slot->tail.load(std::memory_order_acquire);
  if (kRingWords - (head - tail) < kMaxRecordWords) {
    slot->counters.lost_samples.fetch_add(1, std::memory_order_relaxed);
    slot->counters.lost_weight.fetch_add(weight, std::memory_order_relaxed);
    collector_wake();
    return;
  }

  t_in_unwind = true;
  uint32_t depth = unwind_into(slot, head + 1, ucontext);
  t_in_unwind = false;
  slot->ring[head % kRingWords] = make_record_header(depth, weight);
  slot->head.store(head + 1 + depth, std::memory_order_release);
  slot->counters.samples.fetch_add(1, std::memory_order_relaxed);

  if (head + 1 + depth - tail > kRingWords / 2) collector_wake();
}

}  // namespace

uint32_t unwind_into(ThreadSlot* slot, uint64_t pos, void* ucontext) {
  uint64_t* ring = slot->ring;
  auto put = [&](uint32_t n, uint64_t pc) { ring[(pos + n) % kRingWords] = pc; };

  // On x86-64 Linux unw_context_t is ucontext_t, so the kernel's context is
  // used as is; UNW_INIT_SIGNAL_FRAME says its IP is exact, not a return.
  unw_cursor_t cursor;
  auto* context = static_cast<unw_context_t*>(ucontext);
  if (g_unwinder.init_local2(&cursor, context, UNW_INIT_SIGNAL_FRAME) < 0) {
    auto* uc = static_cast<ucontext_t*>(ucontext);
    put(0, static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]));
    put(1, kPcUnwindFailed);
    slot->counters.unwind_failures.fetch_add(1, std::memory_order_relaxed);
    return 2;
  }

  // Written between sigsetjmp and a possible siglongjmp: volatile.
  volatile uint32_t depth = 0;
  if (sigsetjmp(t_unwind_escape, 0) != 0) {
    put(depth, kPcUnwindFailed);
    slot->counters.unwind_failures.fetch_add(1, std::memory_order_relaxed);
    return depth + 1;
  }
  bool exact = true;  // the interrupted frame's IP is where it stopped
  for (;;) {
    unw_word_t ip = 0;
    if (g_unwinder.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    // A caller's IP is a return address; the call is the byte before it.
    put(depth, exact ? ip : ip - 1);
    depth = depth + 1;
    // libunwind looks up the frame's unwind info by the address of the
    // instruction itself: the call for a caller.
    t_unwind_lookup_pc = exact ? ip : ip - 1;
    // Past a signal frame the next IP is again an interrupted, exact one.
    exact = g_unwinder.is_signal_frame(&cursor) > 0;

    int step = g_unwinder.step(&cursor);
    // libunwind also ends a walk, without an error, at code that belongs to
    // no loaded object (JIT code in anonymous memory): say so.
    if (step == 0) {
      dl_find_object found{};
      if (_dl_find_object(reinterpret_cast<void*>(ip), &found) != 0) {
        put(depth, kPcUnwindFailed);
        depth = depth + 1;
        slot->counters.unwind_failures.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    }
    if (step < 0) {
      put(depth, kPcUnwindFailed);
      depth = depth + 1;
      slot->counters.unwind_failures.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    if (depth == kMaxFrames - 1) {
      put(depth, kPcTruncated);
      depth = depth + 1;
      slot->counters.truncated.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  return depth;
}

void sampling_handler(int signo, siginfo_t* info, void* ucontext) {
  ErrnoGuard errno_guard;
  if (info == nullptr) return;
  uint32_t weight = 1 + (info->si_overrun > 0 ? static_cast<uint32_t>(info->si_overrun) : 0);
  ThreadSlot* slot = nullptr;
  if (classify(info, &slot) == Disposition::kForeign) {
    ForeignSignalFn forward = g_foreign_signal.load(std::memory_order_acquire);
    if (forward != nullptr) forward(signo, info, ucontext);
    return;
  }

  uint64_t start = monotonic_ns();
  slot->counters.overruns.fetch_add(weight - 1, std::memory_order_relaxed);
  record_sample(slot, ucontext, weight);
  slot->own_periods.fetch_add(weight, std::memory_order_relaxed);

  uint64_t elapsed = monotonic_ns() - start;
  slot->counters.handler_ns.fetch_add(elapsed, std::memory_order_relaxed);
  slot->counters.latency[latency_bucket(elapsed)].fetch_add(1, std::memory_order_relaxed);
}

bool handler_install(int signo, struct sigaction* previous) {
  struct sigaction action {};
  action.sa_sigaction = sampling_handler;
  // SA_RESTART: system calls the signal interrupts resume instead of failing
  // with EINTR. SA_ONSTACK: a thread that set up an alternate stack (to
  // survive its own stack overflows) gets sampled on it, not on the few
  // bytes of stack it may have left. The full mask keeps the program's own
  // handlers from running on top of a half-done walk.
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigfillset(&action.sa_mask);
  // A fault while one of these is blocked kills the process outright; left
  // open, a fault inside the walk reaches the crash handler, which ends it.
  for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigdelset(&action.sa_mask, fault);
  return sigaction(signo, &action, previous) == 0;
}

bool handler_prepare_unwinder() { return unwinder_load(); }

}  // namespace profpre
