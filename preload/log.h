// The one logger of the preload path: a fixed buffer, one write(2) to fd 2.
//
// Lines read `profpre: <subject>: <what failed>[: <errno text>]`. No
// allocation and no stdio, so it is usable from interposed functions and at
// any point of start-up or exit; errno is preserved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace profpre {

class LogLine {
 public:
  LogLine();  // starts the line with "profpre: "
  LogLine& add(std::string_view text);
  LogLine& add_int(int64_t value);
  LogLine& add_errno(int error);  // strerror text, from a fixed table
  // Writes the line and a newline with one write(2). Handler-safe: write is
  // async-signal-safe; nothing else is called.
  void emit();

 private:
  char buf_[512];
  size_t len_ = 0;
};

}  // namespace profpre
