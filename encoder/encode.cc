// Serializes the Profile model to profile.proto bytes, one function per
// message. Strings are interned as they are met ("" is index 0, each string
// once) and the table is written after the function messages, followed by
// the profile's scalar fields. Scalars equal to zero, empty strings and
// false bools are omitted, as proto3 and Go's writer do.
//
// The result is empty only when memory ran out: a real encoding always
// holds at least the string table's "".

#include "encoder/encode.h"

#include <exception>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "encoder/profile_schema.h"
#include "encoder/wire.h"

namespace profpre {
namespace {

// Views point into the Profile being encoded, which outlives the table.
class StringTable {
 public:
  StringTable() : strings_{std::string_view()} { index_.emplace(std::string_view(), 0); }

  int64_t intern(std::string_view text) {
    auto [it, inserted] = index_.try_emplace(text, static_cast<int64_t>(strings_.size()));
    if (inserted) strings_.push_back(text);
    return it->second;
  }

  std::span<const std::string_view> strings() const { return strings_; }

 private:
  std::unordered_map<std::string_view, int64_t> index_;
  std::vector<std::string_view> strings_;
};

class Encoder {
 public:
  Encoder(wire::Writer* writer, StringTable* strings) : w_(*writer), strings_(*strings) {}

  void value_type(int field, const ValueType& value_type);
  void sample(const Sample& sample);
  void mapping(const Mapping& mapping);
  void location(const Location& location);
  void function(const Function& function);
  void string_field(int field, std::string_view text) {
    w_.int64_opt(field, strings_.intern(text));
  }

 private:
  void label(const Label& label);
  void line(const Line& line);

  wire::Writer& w_;
  StringTable& strings_;
};

void Encoder::value_type(int field, const ValueType& value_type) {
  size_t mark = w_.begin_message();
  string_field(schema::value_type::kType, value_type.type);
  string_field(schema::value_type::kUnit, value_type.unit);
  w_.end_message(field, mark);
}

void Encoder::label(const Label& label) {
  size_t mark = w_.begin_message();
  string_field(schema::label::kKey, label.key);
  string_field(schema::label::kStr, label.str);
  w_.int64_opt(schema::label::kNum, label.num);
  string_field(schema::label::kNumUnit, label.num_unit);
  w_.end_message(schema::sample::kLabel, mark);
}

void Encoder::sample(const Sample& sample) {
  size_t mark = w_.begin_message();
  w_.uint64s(schema::sample::kLocationId, sample.location_ids);
  w_.int64s(schema::sample::kValue, sample.values);
  for (const Label& label : sample.labels) this->label(label);
  w_.end_message(schema::profile::kSample, mark);
}

void Encoder::mapping(const Mapping& mapping) {
  namespace field = schema::mapping;
  size_t mark = w_.begin_message();
  w_.uint64_opt(field::kId, mapping.id);
  w_.uint64_opt(field::kMemoryStart, mapping.memory_start);
  w_.uint64_opt(field::kMemoryLimit, mapping.memory_limit);
  w_.uint64_opt(field::kFileOffset, mapping.file_offset);
  string_field(field::kFilename, mapping.filename);
  string_field(field::kBuildId, mapping.build_id);
  w_.bool_opt(field::kHasFunctions, mapping.has_functions);
  w_.bool_opt(field::kHasFilenames, mapping.has_filenames);
  w_.bool_opt(field::kHasLineNumbers, mapping.has_line_numbers);
  w_.bool_opt(field::kHasInlineFrames, mapping.has_inline_frames);
  w_.end_message(schema::profile::kMapping, mark);
}

void Encoder::line(const Line& line) {
  size_t mark = w_.begin_message();
  w_.uint64_opt(schema::line::kFunctionId, line.function_id);
  w_.int64_opt(schema::line::kLine, line.line);
  w_.end_message(schema::location::kLine, mark);
}

void Encoder::location(const Location& location) {
  size_t mark = w_.begin_message();
  w_.uint64_opt(schema::location::kId, location.id);
  w_.uint64_opt(schema::location::kMappingId, location.mapping_id);
  w_.uint64_opt(schema::location::kAddress, location.address);
  for (const Line& line : location.lines) this->line(line);
  w_.end_message(schema::profile::kLocation, mark);
}

void Encoder::function(const Function& function) {
  namespace field = schema::function;
  size_t mark = w_.begin_message();
  w_.uint64_opt(field::kId, function.id);
  string_field(field::kName, function.name);
  string_field(field::kSystemName, function.system_name);
  string_field(field::kFilename, function.filename);
  w_.int64_opt(field::kStartLine, function.start_line);
  w_.end_message(schema::profile::kFunction, mark);
}

void encode_messages(const Profile& profile, Encoder* encoder) {
  for (const ValueType& type : profile.sample_types) {
    encoder->value_type(schema::profile::kSampleType, type);
  }
  for (const Sample& sample : profile.samples) encoder->sample(sample);
  for (const Mapping& mapping : profile.mappings) encoder->mapping(mapping);
  for (const Location& location : profile.locations) encoder->location(location);
  for (const Function& function : profile.functions) encoder->function(function);
}

// Everything after the string table. It is encoded before the table is
// written, so that its strings are in the table.
void encode_scalars(const Profile& profile, wire::Writer* writer, Encoder* encoder,
                    StringTable* strings) {
  namespace field = schema::profile;
  writer->int64_opt(field::kTimeNanos, profile.time_nanos);
  writer->int64_opt(field::kDurationNanos, profile.duration_nanos);
  if (!profile.period_type.type.empty() || !profile.period_type.unit.empty()) {
    encoder->value_type(field::kPeriodType, profile.period_type);
  }
  writer->int64_opt(field::kPeriod, profile.period);

  std::vector<int64_t> comments;
  comments.reserve(profile.comments.size());
  for (const std::string& comment : profile.comments) comments.push_back(strings->intern(comment));
  writer->int64s(field::kComment, comments);

  encoder->string_field(field::kDefaultSampleType, profile.default_sample_type);
}

std::string encode(const Profile& profile) {
  StringTable strings;
  wire::Writer head;
  Encoder head_encoder(&head, &strings);
  encode_messages(profile, &head_encoder);

  wire::Writer tail;
  Encoder tail_encoder(&tail, &strings);
  encode_scalars(profile, &tail, &tail_encoder, &strings);

  for (std::string_view text : strings.strings()) {
    head.bytes_field(schema::profile::kStringTable, text);
  }
  head.raw(tail.bytes());
  if (head.failed() || tail.failed()) return {};
  return head.take();
}

}  // namespace

std::string encode_profile(const Profile& profile) {
  try {
    return encode(profile);
  } catch (const std::exception&) {  // bad_alloc while interning strings
    return {};
  }
}

}  // namespace profpre
