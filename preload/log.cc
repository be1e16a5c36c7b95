// The allocation-free logger.
#include "preload/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

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

void LogLine::emit() {
  int saved = errno;
  buf_[len_++] = '\n';
  size_t done = 0;
  while (done < len_) {
    ssize_t n = write(STDERR_FILENO, buf_ + done, len_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  len_ -= 1;
  errno = saved;
}

}  // namespace profpre
