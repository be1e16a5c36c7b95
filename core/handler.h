// The sampling signal handler.
//
// On each expiry of a thread's CPU timer the kernel interrupts that thread and
// runs sampling_handler on its stack. The handler walks the interrupted stack
// with libunwind, starting from the signal's ucontext, and appends one record
// to the thread's ring. It may not allocate, take a lock the interrupted code
// could hold, use stdio, or throw: the interrupted code may be inside malloc,
// holding any lock, or in the middle of libc's stdio.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace profpre {

struct ThreadSlot;

// True between start and stop; the handler ignores signals otherwise, so a
// signal still pending when we stop is harmless.
extern std::atomic<bool> g_sampling;

// The calling thread's slot (null until it has one) and whether it is past
// its exit hook, after which it must not claim a slot again.
extern constinit thread_local ThreadSlot* t_slot;
extern constinit thread_local bool t_exiting;

// While the handler walks a stack: true, and the address whose unwind
// information libunwind is about to look up. The interposed dl_iterate_phdr
// and sigprocmask read them to answer without the loader lock and without
// system calls (preload/unwind_support.cc).
extern constinit thread_local bool t_in_unwind;
extern constinit thread_local uint64_t t_unwind_lookup_pc;

// Where a fault inside the stack walk jumps to: the crash handler
// (preload/signals.cc) siglongjmps here when t_in_unwind is set, so that bad
// unwind information ends the walk instead of the process.
extern constinit thread_local sigjmp_buf t_unwind_escape;

// Receives the sampling signals that are not from our timers (the program's
// own SIGPROF, or a stray one). Set once at start; null: they are ignored.
using ForeignSignalFn = void (*)(int, siginfo_t*, void*);
extern std::atomic<ForeignSignalFn> g_foreign_signal;

// Installs sampling_handler for `signo` and stores the previous action.
// Not for the signal handler: calls sigaction.
bool handler_install(int signo, struct sigaction* previous);

// Loads libunwind (core/unwinder.h); false when it cannot.
// Not for the signal handler: dlopen.
bool handler_prepare_unwinder();

// Handler-safe: this is the handler. Reached only through the kernel.
void sampling_handler(int signo, siginfo_t* info, void* ucontext);

// Walks the stack of `ucontext` into ring words starting at ring position
// `pos`, at most kMaxFrames, and returns the depth. Sets the counters of
// truncated and failed walks on `slot`. Handler-safe: libunwind's
// unw_init_local2 and unw_step are documented safe in a signal handler for
// the local address space; nothing else is called.
uint32_t unwind_into(ThreadSlot* slot, uint64_t pos, void* ucontext);

}  // namespace profpre
