#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "preload/log.h"

namespace {

// Runs fn with fd 2 redirected to a pipe and returns what it wrote.
template <typename Fn>
std::string capture_stderr(Fn fn) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  return out;
}

}  // namespace

TEST_CASE("a log line is one prefixed line and keeps errno", "[log]") {
  errno = EBADF;
  std::string out = capture_stderr([] {
    profpre::LogLine().add("PROF_OUT: cannot open ").add("/x").add(": ").add_errno(ENOENT).emit();
  });
  CHECK(out == "profpre: PROF_OUT: cannot open /x: No such file or directory\n");
  CHECK(errno == EBADF);
}

TEST_CASE("numbers print in decimal with their sign", "[log]") {
  std::string out = capture_stderr([] {
    profpre::LogLine().add_int(0).add(" ").add_int(-42).add(" ").add_int(INT64_MIN).emit();
  });
  CHECK(out == "profpre: 0 -42 -9223372036854775808\n");
}

TEST_CASE("an overlong line is cut but still ends the line", "[log]") {
  std::string out = capture_stderr([] { profpre::LogLine().add(std::string(2000, 'x')).emit(); });
  CHECK(out.size() == 512);
  CHECK(out.back() == '\n');
}
