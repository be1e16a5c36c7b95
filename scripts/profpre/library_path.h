// Finding libprofpre.so without any environment: the command knows where it
// runs from (/proc/self/exe) and where meson installs the library relative
// to it, and falls back to the build tree, where it is built two levels up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace profpre {

// The places to look, in order, for a command at `exe` (absolute) installed
// with meson's `bindir` and `libdir` under `prefix` (each may be relative to
// the prefix or absolute, as meson gives them):
//   1. <prefix of exe>/<libdir>/libprofpre.so, the prefix being the exe's
//      directory with bindir's components taken off (so a `meson install
//      --destdir` tree works where it lies);
//   2. <libdir>/libprofpre.so when libdir is absolute (else <prefix>/<libdir>);
//   3. <exe dir>/../../libprofpre.so, the build tree (build/scripts/profpre/).
std::vector<std::string> library_candidates(std::string_view exe, std::string_view prefix,
                                            std::string_view bindir, std::string_view libdir);

// The first candidate that exists, made absolute and canonical. False, with
// *error listing where it looked, when there is none.
bool find_library(std::string* path, std::string* error);

}  // namespace profpre
