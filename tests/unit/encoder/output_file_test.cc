// Tests of write_file_atomically, each in a fresh directory from mkdtemp.
// Failures are provoked for real: a missing directory, a path under a
// regular file, a directory as the target, a directory the writer may not
// write (in a child that gives up root), and a file-size limit that makes
// write(2) fail part-way.

#include "encoder/output_file.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace profpre {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/profpre_output_file_test.XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, ignored);
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
  REQUIRE(read_file(path) == data);
}

std::string failure_of(const std::string& path, const std::string& data) {
  std::string error;
  CHECK_FALSE(write_file_atomically(path, data, &error));
  return error;
}

TEST_CASE("write_file_atomically creates the file with mode 0644 less the umask",
          "[encoder][output_file]") {
  TempDir dir;
  mode_t saved = umask(022);
  std::string error;
  bool ok = write_file_atomically(dir / "p.pb.gz", "hello", &error);
  umask(saved);
  INFO("error: " << error);
  REQUIRE(ok);
  CHECK(read_file(dir / "p.pb.gz") == "hello");
  CHECK(list(dir.path()) == std::vector<std::string>{"p.pb.gz"});

  struct stat st {};
  REQUIRE(stat((dir / "p.pb.gz").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
}

TEST_CASE("write_file_atomically writes empty data as an empty file", "[encoder][output_file]") {
  TempDir dir;
  std::string error;
  REQUIRE(write_file_atomically(dir / "p", "", &error));
  CHECK(fs::file_size(dir / "p") == 0);
}

TEST_CASE("write_file_atomically replaces an existing file by renaming over it",
          "[encoder][output_file]") {
  TempDir dir;
  put_file(dir / "p", "old contents");
  std::ifstream old_reader(dir / "p", std::ios::binary);

  std::string error;
  REQUIRE(write_file_atomically(dir / "p", "new", &error));
  CHECK(read_file(dir / "p") == "new");
  CHECK(list(dir.path()) == std::vector<std::string>{"p"});

  // A reader that opened the old file still sees all of it: not truncated in place.
  CHECK(std::string(std::istreambuf_iterator<char>(old_reader), {}) == "old contents");
}

TEST_CASE("write_file_atomically replaces a symlink rather than following it",
          "[encoder][output_file]") {
  TempDir dir;
  put_file(dir / "other", "other file");
  fs::create_symlink(dir / "other", dir / "p");
  std::string error;
  REQUIRE(write_file_atomically(dir / "p", "new", &error));
  CHECK_FALSE(fs::is_symlink(dir / "p"));
  CHECK(read_file(dir / "p") == "new");
  CHECK(read_file(dir / "other") == "other file");
}

TEST_CASE("write_file_atomically fails cleanly when the directory is missing",
          "[encoder][output_file]") {
  TempDir dir;
  std::string error = failure_of(dir / "missing/p", "data");
  CHECK_THAT(error, StartsWith("cannot create " + dir.path() + "/missing/.p.tmp."));
  CHECK_THAT(error, EndsWith(": No such file or directory"));
  CHECK(list(dir.path()).empty());
}

TEST_CASE("write_file_atomically fails cleanly under a regular file", "[encoder][output_file]") {
  TempDir dir;
  put_file(dir / "file", "x");
  std::string error = failure_of(dir / "file/sub/p", "data");
  CHECK_THAT(error, StartsWith("cannot create " + dir.path() + "/file/sub/.p.tmp."));
  CHECK_THAT(error, EndsWith(": Not a directory"));
  CHECK(list(dir.path()) == std::vector<std::string>{"file"});
  CHECK(read_file(dir / "file") == "x");
}

TEST_CASE("write_file_atomically will not replace a directory", "[encoder][output_file]") {
  TempDir dir;
  fs::create_directory(dir / "sub");
  put_file(dir / "sub/inside", "kept");

  SECTION("the directory's own path") {
    std::string error = failure_of(dir / "sub", "data");
    CHECK_THAT(error, StartsWith("cannot rename " + dir.path() + "/.sub.tmp."));
    CHECK_THAT(error, EndsWith(" to " + dir.path() + "/sub: Is a directory"));
  }
  SECTION("the directory's path with a trailing slash") {
    std::string error = failure_of(dir / "sub/", "data");
    CHECK(error == "cannot write " + dir.path() + "/sub/: Is a directory");
  }
  CHECK(list(dir.path()) == std::vector<std::string>{"sub"});
  CHECK(list(dir / "sub") == std::vector<std::string>{"inside"});
}

// Runs write_file_atomically(path, "new") in a child that, when root,
// becomes nobody first, so that directory permissions apply to it.
// Returns the error text, or "ok".
std::string write_as_unprivileged_child(const std::string& path) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && setuid(65534) != 0) _exit(2);
    std::string error;
    bool ok = write_file_atomically(path, "new", &error);
    std::string report = ok ? "ok" : error;
    _exit(write(fds[1], report.data(), report.size()) < 0 ? 3 : 0);
  }
  close(fds[1]);
  std::string report;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) {
    report.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return report;
}

TEST_CASE("write_file_atomically fails cleanly in a directory it may not write",
          "[encoder][output_file]") {
  TempDir dir;
  put_file(dir / "p", "old");
  fs::permissions(dir / "p", fs::perms::all);  // the file itself is writable by anyone

  SECTION("read-only directory: refused, the old file stays") {
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec |
                                    fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    std::string report = write_as_unprivileged_child(dir / "p");
    CHECK_THAT(report, StartsWith("cannot create " + dir.path() + "/.p.tmp."));
    CHECK_THAT(report, EndsWith(": Permission denied"));
    CHECK(read_file(dir / "p") == "old");
  }
  SECTION("control: the same child succeeds once the directory is writable") {
    fs::permissions(dir.path(), fs::perms::all);
    CHECK(write_as_unprivileged_child(dir / "p") == "ok");
    CHECK(read_file(dir / "p") == "new");
  }
  CHECK(list(dir.path()) == std::vector<std::string>{"p"});
}

// Lowers RLIMIT_FSIZE for the test's lifetime, so that write(2) fails with
// EFBIG past `limit` bytes (SIGXFSZ is ignored meanwhile).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = limit;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
};

TEST_CASE("write_file_atomically leaves the old target when a write fails part-way",
          "[encoder][output_file]") {
  TempDir dir;
  put_file(dir / "p", "old");
  std::string error;
  {
    FileSizeLimit limit(4096);
    error = failure_of(dir / "p", std::string(64 * 1024, 'x'));
  }
  CHECK_THAT(error, StartsWith("cannot write " + dir.path() + "/.p.tmp."));
  CHECK_THAT(error, EndsWith(": File too large"));
  CHECK(read_file(dir / "p") == "old");
  CHECK(list(dir.path()) == std::vector<std::string>{"p"});
}

// Temporary names end in a per-process counter that this test binary has
// advanced only a few times, so 80 stale names cover the next one it picks.
TEST_CASE("write_file_atomically skips stale temporary files instead of reusing them",
          "[encoder][output_file]") {
  TempDir dir;
  std::string prefix = ".p.tmp." + std::to_string(getpid()) + ".";
  for (int i = 0; i < 80; ++i) put_file(dir / (prefix + std::to_string(i)), "stale");

  std::string error;
  REQUIRE(write_file_atomically(dir / "p", "new", &error));
  CHECK(read_file(dir / "p") == "new");
  CHECK(list(dir.path()).size() == 81);
  for (int i = 0; i < 80; ++i) CHECK(read_file(dir / (prefix + std::to_string(i))) == "stale");
}

TEST_CASE("write_file_atomically names the temporary file after the target",
          "[encoder][output_file]") {
  TempDir dir;
  std::string error = failure_of(dir / "no/prof.pb.gz", "x");
  std::string expected =
      "cannot create " + dir.path() + "/no/.prof.pb.gz.tmp." + std::to_string(getpid()) + ".";
  CHECK_THAT(error, StartsWith(expected));
  CHECK_THAT(error, Contains(": No such file"));
}

}  // namespace
}  // namespace profpre
