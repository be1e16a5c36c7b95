// Replaces a file whole or not at all. The data goes to a fresh temporary
// file in the target's own directory (so rename(2) never crosses file
// systems), named .<basename>.tmp.<pid>.<counter> and created with O_EXCL so
// that two writers, or a stale file from an earlier process with the same
// pid, never share it. The temporary is then renamed over the target, which
// readers see either as it was or complete. Nothing is fsynced: a power
// failure just after the rename may still lose the new contents.

#include "encoder/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <string>

namespace profpre {
namespace {

constexpr int kCreateAttempts = 100;  // names already taken are skipped
constexpr mode_t kMode = 0644;        // less the umask

std::atomic<unsigned> temp_counter{0};

std::string describe_errno(int err) {
  const char* text = strerrordesc_np(err);  // static text, unlike strerror
  return text != nullptr ? text : "error " + std::to_string(err);
}

std::string failure(const char* verb, const std::string& path, int err) {
  return std::string("cannot ") + verb + " " + path + ": " + describe_errno(err);
}

// The temporary file. It is closed and removed on destruction unless it
// has been renamed over the target. Each step returns 0 or an errno value.
class TempFile {
 public:
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  int create(const std::string& target);
  int write_all(std::string_view data);
  int close();
  int rename_over(const std::string& target);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool exists_ = false;
};

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (exists_) ::unlink(path_.c_str());
}

int TempFile::create(const std::string& target) {
  size_t name_start = target.rfind('/') + 1;  // 0 when there is no slash
  std::string prefix = target.substr(0, name_start) + "." + target.substr(name_start) + ".tmp." +
                       std::to_string(::getpid()) + ".";
  int err = EEXIST;
  for (int attempt = 0; attempt < kCreateAttempts && err == EEXIST; ++attempt) {
    path_ = prefix + std::to_string(temp_counter.fetch_add(1));
    do {
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kMode);
      err = fd_ >= 0 ? 0 : errno;
    } while (err == EINTR);
  }
  exists_ = fd_ >= 0;
  return err;
}

int TempFile::write_all(std::string_view data) {
  while (!data.empty()) {
    size_t chunk = std::min<size_t>(data.size(), SSIZE_MAX);
    ssize_t n = ::write(fd_, data.data(), chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    // A regular file reports a full disk with ENOSPC; 0 would loop forever.
    if (n == 0) return ENOSPC;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

int TempFile::close() {
  int rc = ::close(fd_);
  fd_ = -1;  // released even on error; retrying could close another thread's fd
  // EINTR counts as failure too: on NFS it can hide a lost write.
  return rc == 0 ? 0 : errno;
}

int TempFile::rename_over(const std::string& target) {
  if (::rename(path_.c_str(), target.c_str()) != 0) return errno;
  exists_ = false;
  return 0;
}

bool replace_file(const std::string& path, std::string_view data, std::string* error) {
  if (path.empty() || path.back() == '/') {
    *error = failure("write", path, path.empty() ? ENOENT : EISDIR);
    return false;
  }

  TempFile temp;
  if (int err = temp.create(path); err != 0) {
    *error = failure("create", temp.path(), err);
    return false;
  }
  if (int err = temp.write_all(data); err != 0) {
    *error = failure("write", temp.path(), err);
    return false;
  }
  if (int err = temp.close(); err != 0) {
    *error = failure("close", temp.path(), err);
    return false;
  }
  if (int err = temp.rename_over(path); err != 0) {
    *error = failure("rename", temp.path() + " to " + path, err);
    return false;
  }
  return true;
}

}  // namespace

bool write_file_atomically(const std::string& path, std::string_view data, std::string* error) {
  try {
    return replace_file(path, data, error);
  } catch (const std::exception&) {  // bad_alloc while building a path or message
    *error = "out of memory";
    return false;
  }
}

}  // namespace profpre
