// From aggregated stacks to a Profile: Mappings, Locations, Functions, Samples.
//
// Mappings come from /proc/self/maps at build time (the main executable
// first), with build IDs. Each distinct address becomes one Location,
// symbolized once, its inline chain as several Lines (innermost first).
// Functions are shared by (name, system name, file, start line). Pseudo PCs
// become Locations of named pseudo-functions so that lost, truncated and
// failed samples stay visible. Each sample carries its thread as labels,
// and in wall mode the thread's state.
// Runs only on the background thread: may allocate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/collector.h"
#include "encoder/profile.h"
#include "symbolize/maps.h"

namespace profpre {

class SymbolSource;

struct BuildOptions {
  int64_t period_ns = 0;
  int64_t time_nanos = 0;       // wall clock at start
  int64_t duration_nanos = 0;
  std::string main_executable;  // path of /proc/self/exe
  std::vector<std::string> comments;
  // Wall-clock mode: the values are wall/nanoseconds, and each sample says
  // its thread's state in a "state" label.
  bool wall = false;
};

Profile build_profile(const Snapshot& snapshot, const std::vector<MapEntry>& maps,
                      SymbolSource& symbols, const BuildOptions& options);

// The name a pseudo PC is shown under, e.g. "[profpre] lost: buffer full".
const char* pseudo_frame_name(uint64_t pc);

}  // namespace profpre
