// The writer thread: builds and writes the profiles of windows and dumps.
//
// The collector hands it snapshots and goes back to draining rings, so a
// window's symbolization never holds up the program's threads: a thread
// only ever waits for room in its own ring, which the collector keeps
// emptying. Jobs are written one at a time, in the order they came; the
// symbol cache they share is therefore used by one thread at a time (the
// final profile is written by the collector only after writer_drain).
// Started only when windows or dumps are configured.
// Runs only on our own threads: may allocate and lock, never call from a
// handler.
#pragma once

#include "core/collector.h"

namespace profpre {

struct WriteJob {
  Snapshot snapshot;
  SnapshotKind kind = SnapshotKind::kWindow;
  int sequence = 0;  // the window's or the dump's number, from 1
};

using WriteJobFn = void (*)(WriteJob& job);

// Starts the writer thread, which runs `write` for each job. Not for the
// signal handler: creates a thread.
bool writer_start(WriteJobFn write, CreateThreadFn create);

// Whether the writer thread runs in this process.
bool writer_running();

// Queues a job. Not for the signal handler: locks.
void writer_submit(WriteJob&& job);

// Returns once every job submitted so far is written. Not for the signal
// handler: waits on a condition variable.
void writer_drain();

// After fork(): the child has no writer thread; the state it copied may be
// mid-change and is left behind. Not for the signal handler.
void writer_forget_after_fork();

}  // namespace profpre
