// Expanding paths, reading and strictly decoding profiles, and naming the
// process each one came from.

#include "scripts/profpre/profile_set.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "encoder/decode.h"
#include "encoder/gzip.h"

namespace profpre {
namespace {

bool is_profile_name(const std::string& name) {
  return !name.starts_with(".") && (name.ends_with(".pb.gz") || name.ends_with(".pb"));
}

bool list_directory(const std::string& dir, std::vector<std::string>* files, std::string* error) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    *error = dir + ": cannot open directory: " + std::strerror(errno);
    return false;
  }
  std::vector<std::string> names;
  while (const dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (!is_profile_name(name)) continue;
    std::string path = dir.ends_with("/") ? dir + name : dir + "/" + name;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(path);
  }
  closedir(d);
  if (names.empty()) {
    *error = dir + ": no profiles in this directory (looked for *.pb.gz and *.pb)";
    return false;
  }
  std::sort(names.begin(), names.end());
  files->insert(files->end(), names.begin(), names.end());
  return true;
}

bool read_whole_file(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *error = std::string("cannot read: ") + std::strerror(errno);
    return false;
  }
  *out = std::move(buffer).str();
  return true;
}

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// The value of a "key=value" comment, or empty.
std::string comment_value(const Profile& profile, std::string_view key) {
  for (const std::string& comment : profile.comments) {
    if (comment.size() > key.size() && comment.starts_with(key) && comment[key.size()] == '=') {
      return comment.substr(key.size() + 1);
    }
  }
  return "";
}

bool same_value_type(const ValueType& a, const ValueType& b) {
  return a.type == b.type && a.unit == b.unit;
}

std::string describe(const ValueType& v) { return v.type + "/" + v.unit; }

// Sums the chosen value and its magnitude; false when either overflows.
bool add_up(LoadedProfile* loaded) {
  loaded->total = 0;
  loaded->magnitude = 0;
  for (const Sample& sample : loaded->profile.samples) {
    int64_t value = sample.values[loaded->value_index];
    if (value == INT64_MIN || __builtin_add_overflow(loaded->total, value, &loaded->total) ||
        __builtin_add_overflow(loaded->magnitude, value < 0 ? -value : value, &loaded->magnitude)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool expand_profile_paths(const std::vector<std::string>& args, std::vector<std::string>* files,
                          std::string* error) {
  for (const std::string& arg : args) {
    struct stat st {};
    if (stat(arg.c_str(), &st) != 0) {
      *error = arg + ": " + std::strerror(errno);
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      if (!list_directory(arg, files, error)) return false;
    } else if (S_ISREG(st.st_mode)) {
      files->push_back(arg);
    } else {
      *error = arg + ": not a regular file or a directory";  // a device may never end
      return false;
    }
  }
  return true;
}

bool decode_profile_file(std::string_view bytes, Profile* out, std::string* error) {
  if (bytes.empty()) {
    *error = "empty file, not a profile";
    return false;
  }
  std::string inflated;
  if (is_gzip(bytes)) {
    if (!gzip_decompress(bytes, &inflated, error)) {
      *error = "bad gzip data (truncated or corrupt file?): " + *error;
      return false;
    }
    bytes = inflated;
  }
  if (!decode_profile(bytes, out, error)) {
    *error = "not a valid profile: " + *error;
    return false;
  }
  if (out->sample_types.empty()) {
    *error = "not a valid profile: no sample types";
    return false;
  }
  return true;
}

bool load_profile(const std::string& path, LoadedProfile* out, std::string* error) {
  std::string bytes;
  out->path = path;
  if (!read_whole_file(path, &bytes, error) || !decode_profile_file(bytes, &out->profile, error)) {
    *error = path + ": " + *error;
    return false;
  }
  out->value_index = choose_value_index(out->profile);
  if (!add_up(out)) {
    *error = path + ": sample values too large to add up (corrupt file?)";
    return false;
  }
  identify_process(out);
  return true;
}

bool load_profiles(const std::vector<std::string>& args, std::vector<LoadedProfile>* out,
                   std::string* error) {
  std::vector<std::string> files;
  if (!expand_profile_paths(args, &files, error)) return false;
  int64_t magnitude = 0;
  for (const std::string& file : files) {
    LoadedProfile& loaded = out->emplace_back();
    if (!load_profile(file, &loaded, error)) return false;
    if (__builtin_add_overflow(magnitude, loaded.magnitude, &magnitude)) {
      *error = file + ": sample values too large to add up with the other profiles";
      return false;
    }
    const ValueType& first = out->front().profile.sample_types[out->front().value_index];
    const ValueType& mine = loaded.profile.sample_types[loaded.value_index];
    if (!same_value_type(first, mine)) {
      *error = file + ": measures " + describe(mine) + ", but " + out->front().path + " measures " +
               describe(first) + "; give profiles of one kind";
      return false;
    }
  }
  return true;
}

size_t choose_value_index(const Profile& profile) {
  const std::vector<ValueType>& types = profile.sample_types;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i].type == "cpu" && types[i].unit == "nanoseconds") return i;
  }
  return types.empty() ? 0 : types.size() - 1;
}

void identify_process(LoadedProfile* loaded) {
  const Profile& profile = loaded->profile;
  std::string exe = comment_value(profile, "exe");
  if (exe.empty() && !profile.mappings.empty()) exe = profile.mappings.front().filename;
  loaded->process_name = exe.empty() ? base_name(loaded->path) : base_name(exe);

  std::string pid = comment_value(profile, "pid");
  loaded->pid = 0;
  if (!pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos && pid.size() < 19) {
    loaded->pid = std::stoll(pid);
  }
}

std::string process_label(const LoadedProfile& loaded) {
  if (loaded.pid == 0) return loaded.process_name;
  return loaded.process_name + "[" + std::to_string(loaded.pid) + "]";
}

}  // namespace profpre
