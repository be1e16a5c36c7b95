// unshare(CLONE_FILES) and close_range for our own threads (private_files.h).
#include "core/private_files.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace profpre {

namespace {
constinit thread_local bool t_private_table = false;
}  // namespace

bool use_private_descriptor_table() {
  if (t_private_table) return true;
  if (unshare(CLONE_FILES) != 0) return false;
  t_private_table = true;
  // The copies of the program's descriptors go at once: held here, a pipe
  // the program closes would never reach end-of-file for its reader.
  if (syscall(SYS_close_range, 0u, ~0u, 0u) != 0) {
    for (int fd = 0; fd < 65536; ++fd) close(fd);
  }
  return true;
}

bool has_private_descriptor_table() { return t_private_table; }

bool start_own_thread(CreateThreadFn create, void* (*routine)(void*), void* arg) {
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &saved, NSIG / 8);
  pthread_t thread;
  int rc = create(&thread, nullptr, routine, arg);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &saved, nullptr, NSIG / 8);
  if (rc != 0) return false;
  pthread_detach(thread);
  return true;
}

}  // namespace profpre
