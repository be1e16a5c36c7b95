// Loading libunwind with RTLD_LOCAL (see unwinder.h).
#include "core/unwinder.h"

#include <dlfcn.h>

#include <cstdint>

namespace profpre {

constinit Unwinder g_unwinder{};

namespace {

// libunwind's mapped range, from _dl_find_object at load time.
constinit uintptr_t g_unwinder_start = 0;
constinit uintptr_t g_unwinder_end = 0;

template <typename Fn>
bool resolve(void* library, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

}  // namespace

bool unwinder_load() {
  if (g_unwinder.step != nullptr) return true;
  void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) return false;
  // The UNW_LOCAL_ONLY names of the x86-64 build (libunwind-common.h maps
  // unw_step to _ULx86_64_step and so on).
  Unwinder u{};
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = nullptr;
  auto* local_space = static_cast<unw_addr_space_t*>(dlsym(library, "_ULx86_64_local_addr_space"));
  bool ok = resolve(library, "_ULx86_64_init_local2", &u.init_local2) &&
            resolve(library, "_ULx86_64_get_reg", &u.get_reg) &&
            resolve(library, "_ULx86_64_step", &u.step) &&
            resolve(library, "_ULx86_64_is_signal_frame", &u.is_signal_frame) &&
            resolve(library, "_ULx86_64_set_caching_policy", &set_caching_policy) &&
            local_space != nullptr;
  if (!ok) return false;
  // The range first: libunwind's first call below initializes it, and what
  // it asks of libc on the way is answered knowing it is libunwind asking.
  dl_find_object found{};
  if (_dl_find_object(reinterpret_cast<void*>(u.step), &found) == 0) {
    g_unwinder_start = reinterpret_cast<uintptr_t>(found.dlfo_map_start);
    g_unwinder_end = reinterpret_cast<uintptr_t>(found.dlfo_map_end);
  }
  set_caching_policy(*local_space, UNW_CACHE_PER_THREAD);
  g_unwinder = u;
  return true;
}

bool in_unwinder(const void* address) {
  auto a = reinterpret_cast<uintptr_t>(address);
  return a >= g_unwinder_start && a < g_unwinder_end;
}

}  // namespace profpre
