// Writing a file whole or not at all.
// Runs only on the background thread: may allocate, never call from a handler.
#pragma once

#include <string>
#include <string_view>

namespace profpre {

// Writes `data` to a fresh temporary file beside `path` (O_EXCL, O_CLOEXEC,
// mode 0644 less the umask), fsyncs nothing, and renames it over `path`. On
// any failure the temporary is removed, `path` is untouched and *error says
// what failed, e.g. "cannot create /x/.prof.pb.gz.tmp123: Permission denied".
bool write_file_atomically(const std::string& path, std::string_view data,
                           std::string* error);

}  // namespace profpre
