// gzip framing with zlib.
// Runs only on the background thread or in tools: may allocate.
#pragma once

#include <string>
#include <string_view>

namespace profpre {

bool gzip_compress(std::string_view in, std::string* out, std::string* error);
// Accepts concatenated members, as pprof's reader does.
bool gzip_decompress(std::string_view in, std::string* out, std::string* error);

}  // namespace profpre
