// libunwind, loaded privately.
//
// Debian's libunwind.so.8 also exports the C++ unwinding ABI
// (_Unwind_RaiseException and the rest). Linked as a dependency of a
// preloaded library it would come before libgcc_s in the program's search
// order, and the program's own exceptions would be unwound by it instead of
// by libgcc. So libprofpre.so does not link it: unwinder_load opens it with
// RTLD_LOCAL, keeping every symbol of it out of the program's scope, and the
// handler calls the few functions it needs through pointers.
#pragma once

#define UNW_LOCAL_ONLY
#include <libunwind.h>

namespace profpre {

struct Unwinder {
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int);
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
  int (*step)(unw_cursor_t*);
  int (*is_signal_frame)(unw_cursor_t*);
};

// Whether `address` is code of the libunwind we loaded (libunwind's own
// calls to sigprocmask must keep their meaning). Handler-safe: two loads.
bool in_unwinder(const void* address);

// Filled by unwinder_load; all null until then. Handler-safe: read-only
// after start.
extern constinit Unwinder g_unwinder;

// Opens libunwind privately, resolves its functions and asks for its
// per-thread cache. Debian's build (1.6.2) quietly keeps one global cache
// instead, guarded by a lock that libunwind takes with every signal blocked
// (through the real sigprocmask: preload/unwind_support.cc lets its calls
// through), so a handler never waits for a lock its own thread holds; it may
// wait briefly for another thread's walk. False when it cannot load.
// Not for the signal handler: dlopen.
bool unwinder_load();

}  // namespace profpre
