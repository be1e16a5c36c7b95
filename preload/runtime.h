// The profiler's life cycle inside the process: start, threads, fork, exit.
#pragma once

#include <pthread.h>

namespace profpre {

// True while sampling is on. Handler-safe: one atomic load.
bool runtime_active();

// Gives the calling thread a slot and a CPU timer, and an exit hook that
// hands its samples over; `start_routine` is where CPU that no sample saw is
// shown. Not for the signal handler: may map memory.
void runtime_register_current_thread(void* (*start_routine)(void*));

// Stops sampling and writes the profile before the process dies of a
// signal, waiting at most `timeout_ms`. Handler-safe on the calling side:
// it only deletes timers and waits on a futex; the writing happens on our
// own thread, which may be stuck behind a lock the dying thread holds, hence
// the bound.
void runtime_write_before_death(int timeout_ms);

// Asks for the profile so far to be written while the program runs on.
// Handler-safe: atomics and a futex wake.
void runtime_request_dump();

// True unless the caller is a vfork child sharing our memory.
// Handler-safe: getpid is a system call.
bool runtime_is_this_process();

// Before an exec: writes this image's profile (none if it recorded nothing)
// and returns how many profiles this process has written, which the next
// image needs for its name; -1 when there is nothing to do (not profiling,
// or a vfork child). Not for the signal handler: blocks.
int runtime_before_exec();

// After an exec that failed: profiling resumes, into a new file.
// Not for the signal handler: starts a thread.
void runtime_after_failed_exec();

// Before _exit: writes the profile, waiting a bounded time (the caller may
// be a signal handler). Not for the signal handler of ours.
void runtime_before_exit();

// glibc's pthread_create, found once with dlsym(RTLD_NEXT). Not for the
// signal handler: may call dlsym.
int real_pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                        void* (*start)(void*), void* arg);

}  // namespace profpre
