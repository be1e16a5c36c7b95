// Helpers shared by the encoder tests: byte strings written as hex text, and
// a complete text dump of a Profile, so that two profiles can be compared
// with one CHECK that shows every difference when it fails.
#pragma once

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

#include "encoder/profile.h"

namespace profpre::testing {

// "0a 02 08 01" -> those four bytes. Spaces and newlines are ignored.
inline std::string unhex(std::string_view text) {
  std::string out;
  int high = -1;
  for (char c : text) {
    if (c == ' ' || c == '\n') continue;
    int digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (high < 0) {
      high = digit;
    } else {
      out.push_back(static_cast<char>(high << 4 | digit));
      high = -1;
    }
  }
  return out;
}

// The bytes as lowercase hex pairs separated by single spaces.
inline std::string hex(std::string_view bytes) {
  std::string out;
  char pair[4];
  for (char c : bytes) {
    std::snprintf(pair, sizeof pair, "%02x", static_cast<unsigned char>(c));
    if (!out.empty()) out += ' ';
    out += pair;
  }
  return out;
}

// Every field of the model, one line per message.
inline std::string dump(const Profile& p) {
  std::ostringstream out;
  auto value_type = [&](const ValueType& v) { out << '{' << v.type << '|' << v.unit << '}'; };
  out << "sample_types:";
  for (const ValueType& v : p.sample_types) value_type(v);
  out << '\n';
  for (const Sample& s : p.samples) {
    out << "sample locs:";
    for (uint64_t id : s.location_ids) out << ' ' << id;
    out << " values:";
    for (int64_t v : s.values) out << ' ' << v;
    for (const Label& l : s.labels) {
      out << " label{" << l.key << '|' << l.str << '|' << l.num << '|' << l.num_unit << '}';
    }
    out << '\n';
  }
  for (const Mapping& m : p.mappings) {
    out << "mapping " << m.id << ' ' << m.memory_start << ' ' << m.memory_limit << ' '
        << m.file_offset << " [" << m.filename << "] [" << m.build_id << "] " << m.has_functions
        << m.has_filenames << m.has_line_numbers << m.has_inline_frames << '\n';
  }
  for (const Location& l : p.locations) {
    out << "location " << l.id << ' ' << l.mapping_id << ' ' << l.address;
    for (const Line& line : l.lines) out << " line{" << line.function_id << ':' << line.line << '}';
    out << '\n';
  }
  for (const Function& f : p.functions) {
    out << "function " << f.id << " [" << f.name << "] [" << f.system_name << "] [" << f.filename
        << "] " << f.start_line << '\n';
  }
  out << "time " << p.time_nanos << " duration " << p.duration_nanos << " period_type ";
  value_type(p.period_type);
  out << " period " << p.period << "\ncomments:";
  for (const std::string& c : p.comments) out << " [" << c << ']';
  out << "\ndefault_sample_type [" << p.default_sample_type << "]\n";
  return out.str();
}

}  // namespace profpre::testing
