// Where `profpre record` tells the library to write, and how it recognises
// the profiles of its run afterwards.
//
// -o DIR/ (or an existing directory) means PROF_OUT=DIR/prof.%p.pb.gz; any
// other -o is the PROF_OUT pattern itself. Either way PROF_OUT is made
// absolute, because the library resolves a relative path against each
// process's own working directory, and a build changes directory.
//
// The library names a process's profile by PROF_OUT, inserting ".<pid>" and
// ".<n>" (for a later exec in the same process) before the extension where
// it must, so the profiles of one run are the files of the directory whose
// names start with the pattern's head and end with its extension. The ones
// new or changed since the command started are this run's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace profpre {

struct OutputPlan {
  std::string shown;      // -o as given, for messages
  std::string directory;  // absolute
  std::string pattern;    // absolute, for PROF_OUT
  std::string head;       // names of profiles start with this...
  std::string tail;       // ...and end with this
};

// Plans from the -o value, the working directory, and whether -o names an
// existing directory. False with a reason when -o is empty or puts %p in a
// directory name.
bool plan_output(const std::string& option, const std::string& cwd, bool is_directory,
                 OutputPlan* out, std::string* error);

// Whether a file name in plan.directory may be one of our profiles (not a
// hidden temporary file of the library's).
bool is_output_name(const OutputPlan& plan, const std::string& name);

// A directory entry's identity, to tell new and rewritten files from old.
struct FileStamp {
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

using DirectorySnapshot = std::map<std::string, FileStamp>;  // file name -> stamp

// The output files now in plan.directory (none when it does not exist).
DirectorySnapshot snapshot_outputs(const OutputPlan& plan);

// Files of `after` that are not in `before` or changed, as full paths, sorted.
std::vector<std::string> new_outputs(const OutputPlan& plan, const DirectorySnapshot& before,
                                     const DirectorySnapshot& after);

// Creates the directory and its missing parents. False with a reason.
bool make_directories(const std::string& path, std::string* error);

}  // namespace profpre
