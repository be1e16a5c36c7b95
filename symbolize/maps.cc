// Parses /proc/PID/maps. Each line is
//   start-limit perms offset dev inode   path
// with hexadecimal addresses, offset and device numbers and a decimal inode.
// The path is everything after the padding that follows the inode, so it may
// hold spaces; it is empty for anonymous memory. Two shapes cannot be told
// apart from the text and are read the plain way: a path whose own name
// starts with a space loses that space, and a file whose real name ends in
// " (deleted)" is taken as deleted. The kernel escapes a newline in a path as
// "\012"; we keep that text as it is.

#include "symbolize/maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>

namespace profpre {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// A cursor over one line; each step consumes one field or fails.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text) {}

  bool number(int base, uint64_t* out) {
    const char* first = rest_.data();
    const char* last = first + rest_.size();
    auto [end, error] = std::from_chars(first, last, *out, base);
    if (error != std::errc() || end == first) return false;
    rest_.remove_prefix(static_cast<size_t>(end - first));
    return true;
  }

  bool literal(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }

  // At least one blank, then as many more as there are.
  bool blanks() {
    size_t n = rest_.find_first_not_of(" \t");
    if (n == 0) return false;
    rest_.remove_prefix(n == std::string_view::npos ? rest_.size() : n);
    return true;
  }

  bool word(size_t length, std::string_view* out) {
    if (rest_.size() < length) return false;
    *out = rest_.substr(0, length);
    rest_.remove_prefix(length);
    return true;
  }

  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

bool valid_perms(std::string_view p) {
  return (p[0] == 'r' || p[0] == '-') && (p[1] == 'w' || p[1] == '-') &&
         (p[2] == 'x' || p[2] == '-') && (p[3] == 'p' || p[3] == 's');
}

// "major:minor" in hex; the value is not kept.
bool skip_device(LineReader* reader) {
  uint64_t unused = 0;
  return reader->number(16, &unused) && reader->literal(':') && reader->number(16, &unused);
}

std::optional<MapEntry> parse_fields(std::string_view line) {
  MapEntry entry;
  LineReader reader(line);
  std::string_view perms;
  if (!reader.number(16, &entry.start) || !reader.literal('-') ||
      !reader.number(16, &entry.limit) || !reader.blanks() || !reader.word(4, &perms) ||
      !valid_perms(perms) || !reader.blanks() || !reader.number(16, &entry.offset) ||
      !reader.blanks() || !skip_device(&reader) || !reader.blanks() ||
      !reader.number(10, &entry.inode)) {
    return std::nullopt;
  }
  if (entry.limit <= entry.start) return std::nullopt;

  // Anonymous memory ends at the inode, perhaps with trailing padding.
  std::string_view path;
  if (!reader.rest().empty()) {
    if (!reader.blanks()) return std::nullopt;
    path = reader.rest();
  }
  if (path.ends_with(kDeletedSuffix)) {
    path.remove_suffix(kDeletedSuffix.size());
    entry.deleted = true;
  }
  entry.perms = perms;
  entry.path = path;
  return entry;
}

// Code pprof can name: a file, the vDSO (an ELF image with a build ID) or
// [vsyscall] (a fixed legacy page). Other bracketed names, such as [anon:x]
// or [uprobes], have no file behind them.
bool is_named_code(const MapEntry& entry) {
  if (!entry.executable() || entry.path.empty()) return false;
  if (entry.path.front() != '[') return true;
  return entry.path == "[vdso]" || entry.path == "[vsyscall]";
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// The whole file. Files in /proc report a size of 0 and hand out a page or
// so per read, so we read until end of file.
bool read_file(const char* path, std::string* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  FdCloser closer(fd);
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

std::optional<MapEntry> parse_maps_line(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  try {
    return parse_fields(line);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<MapEntry> read_maps(const char* path) {
  std::vector<MapEntry> entries;
  try {
    std::string text;
    if (!read_file(path, &text)) return {};
    std::string_view rest = text;
    while (!rest.empty()) {
      size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      if (auto entry = parse_maps_line(line)) entries.push_back(std::move(*entry));
    }
  } catch (const std::exception&) {
    return {};
  }
  return entries;
}

std::vector<MapEntry> profile_mappings(const std::vector<MapEntry>& all,
                                       const std::string& main_executable) {
  std::vector<MapEntry> kept;
  try {
    for (const MapEntry& entry : all) {
      if (is_named_code(entry)) kept.push_back(entry);
    }
    std::stable_sort(kept.begin(), kept.end(),
                     [](const MapEntry& a, const MapEntry& b) { return a.start < b.start; });

    // pprof takes the first Mapping as the main binary.
    auto main = std::find_if(kept.begin(), kept.end(), [&](const MapEntry& entry) {
      return !main_executable.empty() && entry.path == main_executable;
    });
    if (main != kept.end()) std::rotate(kept.begin(), main, main + 1);
  } catch (const std::exception&) {
    return {};
  }
  return kept;
}

}  // namespace profpre
