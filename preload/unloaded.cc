// Notes on libraries unloaded before exit, and the dlclose that takes them.
#include "preload/unloaded.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "preload/libc_next.h"
#include "preload/runtime.h"

namespace profpre {

namespace {

// A spin flag, not a mutex: a forked child resets it (see forget).
constinit std::atomic_flag g_lock = ATOMIC_FLAG_INIT;
std::vector<UnloadedModule>* g_modules = nullptr;

class Guard {
 public:
  Guard() {
    while (g_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~Guard() { g_lock.clear(std::memory_order_release); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

struct Search {
  const link_map* map;
  UnloadedModule* out;
  bool found;
};

// The executable PT_LOAD segments of the object loaded at the searched
// link_map's address, rounded to pages as the kernel maps them.
int collect_segments(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (info->dlpi_addr != search->map->l_addr || info->dlpi_name == nullptr ||
      strcmp(info->dlpi_name, search->map->l_name) != 0) {
    return 0;
  }
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    MapEntry e;
    uint64_t start = info->dlpi_addr + ph.p_vaddr;
    e.start = start & ~(page - 1);
    e.limit = (start + ph.p_memsz + page - 1) & ~(page - 1);
    e.offset = ph.p_offset & ~(page - 1);
    e.perms = "r-xp";
    e.path = search->out->path;
    search->out->segments.push_back(e);
  }
  search->found = true;
  return 1;
}

bool describe(void* handle, UnloadedModule* out) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr ||
      map->l_name[0] != '/') {
    return false;
  }
  out->path = map->l_name;
  out->load_bias = map->l_addr;
  Search search{map, out, false};
  dl_iterate_phdr(collect_segments, &search);
  return search.found && !out->segments.empty();
}

struct Presence {
  uint64_t bias;
  const char* path;
  bool present;
};

bool still_loaded(const UnloadedModule& m) {
  Presence p{m.load_bias, m.path.c_str(), false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* p = static_cast<Presence*>(data);
        if (info->dlpi_addr == p->bias && info->dlpi_name != nullptr &&
            strcmp(info->dlpi_name, p->path) == 0) {
          p->present = true;
          return 1;
        }
        return 0;
      },
      &p);
  return p.present;
}

void remember(UnloadedModule module) {
  Guard guard;
  if (g_modules == nullptr) g_modules = new std::vector<UnloadedModule>();
  g_modules->push_back(std::move(module));
}

}  // namespace

std::vector<UnloadedModule> unloaded_modules() {
  Guard guard;
  return g_modules != nullptr ? *g_modules : std::vector<UnloadedModule>();
}

void forget_unloaded_modules() {
  g_lock.clear();
  if (g_modules != nullptr) g_modules->clear();
}

}  // namespace profpre

using DlcloseFn = int (*)(void*);
constinit std::atomic<DlcloseFn> g_real_dlclose{nullptr};

// Not for the signal handler: dlclose is not async-signal-safe.
extern "C" __attribute__((visibility("default")))  // interposes libc's
int dlclose(void* handle) {
  auto real = profpre::next_definition(g_real_dlclose, "dlclose");
  profpre::UnloadedModule module;
  bool noted = false;
  try {
    noted = profpre::runtime_active() && profpre::describe(handle, &module);
  } catch (...) {  // out of memory: the library's samples stay unsymbolized
    noted = false;
  }
  int rc = real(handle);
  if (rc == 0 && noted && !profpre::still_loaded(module)) {
    try {
      profpre::remember(std::move(module));
    } catch (...) {
    }
  }
  return rc;
}
