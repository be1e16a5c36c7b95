// Our own background threads: how they start, and a descriptor table of
// their own.
//
// Our threads open files while the program runs: /proc files, ELF files to
// symbolize, the profile itself. In the program's descriptor table each of
// those would take, for a moment, the lowest free number, which a program
// that closes 0, 1 and 2 and reopens them (a daemon) or counts on the next
// number would get instead. So each of our threads unshares its descriptor
// table (unshare(CLONE_FILES) acts on the calling thread only) and closes
// its copies of the program's descriptors at once: from then on our opens
// and closes are invisible to the program, and closing our copies releases
// no lock of the program's (POSIX record locks belong to the table that
// took them). Where unshare is refused (a seccomp filter), the thread keeps
// the shared table and its opens are brief.
#pragma once

#include <pthread.h>

namespace profpre {

using CreateThreadFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

// Starts one of our own threads, detached, with `create` (the real
// pthread_create) and every signal blocked in it, so that none of the
// program's signals lands on it. The mask is set with the raw system call:
// the interposed pthread_sigmask would keep the sampling signal open, and the
// program's process-wide SIGPROF could then land on our thread. Not for the
// signal handler: creates a thread.
bool start_own_thread(CreateThreadFn create, void* (*routine)(void*), void* arg);

// Gives the calling thread a table of its own holding nothing. Returns
// whether it did. Not for the signal handler; call it first thing in one of
// our own threads, never in a thread of the program's.
bool use_private_descriptor_table();

// Whether the calling thread has its own table (its fd 2 is not the
// program's stderr). Handler-safe: one thread-local read.
bool has_private_descriptor_table();

}  // namespace profpre
