// Loading many profiles strictly: files and directories on the command line
// are expanded to a sorted list of files, each is read whole, gunzipped when
// it is gzip'd, and decoded with the encoder's own strict decoder. The first
// failure stops everything, with an error that names the file, so that no
// command ever prints a total computed from part of its input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "encoder/profile.h"

namespace profpre {

// One decoded profile and what the commands need to know about it.
struct LoadedProfile {
  std::string path;
  Profile profile;
  std::string process_name;  // exe basename (exe= comment, else mapping 1), else file name
  int64_t pid = 0;           // from the pid= comment; 0 when unknown
  size_t value_index = 0;    // the sample value the commands add up
  int64_t total = 0;         // that value summed over the samples
  int64_t magnitude = 0;     // the sum of its absolute values: no partial sum exceeds it
};

// The files named by `args`: a file as given; a directory as the files in it
// (not below it) whose names end in .pb.gz or .pb and do not start with a dot
// (the library's temporary files do), sorted by name. False, with a reason
// naming the path, when a path does not exist, is neither a regular file nor
// a directory, or is a directory that holds no profile.
bool expand_profile_paths(const std::vector<std::string>& args, std::vector<std::string>* files,
                          std::string* error);

// Decodes one profile from the bytes of a file (gzip'd or not). Rejects what
// decode_profile rejects, empty input, trailing garbage after a gzip stream,
// and a profile without sample types. *error holds the reason, without the path.
bool decode_profile_file(std::string_view bytes, Profile* out, std::string* error);

// Reads and decodes one file; *error is "<path>: <reason>" on failure. Also
// refuses values whose sum does not fit in 64 bits, so that no total is
// ever silently wrapped.
bool load_profile(const std::string& path, LoadedProfile* out, std::string* error);

// Expands `args` and loads every file; checks that all of them measure the
// same thing (the chosen value's type and unit) and that their values can be
// added up together. *error names the file.
bool load_profiles(const std::vector<std::string>& args, std::vector<LoadedProfile>* out,
                   std::string* error);

// The index of the value the commands add up: the cpu/nanoseconds sample
// type when there is one, else the last.
size_t choose_value_index(const Profile& profile);

// Fills process_name and pid from the comments (exe=, pid=) and mappings.
void identify_process(LoadedProfile* loaded);

// "name[pid]", or "name" when the pid is unknown.
std::string process_label(const LoadedProfile& loaded);

// The part of a path after its last '/'.
std::string base_name(const std::string& path);

}  // namespace profpre
