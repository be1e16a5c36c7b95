// GNU build IDs (NT_GNU_BUILD_ID), as lowercase hex without separators: the
// form pprof matches against files in PPROF_BINARY_PATH.
// Runs only on the background thread: may allocate, never call from a handler.
#pragma once

#include <cstddef>
#include <string>

namespace profpre {

// Reads the note from an ELF file on disk; "" when there is none or the file
// cannot be read.
std::string read_build_id(const std::string& path);

// The same from an ELF image already in memory (the vDSO).
std::string build_id_from_image(const void* image, size_t size);

}  // namespace profpre
