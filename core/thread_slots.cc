// The slot pool: chunks of ThreadSlots mapped on demand and never unmapped.
//
// Claims scan the mapped chunks with a compare-and-swap on each slot's state
// and take no lock; slot_find, which the handler uses, is a plain scan.
// Chunks are mapped at thread start, when a claim finds every slot taken,
// and ahead of demand: a starting thread and the collector keep a few
// slots free, so that a start rarely waits on the growth lock.
#include "core/thread_slots.h"

#include "core/sleep_lock.h"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <new>

namespace profpre {

constinit std::atomic<ThreadSlot*> g_slot_chunks[kMaxChunks]{};
constinit std::atomic<int> g_slot_chunk_count{0};

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<ThreadSlot*>::is_always_lock_free);

namespace {

constexpr int kSpareSlots = 4;

// Free slots across all chunks: kept so that neither a thread start nor a
// claim has to count them.
constinit std::atomic<int> g_free_slots{0};
// Slots in kExited, waiting for their last drain.
constinit std::atomic<int> g_exited_slots{0};
// Where the next claim starts looking: just past the last claimed slot.
constinit std::atomic<int> g_claim_hint{0};

// Serializes chunk creation between the collector and starting threads.
// Never taken in the handler.
constinit SleepLock g_grow_lock;

bool map_chunk() {
  int index = g_slot_chunk_count.load(std::memory_order_acquire);
  if (index >= kMaxChunks) return false;
  size_t bytes = sizeof(ThreadSlot) * kSlotsPerChunk;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  auto* chunk = static_cast<ThreadSlot*>(mem);
  // Default-initialized: the fields get their initializers and the rings,
  // zero pages of a fresh mapping, stay untouched until a thread writes.
  for (int i = 0; i < kSlotsPerChunk; ++i) new (&chunk[i]) ThreadSlot;
  g_slot_chunks[index].store(chunk, std::memory_order_release);
  g_slot_chunk_count.store(index + 1, std::memory_order_release);
  // Counted once claims can see them: a thread that finds spares counted
  // must find them to claim.
  g_free_slots.fetch_add(kSlotsPerChunk, std::memory_order_release);
  return true;
}

int free_slots() { return g_free_slots.load(std::memory_order_acquire); }

}  // namespace

int latency_bucket(uint64_t ns) {
  if (ns < 4) return 0;
  int octave = 63 - std::countl_zero(ns);               // >= 2
  int quarter = static_cast<int>((ns >> (octave - 2)) & 3);
  int bucket = (octave - 1) * 4 + quarter - 4;
  return bucket < kLatencyBuckets ? bucket : kLatencyBuckets - 1;
}

uint64_t latency_bucket_upper(int bucket) {
  int octave = (bucket + 4) / 4 + 1;
  int quarter = (bucket + 4) % 4;
  return (uint64_t{4} + quarter + 1) << (octave - 2);
}

bool slot_pool_init() {
  if (g_slot_chunk_count.load(std::memory_order_acquire) > 0) return true;
  slot_pool_reserve();
  return g_slot_chunk_count.load(std::memory_order_acquire) > 0;
}

void slot_pool_reserve() {
  if (free_slots() >= kSpareSlots) return;
  g_grow_lock.lock();
  if (free_slots() < kSpareSlots) map_chunk();
  g_grow_lock.unlock();
}

ThreadSlot* slot_claim_growing(pid_t tid) {
  slot_pool_reserve();
  for (;;) {
    int chunks = g_slot_chunk_count.load(std::memory_order_acquire);
    if (ThreadSlot* slot = slot_claim(tid)) return slot;
    // Every slot of `chunks` was taken: another thread may have mapped a
    // chunk since, else this one does.
    g_grow_lock.lock();
    bool more = g_slot_chunk_count.load(std::memory_order_acquire) != chunks || map_chunk();
    g_grow_lock.unlock();
    if (!more) return nullptr;
  }
}

void slot_pool_after_fork() { g_grow_lock.reset(); }

ThreadSlot* slot_claim(pid_t tid) {
  int total = g_slot_chunk_count.load(std::memory_order_acquire) * kSlotsPerChunk;
  int start = total > 0 ? g_claim_hint.load(std::memory_order_relaxed) % total : 0;
  for (int n = 0; n < total; ++n) {
    int index = (start + n) % total;
    ThreadSlot* chunk = g_slot_chunks[index / kSlotsPerChunk].load(std::memory_order_acquire);
    ThreadSlot* s = &chunk[index % kSlotsPerChunk];
    uint32_t expected = kFree;
    if (s->state.load(std::memory_order_relaxed) != kFree ||
        !s->state.compare_exchange_strong(expected, kActive, std::memory_order_acq_rel)) {
      continue;
    }
    g_free_slots.fetch_sub(1, std::memory_order_acq_rel);
    g_claim_hint.store(index + 1, std::memory_order_relaxed);
    // Until this store slot_find sees tid 0 here, which names no thread.
    s->tid.store(tid, std::memory_order_release);
    return s;
  }
  return nullptr;
}

ThreadSlot* slot_find(pid_t tid) {
  ThreadSlot* found = nullptr;
  slot_for_each([&](ThreadSlot* s) {
    if (found == nullptr && s->state.load(std::memory_order_acquire) == kActive &&
        s->tid.load(std::memory_order_acquire) == tid) {
      found = s;
    }
  });
  return found;
}

int slot_mark_exited(ThreadSlot* slot) {
  slot->state.store(kExited, std::memory_order_release);
  return g_exited_slots.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void slot_release(ThreadSlot* slot) {
  if (slot->state.load(std::memory_order_acquire) == kExited) {
    g_exited_slots.fetch_sub(1, std::memory_order_acq_rel);
  }
  SlotCounters& c = slot->counters;
  for (auto* counter : {&c.samples, &c.lost_samples, &c.lost_weight, &c.overruns,
                        &c.unwind_failures, &c.truncated, &c.handler_ns}) {
    counter->store(0, std::memory_order_relaxed);
  }
  for (auto& bucket : c.latency) bucket.store(0, std::memory_order_relaxed);
  slot->tid.store(0, std::memory_order_relaxed);
  slot->timer_id.store(-1, std::memory_order_relaxed);
  std::memset(slot->name, 0, sizeof slot->name);
  slot->head.store(0, std::memory_order_relaxed);
  slot->tail.store(0, std::memory_order_relaxed);
  slot->origin_ns.store(0, std::memory_order_relaxed);
  slot->own_periods.store(0, std::memory_order_relaxed);
  slot->owed_periods.store(0, std::memory_order_relaxed);
  slot->start_pc.store(0, std::memory_order_relaxed);
  slot->wall_start_ns.store(0, std::memory_order_relaxed);
  slot->start_cpu_ns.store(0, std::memory_order_relaxed);
  slot->wall_end_ns.store(0, std::memory_order_relaxed);
  slot->end_cpu_ns.store(0, std::memory_order_relaxed);
  // Give the ring's pages back: a swarm of threads passes through many
  // slots, and only the ones in use should cost memory.
  auto begin = reinterpret_cast<uintptr_t>(slot->ring);
  uintptr_t end = begin + sizeof slot->ring;
  uintptr_t page = 4096;
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  slot->state.store(kFree, std::memory_order_release);
  g_free_slots.fetch_add(1, std::memory_order_release);
}

}  // namespace profpre
