// Settling a thread's undelivered timer expirations (see accounting.h).
#include "core/accounting.h"

#include "core/thread_slots.h"
#include "core/timers.h"

namespace profpre {

bool arm_slot_timer(ThreadSlot* slot, pid_t tid, int signo, int64_t period_ns) {
  uint64_t random = timer_random();
  uint64_t first = 1 + random % static_cast<uint64_t>(period_ns);  // as timer_arm_thread draws it
  uint64_t cpu = thread_cpu_ns(tid);
  int id = timer_arm_thread(tid, signo, period_ns, random);
  if (id < 0) return false;
  slot->own_periods.store(0, std::memory_order_relaxed);
  slot->origin_ns.store(cpu + first, std::memory_order_relaxed);
  slot->timer_id.store(id, std::memory_order_release);
  return true;
}

void settle_slot(ThreadSlot* slot, int64_t period_ns) {
  uint64_t origin = slot->origin_ns.exchange(0, std::memory_order_acq_rel);
  if (origin == 0) return;
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  uint64_t cpu = thread_cpu_ns(tid);
  if (cpu < origin) return;  // gone (0), or short of its first expiry
  uint64_t due = (cpu - origin) / static_cast<uint64_t>(period_ns) + 1;
  uint64_t delivered = slot->own_periods.load(std::memory_order_acquire);
  if (due > delivered) slot->owed_periods.fetch_add(due - delivered, std::memory_order_release);
}

}  // namespace profpre
