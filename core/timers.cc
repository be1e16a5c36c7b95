// Per-thread CPU-time timers through raw timer_create(2) system calls.
#include "core/timers.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace profpre {

namespace {

// The kernel's encoding of a thread's scheduler CPU clock (see
// CPUCLOCK_PERTHREAD and CPUCLOCK_SCHED in include/linux/posix-timers.h).
clockid_t thread_cpu_clock(pid_t tid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
}

constinit thread_local uint64_t t_random_state = 0;

// Starts `timer_id` with a first expiry uniform in (0, period] and then
// every period; deletes it when that fails.
int start_timer(int timer_id, int64_t period_ns, uint64_t random) {
  int64_t first = 1 + static_cast<int64_t>(random % static_cast<uint64_t>(period_ns));
  itimerspec spec{};
  spec.it_interval.tv_sec = period_ns / 1000000000;
  spec.it_interval.tv_nsec = period_ns % 1000000000;
  spec.it_value.tv_sec = first / 1000000000;
  spec.it_value.tv_nsec = first % 1000000000;
  if (syscall(SYS_timer_settime, timer_id, 0, &spec, nullptr) != 0) {
    int saved = errno;
    syscall(SYS_timer_delete, timer_id);
    errno = saved;
    return -1;
  }
  return timer_id;
}

}  // namespace

int timer_arm_thread(pid_t tid, int signo, int64_t period_ns, uint64_t random) {
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = signo;
  event._sigev_un._tid = tid;
  int timer_id = -1;
  if (syscall(SYS_timer_create, thread_cpu_clock(tid), &event, &timer_id) != 0) return -1;
  return start_timer(timer_id, period_ns, random);
}

uint64_t thread_cpu_ns(pid_t tid) {
  timespec ts{};
  if (clock_gettime(thread_cpu_clock(tid), &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void timer_disarm(int timer_id) {
  if (timer_id >= 0) syscall(SYS_timer_delete, timer_id);
}

uint64_t timer_random() {
  // splitmix64 over the monotonic clock and a per-thread sequence.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t clock = static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  uint64_t z = (t_random_state += 0x9e3779b97f4a7c15ULL) ^ clock;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace profpre
