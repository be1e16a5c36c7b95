// SleepLock: a lock for our paths outside signal handlers, such as thread
// start and the collector, which a forked child can reset.
//
// A plain spin flag is wrong there: when a thousand threads start at once on
// two CPUs, the holder is preempted and every other starting thread spins
// through its time slice before the holder runs again (measured: 3.5 s of
// CPU to start 1000 threads). This one spins a little, then sleeps on a
// futex. It is a word of memory with no constructor to run, so it is
// usable before our constructor and after fork.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace profpre {

class SleepLock {
 public:
  constexpr SleepLock() = default;
  SleepLock(const SleepLock&) = delete;
  SleepLock& operator=(const SleepLock&) = delete;

  // Not async-signal-safe: a handler that interrupts the holder on its own
  // thread would wait forever. errno is preserved.
  void lock() {
    uint32_t seen = kFree;
    if (word_.compare_exchange_strong(seen, kHeld, std::memory_order_acquire)) return;
    for (int i = 0; i < kSpins; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      seen = kFree;
      if (word_.load(std::memory_order_relaxed) == kFree &&
          word_.compare_exchange_strong(seen, kHeld, std::memory_order_acquire)) {
        return;
      }
    }
    int saved = errno;
    // From here the word says "held, maybe with sleepers": whoever unlocks
    // wakes one.
    while (word_.exchange(kContended, std::memory_order_acquire) != kFree) {
      syscall(SYS_futex, &word_, FUTEX_WAIT_PRIVATE, kContended, nullptr, nullptr, 0);
    }
    errno = saved;
  }

  void unlock() {
    if (word_.exchange(kFree, std::memory_order_release) == kContended) {
      int saved = errno;
      syscall(SYS_futex, &word_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
      errno = saved;
    }
  }

  // In a forked child, where the holder may have been a thread that no
  // longer exists.
  void reset() { word_.store(kFree, std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kFree = 0;
  static constexpr uint32_t kHeld = 1;
  static constexpr uint32_t kContended = 2;
  static constexpr int kSpins = 64;

  std::atomic<uint32_t> word_{kFree};
};

}  // namespace profpre
