// Serializes a Profile to the profile.proto wire format (uncompressed).
// Runs only on the background thread: may allocate, never call from a handler.
#pragma once

#include <string>

#include "encoder/profile.h"

namespace profpre {

// Interns every string (string_table[0] == ""), writes time_nanos once,
// packs repeated scalars. The result is what pprof's reader accepts whenever
// the model's ids are consistent. Returns "" only when memory ran out: a real
// encoding always holds the string table.
std::string encode_profile(const Profile& profile);

}  // namespace profpre
