// A plain, in-memory model of perftools.profiles.Profile (profile.proto).
//
// Strings are held as text here; the encoder interns them into the string
// table (index 0 is always ""). Ids are assigned by whoever fills the model:
// they must be nonzero and unique per table, as pprof's reader checks.
// Runs only on the background thread: may allocate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace profpre {

struct ValueType {
  std::string type;
  std::string unit;
};

struct Label {
  std::string key;
  std::string str;       // set str, or num (+ num_unit), never both
  int64_t num = 0;
  std::string num_unit;  // a numeric label of 0 survives pprof's reader only with a unit
};

struct Sample {
  std::vector<uint64_t> location_ids;  // leaf first
  std::vector<int64_t> values;         // one per Profile::sample_types
  std::vector<Label> labels;
};

struct Mapping {
  uint64_t id = 0;
  uint64_t memory_start = 0;
  uint64_t memory_limit = 0;
  uint64_t file_offset = 0;
  std::string filename;
  std::string build_id;
  bool has_functions = false;
  bool has_filenames = false;
  bool has_line_numbers = false;
  bool has_inline_frames = false;
};

struct Line {
  uint64_t function_id = 0;
  int64_t line = 0;
};

struct Location {
  uint64_t id = 0;
  uint64_t mapping_id = 0;  // 0: no mapping
  uint64_t address = 0;
  std::vector<Line> lines;  // innermost inlined callee first, physical function last
};

struct Function {
  uint64_t id = 0;
  std::string name;         // demangled
  std::string system_name;  // as in the symbol table (mangled)
  std::string filename;
  int64_t start_line = 0;
};

struct Profile {
  std::vector<ValueType> sample_types;
  std::vector<Sample> samples;
  std::vector<Mapping> mappings;  // mappings[0] is the main executable
  std::vector<Location> locations;
  std::vector<Function> functions;
  int64_t time_nanos = 0;
  int64_t duration_nanos = 0;
  ValueType period_type;
  int64_t period = 0;
  std::vector<std::string> comments;
  std::string default_sample_type;  // empty: unset
};

}  // namespace profpre
