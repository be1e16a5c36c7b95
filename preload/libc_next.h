// The definition an interposed function stands in front of.
#pragma once

#include <dlfcn.h>

#include <atomic>

namespace profpre {

// Resolves the next definition of `name` (libc's, for the functions we
// interpose) once and caches it in `cache`. Not for the signal handler: the
// first call runs dlsym; every later call is one atomic load.
template <typename Fn>
Fn next_definition(std::atomic<Fn>& cache, const char* name) {
  Fn fn = cache.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    cache.store(fn, std::memory_order_release);
  }
  return fn;
}

}  // namespace profpre
