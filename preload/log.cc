// The allocation-free logger.
#include "preload/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/private_files.h"

namespace profpre {

LogLine::LogLine() { add("profpre: "); }

LogLine& LogLine::add(std::string_view text) {
  size_t room = sizeof buf_ - 1 - len_;  // one byte kept for the newline
  size_t n = text.size() < room ? text.size() : room;
  memcpy(buf_ + len_, text.data(), n);
  len_ += n;
  return *this;
}

LogLine& LogLine::add_int(int64_t value) {
  char digits[24];
  int n = 0;
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  if (value < 0) digits[n++] = '-';
  char text[24];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  return add(std::string_view(text, static_cast<size_t>(n)));
}

LogLine& LogLine::add_errno(int error) {
  // strerrordesc_np reads a constant table: no locale, no allocation.
  const char* text = strerrordesc_np(error);
  return add(text != nullptr ? text : "unknown error");
}

namespace {

// The program's stderr as a descriptor of the calling thread's table: fd 2
// itself, or, on one of our threads with a table of its own, a duplicate
// taken from the program's table (pidfd_getfd); -1 when there is none.
// Handler-safe: system calls only.
int program_stderr(bool* owned) {
  *owned = false;
  if (!has_private_descriptor_table()) return STDERR_FILENO;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  if (pidfd < 0) return -1;
  int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, STDERR_FILENO, 0));
  close(pidfd);
  *owned = fd >= 0;
  return fd;
}

}  // namespace

void LogLine::emit() {
  int saved = errno;
  bool owned = false;
  int fd = program_stderr(&owned);
  buf_[len_++] = '\n';
  size_t done = 0;
  while (fd >= 0 && done < len_) {
    ssize_t n = write(fd, buf_ + done, len_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (owned) close(fd);
  len_ -= 1;
  errno = saved;
}

}  // namespace profpre
