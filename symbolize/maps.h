// Parsing /proc/self/maps into pprof Mappings.
// Runs only on the background thread: may allocate, never call from a handler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace profpre {

struct MapEntry {
  uint64_t start = 0;
  uint64_t limit = 0;
  uint64_t offset = 0;
  std::string perms;  // "r-xp"
  uint64_t inode = 0;
  std::string path;   // " (deleted)" stripped; empty for anonymous memory
  bool deleted = false;

  bool executable() const { return perms.size() >= 3 && perms[2] == 'x'; }
};

// One line of /proc/PID/maps, or nullopt when it does not parse. Paths may hold
// spaces.
std::optional<MapEntry> parse_maps_line(std::string_view line);

// Every line of a maps file (default: this process's).
std::vector<MapEntry> read_maps(const char* path = "/proc/self/maps");

// The entries that become pprof Mappings: executable and named (file-backed,
// or a pseudo-file such as [vdso]), in address order, except that the entry
// whose path is `main_executable` comes first.
std::vector<MapEntry> profile_mappings(const std::vector<MapEntry>& all,
                                       const std::string& main_executable);

}  // namespace profpre
