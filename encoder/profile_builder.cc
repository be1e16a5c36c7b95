// Builds the Profile model from a collector snapshot.
#include "encoder/profile_builder.h"

#include <sys/auxv.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "core/blocked_walk.h"
#include "symbolize/build_id.h"
#include "symbolize/symbolizer.h"

namespace profpre {

namespace {

// What the lookups in one mapping found. pprof re-symbolizes a mapping only
// when none of its has_* flags is set, replacing every name we found, so
// has_functions is claimed as soon as one address had a name: a stripped
// library with no names at all stays open to symbolization from its build
// ID, while a binary with one nameless PLT stub keeps its names. Files and
// lines are claimed only when every address had them.
struct MappingState {
  bool tried = false;
  bool any_named = false;
  bool all_files = true;
  bool all_lines = true;

  void note(const Symbolization& sym) {
    tried = true;
    if (sym.frames.empty()) all_files = all_lines = false;
    for (const SourceFrame& f : sym.frames) {
      any_named |= !f.name.empty();
      all_files &= !f.file.empty();
      all_lines &= f.line > 0;
    }
  }
};

class Builder {
 public:
  Builder(const std::vector<MapEntry>& maps, SymbolSource& symbolizer, Profile& profile)
      : symbolizer_(symbolizer), profile_(profile) {
    add_mappings(maps);
  }

  uint64_t location_for(uint64_t pc) {
    auto [it, inserted] = locations_.try_emplace(pc, 0);
    if (inserted) it->second = is_pseudo_pc(pc) ? add_pseudo_location(pc) : add_location(pc);
    return it->second;
  }

  void finish_mappings() {
    for (size_t i = 0; i < profile_.mappings.size(); ++i) {
      const MappingState& st = states_[i];
      Mapping& m = profile_.mappings[i];
      m.has_functions = st.tried && st.any_named;
      m.has_filenames = m.has_functions && st.all_files;
      m.has_line_numbers = m.has_functions && st.all_lines;
      // Lines come from DWARF, and with them the inline chains.
      m.has_inline_frames = m.has_line_numbers;
    }
  }

 private:
  void add_mappings(const std::vector<MapEntry>& maps) {
    for (const MapEntry& e : maps) {
      Mapping m;
      m.id = profile_.mappings.size() + 1;
      m.memory_start = e.start;
      m.memory_limit = e.limit;
      m.file_offset = e.offset;
      m.filename = e.path;
      m.build_id = mapping_build_id(e);
      profile_.mappings.push_back(std::move(m));
    }
    // pprof expects at least one mapping; an empty one matches nothing.
    if (profile_.mappings.empty()) profile_.mappings.push_back(Mapping{1});
    states_.resize(profile_.mappings.size());
  }

  std::string mapping_build_id(const MapEntry& e) {
    if (e.path == "[vdso]") {
      auto* image = reinterpret_cast<const void*>(getauxval(AT_SYSINFO_EHDR));
      return image != nullptr ? build_id_from_image(image, e.limit - e.start) : std::string();
    }
    if (e.path.empty() || e.path[0] != '/') return {};
    auto [it, inserted] = build_ids_.try_emplace(e.path);
    if (inserted) it->second = read_build_id(e.path);
    return it->second;
  }

  // Index into profile_.mappings of the mapping holding pc, or -1.
  int mapping_index(uint64_t pc) const {
    for (size_t i = 0; i < profile_.mappings.size(); ++i) {
      const Mapping& m = profile_.mappings[i];
      if (pc >= m.memory_start && pc < m.memory_limit) return static_cast<int>(i);
    }
    return -1;
  }

  uint64_t add_location(uint64_t pc) {
    Location loc;
    loc.id = profile_.locations.size() + 1;
    loc.address = pc;
    int index = mapping_index(pc);
    if (index >= 0) loc.mapping_id = profile_.mappings[index].id;

    Symbolization sym = symbolizer_.symbolize(pc);
    if (index >= 0) states_[index].note(sym);
    for (const SourceFrame& f : sym.frames) loc.lines.push_back({function_for(f), f.line});
    profile_.locations.push_back(std::move(loc));
    return profile_.locations.back().id;
  }

  uint64_t add_pseudo_location(uint64_t pc) {
    SourceFrame frame;
    frame.name = frame.system_name = pseudo_frame_name(pc);
    Location loc;
    loc.id = profile_.locations.size() + 1;
    loc.lines.push_back({function_for(frame), 0});
    profile_.locations.push_back(std::move(loc));
    return profile_.locations.back().id;
  }

  uint64_t function_for(const SourceFrame& f) {
    auto key = std::make_tuple(f.name, f.system_name, f.file, f.start_line);
    auto [it, inserted] = functions_.try_emplace(std::move(key), 0);
    if (inserted) {
      Function fn;
      fn.id = profile_.functions.size() + 1;
      fn.name = f.name;
      fn.system_name = f.system_name;
      fn.filename = f.file;
      fn.start_line = f.start_line;
      profile_.functions.push_back(std::move(fn));
      it->second = profile_.functions.back().id;
    }
    return it->second;
  }

  SymbolSource& symbolizer_;
  Profile& profile_;
  std::vector<MappingState> states_;
  std::unordered_map<std::string, std::string> build_ids_;
  std::unordered_map<uint64_t, uint64_t> locations_;
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, uint64_t> functions_;
};

// The "state" label of a wall-mode sample; null for none.
const char* state_label(uint8_t state) {
  switch (static_cast<ThreadState>(state)) {
    case ThreadState::kRunning: return "running";
    case ThreadState::kRunnable: return "runnable";
    case ThreadState::kBriefWait: return "brief wait";
    case ThreadState::kSleeping: return "sleeping";
    case ThreadState::kDiskWait: return "disk wait";
    case ThreadState::kStopped: return "stopped";
    case ThreadState::kZombie: return "zombie";
    case ThreadState::kUnknown: return nullptr;
  }
  return nullptr;
}

Sample make_sample(const AggregatedStack& stack, const std::vector<uint64_t>& location_ids,
                   int64_t period_ns, const std::unordered_map<pid_t, std::string>& names) {
  Sample s;
  s.location_ids = location_ids;
  s.values = {stack.count, stack.weight * period_ns};
  if (const char* state = state_label(stack.state)) {
    s.labels.push_back(Label{"state", state, 0, ""});
  }
  if (stack.tid != 0) {
    s.labels.push_back(Label{"tid", "", stack.tid, ""});
    auto it = names.find(stack.tid);
    if (it != names.end() && !it->second.empty()) {
      s.labels.push_back(Label{"thread_name", it->second, 0, ""});
    }
  }
  return s;
}

}  // namespace

const char* pseudo_frame_name(uint64_t pc) {
  switch (pc) {
    case kPcLostBufferFull: return "[profpre] lost: buffer full";
    case kPcUnwindFailed: return "[profpre] unwind failed";
    case kPcTruncated: return "[profpre] truncated: deeper than 256 frames";
    case kPcNeverSampled: return "[profpre] thread ended before its first sample";
    case kPcOffCpuUnplaced: return "[profpre] off the CPU, stack not seen";
    default: return "[profpre] unknown";
  }
}

Profile build_profile(const Snapshot& snapshot, const std::vector<MapEntry>& maps,
                      SymbolSource& symbols, const BuildOptions& options) {
  Profile profile;
  const char* kind = options.wall ? "wall" : "cpu";
  profile.sample_types = {{"samples", "count"}, {kind, "nanoseconds"}};
  profile.period_type = {kind, "nanoseconds"};
  profile.period = options.period_ns;
  profile.time_nanos = options.time_nanos;
  profile.duration_nanos = options.duration_nanos;
  profile.comments = options.comments;

  std::vector<MapEntry> kept = profile_mappings(maps, options.main_executable);
  Builder builder(kept, symbols, profile);

  std::unordered_map<pid_t, std::string> names(snapshot.thread_names.begin(),
                                                snapshot.thread_names.end());
  std::vector<uint64_t> ids;
  for (const AggregatedStack& stack : snapshot.stacks) {
    ids.clear();
    for (uint64_t pc : stack.pcs) ids.push_back(builder.location_for(pc));
    profile.samples.push_back(make_sample(stack, ids, options.period_ns, names));
  }
  builder.finish_mappings();
  return profile;
}

}  // namespace profpre
