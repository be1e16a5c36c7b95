// Per-thread CPU-time timers.
//
// Each thread gets one POSIX timer on its own CPU clock, delivered to that
// thread alone (SIGEV_THREAD_ID), so threads neither share a pending signal
// nor steal each other's samples. The first expiry is drawn uniformly from
// (0, period] so that a thread living for a fraction of a period is sampled
// with that probability instead of never. The clock is named by tid, which
// lets one thread arm timers for threads that already existed when we
// started. Raw system calls keep the kernel's timer id, with no libc state.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace profpre {

// Creates and starts a timer on `tid`'s CPU clock that sends `signo` to `tid`
// every `period_ns` of its CPU time. Returns the kernel timer id, or -1 with
// errno set. Handler-safe: system calls only (not called from it today).
int timer_arm_thread(pid_t tid, int signo, int64_t period_ns, uint64_t random);

// A thread's CPU time in ns, read through its clock id; 0 when the thread is
// gone. Handler-safe: one system call.
uint64_t thread_cpu_ns(pid_t tid);

// Deletes a timer made by timer_arm_thread. Handler-safe: one system call.
void timer_disarm(int timer_id);

// A fresh pseudo-random 64-bit value for first expiries. Handler-safe: reads
// the monotonic clock (vDSO) and mixes it with a thread-local state.
uint64_t timer_random();

}  // namespace profpre
