// Locating the preload library from the command's own path.

#include "scripts/profpre/library_path.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

namespace profpre {
namespace {

constexpr const char* kLibrary = "libprofpre.so";

std::string directory_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? "." : std::string(path.substr(0, slash));
}

// "bin" -> 1, "local/bin" -> 2, "." -> 0.
int components(std::string_view dir) {
  int count = 0;
  size_t i = 0;
  while (i < dir.size()) {
    size_t next = dir.find('/', i);
    if (next == std::string_view::npos) next = dir.size();
    std::string_view part = dir.substr(i, next - i);
    if (!part.empty() && part != ".") count++;
    i = next + 1;
  }
  return count;
}

std::string self_exe() {
  char buffer[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

}  // namespace

std::vector<std::string> library_candidates(std::string_view exe, std::string_view prefix,
                                            std::string_view bindir, std::string_view libdir) {
  std::vector<std::string> out;
  std::string exe_dir = directory_of(exe);
  bool relative_libdir = !libdir.starts_with("/");
  if (relative_libdir && !bindir.starts_with("/")) {
    std::string root = exe_dir;
    for (int i = components(bindir); i > 0; --i) root += "/..";
    out.push_back(root + "/" + std::string(libdir) + "/" + kLibrary);
  }
  if (!relative_libdir) {
    out.push_back(std::string(libdir) + "/" + kLibrary);
  } else {
    out.push_back(std::string(prefix) + "/" + std::string(libdir) + "/" + kLibrary);
  }
  out.push_back(exe_dir + "/../../" + kLibrary);
  return out;
}

bool find_library(std::string* path, std::string* error) {
  std::string exe = self_exe();
  if (exe.empty()) {
    *error = "cannot read /proc/self/exe to find libprofpre.so";
    return false;
  }
  std::string tried;
  for (const std::string& candidate :
       library_candidates(exe, PROFPRE_PREFIX, PROFPRE_BINDIR, PROFPRE_LIBDIR)) {
    char resolved[PATH_MAX];
    if (access(candidate.c_str(), R_OK) == 0 && realpath(candidate.c_str(), resolved) != nullptr) {
      *path = resolved;
      return true;
    }
    tried += "\n  " + candidate;
  }
  *error = "cannot find libprofpre.so; looked in:" + tried +
           "\ninstall profpre with `meson install`, or run it from its build tree";
  return false;
}

}  // namespace profpre
