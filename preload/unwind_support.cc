// What libunwind needs from libc, answered safely inside our handler.
//
// To find a frame's unwind information libunwind 1.6 calls dl_iterate_phdr,
// which takes the dynamic loader's lock, and brackets the call with two
// sigprocmask system calls. In a signal handler the lock is a deadlock: the
// interrupted thread, or one it waits for, may hold it (gperftools issues
// 775 and 1188 are this hang). libunwind added a hook to replace the call
// only in 2023, after the version Debian 12 ships.
//
// Both functions are interposed here. Outside our handler they forward to
// libc unchanged. Inside it (t_in_unwind), dl_iterate_phdr asks glibc's
// _dl_find_object, which is lock-free and async-signal-safe, for the one
// object holding the address being unwound, and calls libunwind's callback
// for that object alone; sigprocmask does nothing, because the handler
// already runs with every signal blocked.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/handler.h"
#include "core/blocked_walk.h"
#include "core/unwinder.h"
#include "preload/libc_next.h"
#include "preload/signals.h"

namespace {

using IterateFn = int (*)(int (*)(dl_phdr_info*, size_t, void*), void*);

constinit std::atomic<IterateFn> g_real_iterate{nullptr};


// Fills `info` for the object mapped at `found`, from its ELF header, which
// the first loaded segment maps at the object's lowest address.
// Handler-safe: reads mapped memory only, after checking its bounds.
bool describe_object(const dl_find_object& found, dl_phdr_info* info) {
  auto* start = static_cast<const unsigned char*>(found.dlfo_map_start);
  auto* end = static_cast<const unsigned char*>(found.dlfo_map_end);
  if (start == nullptr || end - start < static_cast<ptrdiff_t>(sizeof(ElfW(Ehdr)))) return false;
  auto* header = reinterpret_cast<const ElfW(Ehdr)*>(start);
  if (memcmp(header->e_ident, ELFMAG, SELFMAG) != 0) return false;
  size_t table = static_cast<size_t>(header->e_phnum) * sizeof(ElfW(Phdr));
  if (header->e_phentsize != sizeof(ElfW(Phdr)) ||
      header->e_phoff + table > static_cast<size_t>(end - start)) {
    return false;
  }
  memset(info, 0, sizeof *info);
  info->dlpi_addr = found.dlfo_link_map->l_addr;
  info->dlpi_name = found.dlfo_link_map->l_name;
  info->dlpi_phdr = reinterpret_cast<const ElfW(Phdr)*>(start + header->e_phoff);
  info->dlpi_phnum = header->e_phnum;
  return true;
}

// Handler-safe: _dl_find_object is documented lock-free and
// async-signal-safe; the callback is libunwind's, run on one object.
int iterate_in_handler(int (*callback)(dl_phdr_info*, size_t, void*), void* data) {
  dl_find_object found{};
  void* pc = reinterpret_cast<void*>(profpre::t_unwind_lookup_pc);
  if (_dl_find_object(pc, &found) != 0) return 0;
  dl_phdr_info info;
  if (!describe_object(found, &info)) return 0;
  return callback(&info, sizeof info, data);
}

}  // namespace

// Handler-safe when reached from our handler (see above); otherwise libc's.
extern "C" __attribute__((visibility("default")))  // interposes libc's
int dl_iterate_phdr(int (*callback)(dl_phdr_info*, size_t, void*), void* data) {
  if (profpre::t_in_unwind) return iterate_in_handler(callback, data);
  IterateFn real = profpre::next_definition(g_real_iterate, "dl_iterate_phdr");
  return real != nullptr ? real(callback, data) : 0;
}

// Handler-safe when reached from our handler: changes nothing, reports a
// full mask (the handler's own); otherwise the program's (signals.cc).
extern "C" __attribute__((visibility("default")))  // interposes libc's
int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  if (profpre::t_in_unwind) {
    if (old != nullptr) sigfillset(old);
    return 0;
  }
  // libunwind blocks every signal around its own critical sections, also
  // when the program itself unwinds with it: those masks keep their meaning,
  // or our handler could enter libunwind while the program holds its locks.
  void* caller = __builtin_return_address(0);
  if (profpre::in_unwinder(caller) || profpre::in_blocked_walker(caller)) {
    return profpre::real_sigprocmask(how, set, old);
  }
  return profpre::program_sigprocmask(how, set, old);
}

// libunwind opens a pipe at its first use and keeps it for the life of the
// process: it tests whether memory is readable by writing from it, at the
// end of most stack walks. Opened as usual it takes the lowest free numbers,
// the ones a program that closed its descriptors gets back from its next
// open(2), and the two would then share files (bytes of ours written into
// the program's). libunwind's pipe is moved to the top of the descriptor
// range, just under the soft limit, where open(2) does not reach before the
// program has hundreds of files open; if the program closes it, libunwind
// makes a new one, moved the same way. Handler-safe: system calls only (a
// reopen may happen inside our handler).
namespace {

using PipeFn = int (*)(int*, int);
constinit std::atomic<PipeFn> g_real_pipe2{nullptr};

int move_high(int fd) {
  rlimit limit{};
  if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < 64) return fd;
  int floor = static_cast<int>(limit.rlim_cur > 4096 ? 4096 : limit.rlim_cur) - 8;
  int high = static_cast<int>(syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor));
  if (high < 0) return fd;
  syscall(SYS_close, fd);
  return high;
}

}  // namespace

extern "C" __attribute__((visibility("default")))  // interposes libc's
int pipe2(int fds[2], int flags) {
  int rc = profpre::next_definition(g_real_pipe2, "pipe2")(fds, flags);
  void* caller = __builtin_return_address(0);
  if (rc == 0 && (profpre::in_unwinder(caller) || profpre::in_blocked_walker(caller))) {
    fds[0] = move_high(fds[0]);
    fds[1] = move_high(fds[1]);
  }
  return rc;
}
