// Planning record's output and finding the profiles a run left.

#include "scripts/profpre/record_output.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace profpre {
namespace {

constexpr const char* kDirectoryPattern = "prof.%p.pb.gz";

std::string absolute(const std::string& path, const std::string& cwd) {
  if (path.starts_with("/")) return path;
  return cwd.ends_with("/") ? cwd + path : cwd + "/" + path;
}

std::string strip_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.ends_with("/")) path.pop_back();
  return path;
}

// The literal text before the first %p or the first '.' (kept), with %% as %.
std::string name_head(const std::string& name) {
  std::string head;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 1 < name.size()) {
      if (name[i + 1] == 'p') break;
      head += name[i + 1] == '%' ? "%" : name.substr(i, 2);
      ++i;
      continue;
    }
    head += name[i];
    if (name[i] == '.') break;
  }
  return head;
}

// From the last '.' on, when no %p follows it; else empty.
std::string name_tail(const std::string& name) {
  size_t dot = name.rfind('.');
  size_t pid = name.rfind("%p");
  if (dot == std::string::npos || (pid != std::string::npos && pid > dot)) return "";
  std::string tail;
  for (size_t i = dot; i < name.size(); ++i) {
    tail += name[i];
    if (name[i] == '%' && i + 1 < name.size() && name[i + 1] == '%') ++i;
  }
  return tail;
}

}  // namespace

bool plan_output(const std::string& option, const std::string& cwd, bool is_directory,
                 OutputPlan* out, std::string* error) {
  if (option.empty()) {
    *error = "-o needs a directory (ending in /) or a file pattern";
    return false;
  }
  out->shown = option;
  if (is_directory || option.ends_with("/")) {
    out->directory = strip_trailing_slashes(absolute(option, cwd));
    out->pattern = out->directory + "/" + kDirectoryPattern;
  } else {
    out->pattern = absolute(option, cwd);
    out->directory = out->pattern.substr(0, out->pattern.rfind('/'));
    if (out->directory.empty()) out->directory = "/";
  }
  if (out->directory.find("%p") != std::string::npos) {
    *error = "-o " + option + ": %p may appear in the file name only, not in a directory";
    return false;
  }
  std::string name = out->pattern.substr(out->pattern.rfind('/') + 1);
  out->head = name_head(name);
  out->tail = name_tail(name);
  return true;
}

bool is_output_name(const OutputPlan& plan, const std::string& name) {
  return !name.starts_with(".") && name.size() >= plan.head.size() + plan.tail.size() &&
         name.starts_with(plan.head) && name.ends_with(plan.tail);
}

DirectorySnapshot snapshot_outputs(const OutputPlan& plan) {
  DirectorySnapshot snapshot;
  DIR* dir = opendir(plan.directory.c_str());
  if (dir == nullptr) return snapshot;
  while (const dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    struct stat st {};
    std::string path = plan.directory + "/" + name;
    if (!is_output_name(plan, name) || stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    snapshot[name] = {.inode = st.st_ino,
                      .mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                      .size = st.st_size};
  }
  closedir(dir);
  return snapshot;
}

std::vector<std::string> new_outputs(const OutputPlan& plan, const DirectorySnapshot& before,
                                     const DirectorySnapshot& after) {
  std::vector<std::string> out;
  for (const auto& [name, stamp] : after) {
    auto old = before.find(name);
    if (old == before.end() || !(old->second == stamp)) {
      out.push_back(plan.directory + "/" + name);
    }
  }
  return out;  // a std::map iterates in name order
}

bool make_directories(const std::string& path, std::string* error) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      *error = "cannot create directory " + prefix + ": " + std::strerror(errno);
      return false;
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = path + " is not a directory";
    return false;
  }
  return true;
}

}  // namespace profpre
