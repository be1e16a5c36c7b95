// A strict profile.proto reader. Two passes over the top-level fields: the
// first collects the string table (pprof writes it last, so it cannot be
// resolved on the fly), the second decodes every message and resolves its
// string indexes. A final check follows pprof's CheckValid: ids nonzero and
// unique, every referenced mapping, location and function present, one
// value per sample type.
//
// Unknown fields of wire types 0, 1, 2 and 5 are skipped. Known fields that
// the Profile model has no room for (drop_frames, keep_frames, doc_url,
// Location.is_folded, Line.column) are checked and then dropped.

#include "encoder/decode.h"

#include <cstdint>
#include <exception>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "encoder/profile_schema.h"
#include "encoder/wire.h"

namespace profpre {
namespace {

using wire::Field;
using wire::WireType;

class Decoder {
 public:
  Decoder(std::string_view input, std::string* error) : error_(*error) {
    top_.type = WireType::kLen;
    top_.bytes = input;
  }

  bool decode(Profile* out);

 private:
  // Names the message being read, for error messages, until it goes out of scope.
  class Where {
   public:
    Where(Decoder* decoder, const char* where) : decoder_(*decoder), saved_(decoder->where_) {
      decoder->where_ = where;
    }
    ~Where() { decoder_.where_ = saved_; }
    Where(const Where&) = delete;
    Where& operator=(const Where&) = delete;

   private:
    Decoder& decoder_;
    const char* saved_;
  };

  template <typename OnField>
  bool walk(const Field& message, const char* where, OnField on_field);

  bool read_string_table();
  bool profile_field(const Field& field, Profile* out);
  bool profile_scalar(const Field& field, Profile* out);
  bool value_type(const Field& field, const char* name, ValueType* out);
  bool sample(const Field& field, Sample* out);
  bool label(const Field& field, Label* out);
  bool mapping(const Field& field, Mapping* out);
  bool location(const Field& field, Location* out);
  bool line(const Field& field, Line* out);
  bool function(const Field& field, Function* out);

  bool varint(const Field& field, const char* name, uint64_t* out);
  bool int64(const Field& field, const char* name, int64_t* out);
  bool boolean(const Field& field, const char* name, bool* out);
  bool string(const Field& field, const char* name, std::string* out);
  bool repeated(const Field& field, const char* name, std::vector<uint64_t>* out);
  bool resolve(int64_t index, const Field& field, const char* name, std::string* out);

  bool wrong_type(const Field& field, const char* name, const char* want);
  bool fail(size_t offset, const std::string& what);

  Field top_;
  std::vector<std::string_view> strings_;
  const char* where_ = "profile";
  std::string& error_;
};

bool Decoder::fail(size_t offset, const std::string& what) {
  error_ = std::string(where_) + " at byte " + std::to_string(offset) + ": " + what;
  return false;
}

bool Decoder::wrong_type(const Field& field, const char* name, const char* want) {
  int type = static_cast<int>(field.type);
  return fail(field.offset,
              std::string(name) + " has wire type " + std::to_string(type) + ", want " + want);
}

template <typename OnField>
bool Decoder::walk(const Field& message, const char* where, OnField on_field) {
  Where scope(this, where);
  wire::Reader reader(message.bytes, message.bytes_offset);
  Field field;
  while (!reader.at_end()) {
    if (!reader.read_field(&field)) {
      return fail(reader.error_offset(), wire::describe(reader.error()));
    }
    if (!on_field(field)) return false;
  }
  return true;
}

bool Decoder::varint(const Field& field, const char* name, uint64_t* out) {
  if (field.type != WireType::kVarint) return wrong_type(field, name, "0 (varint)");
  *out = field.value;
  return true;
}

bool Decoder::int64(const Field& field, const char* name, int64_t* out) {
  uint64_t value = 0;
  if (!varint(field, name, &value)) return false;
  *out = static_cast<int64_t>(value);
  return true;
}

bool Decoder::boolean(const Field& field, const char* name, bool* out) {
  uint64_t value = 0;
  if (!varint(field, name, &value)) return false;
  *out = value != 0;
  return true;
}

bool Decoder::resolve(int64_t index, const Field& field, const char* name, std::string* out) {
  if (index >= 0 && static_cast<uint64_t>(index) < strings_.size()) {
    out->assign(strings_[static_cast<size_t>(index)]);
    return true;
  }
  std::string names = std::string(name) + " names string " + std::to_string(index);
  if (strings_.empty()) return fail(field.offset, names + ", but there is no string table");
  return fail(field.offset, names + ", but the table has " + std::to_string(strings_.size()));
}

bool Decoder::string(const Field& field, const char* name, std::string* out) {
  int64_t index = 0;
  return int64(field, name, &index) && resolve(index, field, name, out);
}

// A repeated scalar: one varint, or a packed run of them.
bool Decoder::repeated(const Field& field, const char* name, std::vector<uint64_t>* out) {
  if (field.type == WireType::kVarint) {
    out->push_back(field.value);
    return true;
  }
  if (field.type != WireType::kLen) return wrong_type(field, name, "0 (varint) or 2 (packed)");

  wire::Reader reader(field.bytes, field.bytes_offset);
  while (!reader.at_end()) {
    uint64_t value = 0;
    if (!reader.read_varint(&value)) {
      return fail(reader.error_offset(), std::string(name) + ": " + wire::describe(reader.error()));
    }
    out->push_back(value);
  }
  return true;
}

bool Decoder::value_type(const Field& field, const char* name, ValueType* out) {
  if (field.type != WireType::kLen) return wrong_type(field, name, "2 (message)");
  return walk(field, name, [&](const Field& f) {
    switch (f.number) {
      case schema::value_type::kType:
        return string(f, "type", &out->type);
      case schema::value_type::kUnit:
        return string(f, "unit", &out->unit);
      default:
        return true;
    }
  });
}

bool Decoder::label(const Field& field, Label* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "label", "2 (message)");
  return walk(field, "label", [&](const Field& f) {
    switch (f.number) {
      case schema::label::kKey:
        return string(f, "key", &out->key);
      case schema::label::kStr:
        return string(f, "str", &out->str);
      case schema::label::kNum:
        return int64(f, "num", &out->num);
      case schema::label::kNumUnit:
        return string(f, "num_unit", &out->num_unit);
      default:
        return true;
    }
  });
}

bool Decoder::sample(const Field& field, Sample* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "sample", "2 (message)");
  std::vector<uint64_t> values;
  bool ok = walk(field, "sample", [&](const Field& f) {
    switch (f.number) {
      case schema::sample::kLocationId:
        return repeated(f, "location_id", &out->location_ids);
      case schema::sample::kValue:
        return repeated(f, "value", &values);
      case schema::sample::kLabel:
        return label(f, &out->labels.emplace_back());
      default:
        return true;
    }
  });
  for (uint64_t value : values) out->values.push_back(static_cast<int64_t>(value));
  return ok;
}

bool Decoder::mapping(const Field& field, Mapping* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "mapping", "2 (message)");
  return walk(field, "mapping", [&](const Field& f) {
    namespace m = schema::mapping;
    switch (f.number) {
      case m::kId:
        return varint(f, "id", &out->id);
      case m::kMemoryStart:
        return varint(f, "memory_start", &out->memory_start);
      case m::kMemoryLimit:
        return varint(f, "memory_limit", &out->memory_limit);
      case m::kFileOffset:
        return varint(f, "file_offset", &out->file_offset);
      case m::kFilename:
        return string(f, "filename", &out->filename);
      case m::kBuildId:
        return string(f, "build_id", &out->build_id);
      case m::kHasFunctions:
        return boolean(f, "has_functions", &out->has_functions);
      case m::kHasFilenames:
        return boolean(f, "has_filenames", &out->has_filenames);
      case m::kHasLineNumbers:
        return boolean(f, "has_line_numbers", &out->has_line_numbers);
      case m::kHasInlineFrames:
        return boolean(f, "has_inline_frames", &out->has_inline_frames);
      default:
        return true;
    }
  });
}

bool Decoder::line(const Field& field, Line* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "line", "2 (message)");
  return walk(field, "line", [&](const Field& f) {
    int64_t column = 0;
    switch (f.number) {
      case schema::line::kFunctionId:
        return varint(f, "function_id", &out->function_id);
      case schema::line::kLine:
        return int64(f, "line", &out->line);
      case schema::line::kColumn:
        return int64(f, "column", &column);
      default:
        return true;
    }
  });
}

bool Decoder::location(const Field& field, Location* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "location", "2 (message)");
  return walk(field, "location", [&](const Field& f) {
    bool is_folded = false;
    switch (f.number) {
      case schema::location::kId:
        return varint(f, "id", &out->id);
      case schema::location::kMappingId:
        return varint(f, "mapping_id", &out->mapping_id);
      case schema::location::kAddress:
        return varint(f, "address", &out->address);
      case schema::location::kLine:
        return line(f, &out->lines.emplace_back());
      case schema::location::kIsFolded:
        return boolean(f, "is_folded", &is_folded);
      default:
        return true;
    }
  });
}

bool Decoder::function(const Field& field, Function* out) {
  if (field.type != WireType::kLen) return wrong_type(field, "function", "2 (message)");
  return walk(field, "function", [&](const Field& f) {
    switch (f.number) {
      case schema::function::kId:
        return varint(f, "id", &out->id);
      case schema::function::kName:
        return string(f, "name", &out->name);
      case schema::function::kSystemName:
        return string(f, "system_name", &out->system_name);
      case schema::function::kFilename:
        return string(f, "filename", &out->filename);
      case schema::function::kStartLine:
        return int64(f, "start_line", &out->start_line);
      default:
        return true;
    }
  });
}

bool Decoder::read_string_table() {
  size_t first_offset = 0;
  bool ok = walk(top_, "profile", [&](const Field& f) {
    if (f.number != schema::profile::kStringTable) return true;
    if (f.type != WireType::kLen) return wrong_type(f, "string_table", "2 (string)");
    if (strings_.empty()) first_offset = f.offset;
    strings_.push_back(f.bytes);
    return true;
  });
  if (!ok) return false;
  if (!strings_.empty() && !strings_[0].empty()) {
    return fail(first_offset, "string_table[0] must be \"\"");
  }
  return true;
}

// The non-message fields of Profile.
bool Decoder::profile_scalar(const Field& field, Profile* out) {
  namespace p = schema::profile;
  std::string unused;
  std::vector<uint64_t> comments;
  switch (field.number) {
    case p::kDropFrames:
      return string(field, "drop_frames", &unused);
    case p::kKeepFrames:
      return string(field, "keep_frames", &unused);
    case p::kTimeNanos:
      if (out->time_nanos != 0) {
        return fail(field.offset, "second time_nanos (concatenated profiles?)");
      }
      return int64(field, "time_nanos", &out->time_nanos);
    case p::kDurationNanos:
      return int64(field, "duration_nanos", &out->duration_nanos);
    case p::kPeriod:
      return int64(field, "period", &out->period);
    case p::kComment:
      if (!repeated(field, "comment", &comments)) return false;
      for (uint64_t index : comments) {
        if (!resolve(static_cast<int64_t>(index), field, "comment",
                     &out->comments.emplace_back())) {
          return false;
        }
      }
      return true;
    case p::kDefaultSampleType:
      return string(field, "default_sample_type", &out->default_sample_type);
    case p::kDocUrl:
      return string(field, "doc_url", &unused);
    default:
      return true;
  }
}

bool Decoder::profile_field(const Field& field, Profile* out) {
  namespace p = schema::profile;
  switch (field.number) {
    case p::kSampleType:
      return value_type(field, "sample_type", &out->sample_types.emplace_back());
    case p::kSample:
      return sample(field, &out->samples.emplace_back());
    case p::kMapping:
      return mapping(field, &out->mappings.emplace_back());
    case p::kLocation:
      return location(field, &out->locations.emplace_back());
    case p::kFunction:
      return function(field, &out->functions.emplace_back());
    case p::kStringTable:
      return true;  // read by the first pass
    case p::kPeriodType:
      return value_type(field, "period_type", &out->period_type);
    default:
      return profile_scalar(field, out);
  }
}

// Collects the ids of one table, rejecting 0 and duplicates.
template <typename T>
bool collect_ids(const std::vector<T>& items, const char* what, std::unordered_set<uint64_t>* ids,
                 std::string* error) {
  for (size_t i = 0; i < items.size(); ++i) {
    uint64_t id = items[i].id;
    if (id == 0) {
      *error =
          std::string(what) + " at index " + std::to_string(i) + " has id 0, which is reserved";
      return false;
    }
    if (!ids->insert(id).second) {
      *error = std::string(what) + " id " + std::to_string(id) + " is used twice";
      return false;
    }
  }
  return true;
}

bool check_samples(const Profile& profile, const std::unordered_set<uint64_t>& locations,
                   std::string* error) {
  size_t types = profile.sample_types.size();
  if (types == 0 && !profile.samples.empty()) {
    *error = std::to_string(profile.samples.size()) + " samples but no sample types";
    return false;
  }
  for (size_t i = 0; i < profile.samples.size(); ++i) {
    const Sample& sample = profile.samples[i];
    std::string where = "sample " + std::to_string(i) + ": ";
    if (sample.values.size() != types) {
      *error = where + std::to_string(sample.values.size()) + " values for " +
               std::to_string(types) + " sample types";
      return false;
    }
    for (uint64_t id : sample.location_ids) {
      if (locations.count(id) == 0) {
        *error = where + "location " + std::to_string(id) + " does not exist";
        return false;
      }
    }
  }
  return true;
}

bool check_locations(const Profile& profile, const std::unordered_set<uint64_t>& mappings,
                     const std::unordered_set<uint64_t>& functions, std::string* error) {
  for (const Location& location : profile.locations) {
    std::string where = "location " + std::to_string(location.id) + ": ";
    if (location.mapping_id != 0 && mappings.count(location.mapping_id) == 0) {
      *error = where + "mapping " + std::to_string(location.mapping_id) + " does not exist";
      return false;
    }
    for (const Line& line : location.lines) {
      if (functions.count(line.function_id) == 0) {
        *error = where + "line names function " + std::to_string(line.function_id) +
                 ", which does not exist";
        return false;
      }
    }
  }
  return true;
}

bool check_references(const Profile& profile, std::string* error) {
  std::unordered_set<uint64_t> mappings;
  std::unordered_set<uint64_t> locations;
  std::unordered_set<uint64_t> functions;
  return collect_ids(profile.mappings, "mapping", &mappings, error) &&
         collect_ids(profile.locations, "location", &locations, error) &&
         collect_ids(profile.functions, "function", &functions, error) &&
         check_samples(profile, locations, error) &&
         check_locations(profile, mappings, functions, error);
}

bool Decoder::decode(Profile* out) {
  if (!read_string_table()) return false;
  return walk(top_, "profile", [&](const Field& f) { return profile_field(f, out); }) &&
         check_references(*out, &error_);
}

}  // namespace

bool decode_profile(std::string_view bytes, Profile* out, std::string* error) {
  try {
    Profile profile;
    Decoder decoder(bytes, error);
    if (!decoder.decode(&profile)) return false;
    *out = std::move(profile);
    return true;
  } catch (const std::exception&) {  // bad_alloc, or length_error on a huge table
    *error = "out of memory";
    return false;
  }
}

}  // namespace profpre
