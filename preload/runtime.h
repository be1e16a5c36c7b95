// The profiler's life cycle inside the process: start, threads, fork, exit.
#pragma once

#include <pthread.h>

namespace profpre {

// True while sampling is on. Handler-safe: one atomic load.
bool runtime_active();

// Gives the calling thread a slot and a CPU timer, and an exit hook that
// hands its samples over. Not for the signal handler: may map memory.
void runtime_register_current_thread();

// glibc's pthread_create, found once with dlsym(RTLD_NEXT). Not for the
// signal handler: may call dlsym.
int real_pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                        void* (*start)(void*), void* arg);

}  // namespace profpre
