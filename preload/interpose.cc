// Interposed libc entry points.
//
// pthread_create: every thread the program starts runs a short trampoline
// first that gives it a slot and a CPU timer, then the program's own start
// routine. The thread's exit hook (a pthread key destructor) hands its
// samples over when it returns or calls pthread_exit.
#include <pthread.h>

#include <cstdlib>

#include "preload/runtime.h"
#include "preload/signals.h"

namespace {

struct ThreadStart {
  void* (*start)(void*);
  void* arg;
  bool believes_blocked;  // the creator's view of the sampling signal
};

void* start_trampoline(void* raw) {
  ThreadStart start = *static_cast<ThreadStart*>(raw);
  free(raw);
  // Threads inherit their creator's mask; a creator that blocked every
  // signal would otherwise leave its workers unsampled for good.
  profpre::unblock_sampling_signal();
  profpre::set_thread_believes_sampling_blocked(start.believes_blocked);
  profpre::runtime_register_current_thread();
  return start.start(start.arg);
}

}  // namespace

// Not for the signal handler: pthread_create is not async-signal-safe.
extern "C" __attribute__((visibility("default")))  // interposes libc's
int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                   void* arg) {
  if (!profpre::runtime_active()) return profpre::real_pthread_create(thread, attr, start, arg);
  auto* boxed = static_cast<ThreadStart*>(malloc(sizeof(ThreadStart)));
  if (boxed == nullptr) return profpre::real_pthread_create(thread, attr, start, arg);
  *boxed = ThreadStart{start, arg, profpre::thread_believes_sampling_blocked()};
  int rc = profpre::real_pthread_create(thread, attr, start_trampoline, boxed);
  if (rc != 0) free(boxed);
  return rc;
}
