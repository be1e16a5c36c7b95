// `profpre merge`: many profiles written as one pprof profile, each sample
// labelled with the process it came from ("process" = "cc1[4242]"), so that
// `pprof -tagfocus=process=cc1` still tells them apart.
//
// Ids are renumbered: mappings are shared when filename, build id, start,
// limit and offset all agree; functions when name, system name, file and
// start line agree; locations when they share a mapping, an address and
// their lines. A location without a mapping stays its process's own, since
// one address may hold different code in different processes. Sample types,
// period type and period come from the first profile; every profile must
// have the same sample types. time_nanos is the earliest start and
// duration_nanos spans to the latest end.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "encoder/profile.h"
#include "scripts/profpre/profile_set.h"

namespace profpre {

// False, with *error naming the file, when the profiles cannot be merged.
bool merge_profiles(const std::vector<LoadedProfile>& profiles, Profile* out, std::string* error);

// The subcommand; args exclude "merge". Returns the exit status.
int run_merge(std::span<const std::string> args);

}  // namespace profpre
