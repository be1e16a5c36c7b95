// unshare(CLONE_FILES) and close_range for our own threads (private_files.h).
#include "core/private_files.h"

#include <sched.h>
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

}  // namespace profpre
