// Per-thread sample buffers and the pool that owns them.
//
// Each sampled thread owns one ThreadSlot: a single-producer, single-consumer
// ring of 64-bit words. The producer is that thread's signal handler; the
// consumer is the collector thread, which drains rings into the aggregate so
// that memory grows with distinct stacks, not with run time.
//
// A record is one header word followed by `depth` program counters, leaf
// first, already adjusted for symbolization (exact PC for the interrupted
// frame, return address - 1 for callers). Records may wrap around the ring.
//
// Slots live in chunks mapped with mmap and never unmapped, so a pointer to a
// slot stays valid for the life of the process. Slot states:
//   kFree    -> kActive   claimed by a thread at its start, or for it by our
//                         constructor when it started before us (the handler
//                         finds such a slot by tid)
//   kActive  -> kExited   set by the thread's exit hook, or by the collector
//                         once it sees the thread is gone
//   kExited  -> kFree     set by the collector after the last drain
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace profpre {

// Frames kept per stack. Deeper stacks keep their leaf-most frames and end in
// the kPcTruncated pseudo-frame.
inline constexpr int kMaxFrames = 256;
inline constexpr size_t kRingWords = 8192;  // 64 KiB per thread
inline constexpr size_t kMaxRecordWords = 1 + kMaxFrames;

// Pseudo program counters: values no code address can take. The profile
// builder gives each a named function so that nothing is dropped silently.
inline constexpr uint64_t kPcLostBufferFull = 1;  // ring had no room
inline constexpr uint64_t kPcUnwindFailed = 2;    // stack walk stopped on an error
inline constexpr uint64_t kPcTruncated = 3;       // deeper than kMaxFrames
inline constexpr uint64_t kPcNeverSampled = 4;    // CPU of a thread no sample hit
inline constexpr uint64_t kPcOffCpuUnplaced = 5;  // wall time off the CPU, stack unknown
inline constexpr uint64_t kPcLastPseudo = 5;

inline constexpr bool is_pseudo_pc(uint64_t pc) { return pc != 0 && pc <= kPcLastPseudo; }

// Record header: depth in bits 0..15, weight (1 + timer overruns) in 32..63.
inline constexpr uint64_t make_record_header(uint32_t depth, uint32_t weight) {
  return (static_cast<uint64_t>(weight) << 32) | depth;
}
inline constexpr uint32_t record_depth(uint64_t header) { return header & 0xffff; }
inline constexpr uint32_t record_weight(uint64_t header) { return header >> 32; }

// Handler latency histogram: 4 buckets per power of two of nanoseconds.
inline constexpr int kLatencyBuckets = 96;
int latency_bucket(uint64_t ns);          // Handler-safe: pure arithmetic.
uint64_t latency_bucket_upper(int bucket);  // Not for the signal handler: reporting only.

enum SlotState : uint32_t { kFree = 0, kActive = 1, kExited = 2 };

// Counters the owning thread's handler increments and the collector reads
// with exchange(0). Relaxed atomics: each is a count, not a synchronizer.
struct SlotCounters {
  std::atomic<uint64_t> samples{0};          // records written
  std::atomic<uint64_t> lost_samples{0};     // signals that found no room
  std::atomic<uint64_t> lost_weight{0};      // their weight, in periods
  std::atomic<uint64_t> overruns{0};         // sum of si_overrun
  std::atomic<uint64_t> unwind_failures{0};
  std::atomic<uint64_t> truncated{0};
  std::atomic<uint64_t> handler_ns{0};       // total time in the handler
  std::atomic<uint32_t> latency[kLatencyBuckets]{};
};

struct ThreadSlot {
  // Written by whoever moves the state (see the table above).
  std::atomic<uint32_t> state{kFree};
  std::atomic<int32_t> tid{0};
  // Kernel POSIX timer id, -1 when none. Whoever deletes the timer first
  // exchanges it to -1, so it is deleted once.
  std::atomic<int32_t> timer_id{-1};
  // Set by the collector when it has read the thread's name at least once.
  char name[16];

  // Producer side: only the owning thread's handler writes head.
  std::atomic<uint64_t> head{0};
  // Consumer side: only the collector writes tail.
  std::atomic<uint64_t> tail{0};

  // The thread's own timer, for settling at its end what the kernel never
  // delivered (a CPU timer fires only on a tick the thread is running at):
  // where on the thread's CPU clock its first expiry fell, the periods its
  // signals brought, and the periods settled but not yet collected.
  std::atomic<uint64_t> origin_ns{0};  // 0: no timer of its own
  std::atomic<uint64_t> own_periods{0};
  std::atomic<uint64_t> owed_periods{0};
  // The thread's start routine, where CPU no sample saw is shown.
  std::atomic<uint64_t> start_pc{0};
  // Wall mode: the monotonic time and the thread's CPU clock when it got
  // its slot and, set by its exit hook, when it ended (0: not yet, or ended
  // without our hook).
  std::atomic<int64_t> wall_start_ns{0};
  std::atomic<uint64_t> start_cpu_ns{0};
  std::atomic<int64_t> wall_end_ns{0};
  std::atomic<uint64_t> end_cpu_ns{0};

  SlotCounters counters;
  uint64_t ring[kRingWords];
};

// Creates the first chunk. Not for the signal handler (calls mmap).
bool slot_pool_init();

// Claims a free slot for `tid`. Handler-safe: lock-free CAS over chunks
// already mapped; returns nullptr when none is free.
ThreadSlot* slot_claim(pid_t tid);

// Finds the active slot of `tid`. Handler-safe: a lock-free scan.
ThreadSlot* slot_find(pid_t tid);

// Maps another chunk when fewer than a few slots are free, so that a claim
// rarely finds none. Not for the signal handler (calls mmap).
void slot_pool_reserve();

// Claims a slot for `tid` at a thread's start, mapping another chunk
// whenever the mapped ones are all taken: fails only when the pool is at
// kMaxChunks or mmap fails. Threads that start together can drain the spare
// slots between slot_pool_reserve and slot_claim; this does not lose one.
// Not for the signal handler (takes the growth lock, calls mmap).
ThreadSlot* slot_claim_growing(pid_t tid);

// In a forked child: frees the growth lock, which the parent's collector or
// another of its threads may have held at the fork.
void slot_pool_after_fork();

// Calls fn(slot) for every slot in every mapped chunk. Handler-safe when
// fn is: reads only atomics.
template <typename Fn>
void slot_for_each(Fn&& fn);

// Number of mapped chunks and the chunk table, for slot_for_each.
inline constexpr int kSlotsPerChunk = 16;
inline constexpr int kMaxChunks = 4096;
extern constinit std::atomic<ThreadSlot*> g_slot_chunks[kMaxChunks];
extern std::atomic<int> g_slot_chunk_count;

template <typename Fn>
void slot_for_each(Fn&& fn) {
  int chunks = g_slot_chunk_count.load(std::memory_order_acquire);
  for (int c = 0; c < chunks; ++c) {
    ThreadSlot* chunk = g_slot_chunks[c].load(std::memory_order_acquire);
    for (int i = 0; chunk != nullptr && i < kSlotsPerChunk; ++i) fn(&chunk[i]);
  }
}

// Marks the calling thread's slot kExited: its thread writes no more.
// Returns how many exited slots now wait for the collector, which should be
// woken when they pile up. Handler-safe: atomics.
int slot_mark_exited(ThreadSlot* slot);

// Resets a slot to kFree after its last drain. Not for the signal handler.
void slot_release(ThreadSlot* slot);

}  // namespace profpre
