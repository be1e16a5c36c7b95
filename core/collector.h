// The collector: our background thread that owns the aggregate.
//
// It sleeps on a futex and wakes every 100 ms, or sooner when a handler finds
// its ring half full. Each pass drains every ring into one aggregate keyed by
// (thread, exact stack), frees the slots of threads that have exited, and
// keeps spare slots mapped ahead of demand. At the end it takes a final
// snapshot and runs the caller's finish function on this thread, which is
// where the profile is symbolized and written.
//
// With a window length, the collector also closes a window every so often:
// it takes the aggregate (a swap, the program's threads go on writing their
// rings) and hands the snapshot to the caller's deliver function, which
// passes it to a writer thread. A dump request (from a signal handler) hands
// over a copy of the aggregate so far without resetting it.
//
// Everything here but collector_wake runs on the collector thread or on a
// thread calling into it from outside any handler, and may allocate.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/private_files.h"
#include "core/thread_slots.h"

namespace profpre {

// One distinct (thread, state, stack) with its totals.
struct AggregatedStack {
  pid_t tid = 0;               // 0: not tied to a thread
  uint8_t state = 0;           // wall mode: a ThreadState (core/blocked_walk.h); else 0
  std::vector<uint64_t> pcs;   // leaf first, adjusted; may hold pseudo PCs
  int64_t count = 0;           // signals recorded
  int64_t weight = 0;          // periods of CPU time (count + overruns), or of wall time
};

struct CollectorStats {
  uint64_t samples = 0;
  uint64_t wall_ticks = 0;        // wall mode: collector ticks
  uint64_t blocked_walks = 0;     // wall mode: stacks of blocked threads walked
  uint64_t wall_looks = 0;        // wall mode: threads' CPU clocks read by the ticks
  uint64_t collector_cpu_ns = 0;  // CPU of the collector thread
  uint64_t lost_samples = 0;   // ring full or no slot
  uint64_t overruns = 0;
  uint64_t unwind_failures = 0;
  uint64_t truncated = 0;
  uint64_t handler_ns = 0;
  uint64_t latency[kLatencyBuckets] = {};
  uint64_t threads = 0;        // slots ever used
  uint64_t peak_buffer_bytes = 0;
};

struct Snapshot {
  std::vector<AggregatedStack> stacks;  // first-seen order
  std::vector<std::pair<pid_t, std::string>> thread_names;
  CollectorStats stats;  // since the start, not per window
  // What the snapshot covers, on CLOCK_MONOTONIC.
  int64_t start_mono_ns = 0;
  int64_t end_mono_ns = 0;
};

enum class SnapshotKind { kWindow, kDump };

using FinishFn = void (*)(Snapshot& snapshot, void* context);
// Receives a closed window or a dump on the collector thread; should only
// queue it, so that the rings keep being drained.
using DeliverFn = void (*)(Snapshot& snapshot, SnapshotKind kind, void* context);

struct CollectorOptions {
  int64_t start_mono_ns = 0;  // when sampling started: the first window's start
  int64_t window_ns = 0;      // 0: one window, the whole run
  DeliverFn deliver = nullptr;
  void* context = nullptr;
  // Wall-clock mode: the period. CPU timers sample running threads; every
  // tick the collector credits each thread's time off the CPU to where it
  // is blocked (see collector.cc, "Wall time").
  int64_t wall_period_ns = 0;
  // Called on the collector thread when blocked stacks cannot be walked
  // (core/blocked_walk.h): the loading happens there, so that what it opens
  // lands in our own descriptor table.
  void (*walker_unavailable)() = nullptr;
};

// Starts the collector thread with `create` (the real pthread_create), with
// every signal blocked in it so that none of the program's signals lands on
// our thread. Not for the signal handler: creates a thread.
bool collector_start(CreateThreadFn create, const CollectorOptions& options = {});

// Asks for a copy of the aggregate so far to be delivered as a dump.
// Handler-safe: an atomic store and collector_wake.
void collector_request_dump();

// The collector thread's tid (0 before it runs). Handler-safe: one load.
pid_t collector_tid();

// Asks the collector for an early pass. Handler-safe: an atomic exchange and
// at most one futex(2) wake.
void collector_wake();

// Stops the collector after a final drain, runs finish(snapshot, context) on
// the collector thread and returns when it has returned, or after
// timeout_ms (negative: no limit) with false. Safe to call from any thread
// but the collector. Handler-safe on the calling side (futex waits only);
// blocks.
bool collector_finish(FinishFn finish, void* context, int timeout_ms = -1);

// True on the collector thread. Handler-safe: one thread-local read.
bool on_collector_thread();

// Forgets the collector thread after fork(): the child has none. Not for the
// signal handler.
void collector_forget_after_fork();

}  // namespace profpre
