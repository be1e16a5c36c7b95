// Exact CPU totals for threads however short they live.
//
// A thread's CPU timer is checked by the kernel only on a tick at which the
// thread is running, so a thread that ends between ticks never receives the
// expirations it ran past: a swarm of 0.2 ms threads would show almost none
// of its CPU. We know where on the thread's CPU clock the first expiry fell
// (we drew it), so when the thread ends, or sampling stops, its CPU clock
// says exactly how many expirations were due; those never delivered are
// settled as owed periods. With the random first expiry this is an unbiased
// count of the thread's CPU in periods. The collector shows owed periods at
// the thread's last sampled stack, or at its start routine.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace profpre {

struct ThreadSlot;

// Arms `slot`'s own timer on `tid`'s CPU clock and records its origin.
// Returns false (errno set) when the kernel refuses a timer.
// Handler-safe: system calls and atomic stores.
bool arm_slot_timer(ThreadSlot* slot, pid_t tid, int signo, int64_t period_ns);

// Adds to slot->owed_periods the expirations due by the thread's CPU clock
// now but not delivered. Call once the thread's timer is deleted.
// Handler-safe: one system call and atomics.
void settle_slot(ThreadSlot* slot, int64_t period_ns);

}  // namespace profpre
