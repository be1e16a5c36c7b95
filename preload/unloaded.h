// Libraries unloaded before exit.
//
// The profile's mappings come from /proc/self/maps at exit, where a library
// that dlclose unloaded is gone; samples taken in it would then be bare
// addresses. dlclose is interposed: before the real call we note the
// library's path, load bias and executable segments, and if it is really
// unmapped afterwards (dlclose only drops a reference) we keep the note for
// the profile builder and the symbolizer, which reopens the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "symbolize/maps.h"

namespace profpre {

struct UnloadedModule {
  std::string path;
  uint64_t load_bias = 0;
  std::vector<MapEntry> segments;  // executable ones, as /proc/self/maps showed them
};

// A copy of the notes so far. Not for the signal handler: allocates.
std::vector<UnloadedModule> unloaded_modules();

// Forgets every note (a forked child starts afresh). Not for the signal
// handler.
void forget_unloaded_modules();

}  // namespace profpre
