// Turning Locations into named frames, once per Location.

#include "scripts/profpre/stacks.h"

#include <cstdio>

#include "scripts/profpre/profile_set.h"

namespace profpre {
namespace {

std::string hex(uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

StackResolver::StackResolver(const Profile& profile) {
  std::unordered_map<uint64_t, const Function*> functions;
  for (const Function& function : profile.functions) functions[function.id] = &function;
  std::unordered_map<uint64_t, const Mapping*> mappings;
  for (const Mapping& mapping : profile.mappings) mappings[mapping.id] = &mapping;

  for (const Location& location : profile.locations) {
    auto mapping = mappings.find(location.mapping_id);
    const Mapping* m = mapping == mappings.end() ? nullptr : mapping->second;
    std::string library = m == nullptr ? "" : base_name(m->filename);
    std::vector<Frame>& frames = by_location_[location.id];
    for (const Line& line : location.lines) {
      const Function* f = functions.at(line.function_id);  // the decoder checked it exists
      std::string name = !f->name.empty() ? f->name : f->system_name;
      frames.push_back({name.empty() ? "??" : name, library});
    }
    if (frames.empty()) {
      // The offset in the file stays the same from one process to the next.
      uint64_t offset =
          m == nullptr ? location.address : location.address - m->memory_start + m->file_offset;
      frames.push_back({hex(offset), library});
    }
  }
}

std::vector<Frame> StackResolver::frames(const Sample& sample) const {
  std::vector<Frame> out;
  for (uint64_t id : sample.location_ids) {
    const std::vector<Frame>& frames = by_location_.at(id);
    out.insert(out.end(), frames.begin(), frames.end());
  }
  return out;
}

std::string frame_key(const Frame& frame) { return frame.name + '\0' + frame.library; }

}  // namespace profpre
