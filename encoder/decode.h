// A strict reader of the profile.proto wire format into the Profile model.
// Runs only on the background thread or in tools: may allocate.
#pragma once

#include <string>
#include <string_view>

#include "encoder/profile.h"

namespace profpre {

// Decodes an uncompressed profile. Fails, with a reason in *error, on any
// malformed input: truncated fields, bad wire types, string indexes out of
// range, string_table[0] != "", ids that are zero, duplicated or dangling.
bool decode_profile(std::string_view bytes, Profile* out, std::string* error);

}  // namespace profpre
