// Merging profiles with renumbered ids and a process label per sample.

#include "scripts/profpre/merge.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>
#include <unordered_map>

#include "encoder/encode.h"
#include "encoder/gzip.h"
#include "encoder/output_file.h"
#include "scripts/profpre/cli.h"

namespace profpre {
namespace {

constexpr const char* kProcessLabel = "process";

using MappingKey = std::tuple<std::string, std::string, uint64_t, uint64_t, uint64_t>;
using FunctionKey = std::tuple<std::string, std::string, std::string, int64_t>;
// (mapping, address, lines) for a mapped location; (0, profile, old id) otherwise.
using LocationKey = std::tuple<uint64_t, uint64_t, std::vector<std::pair<uint64_t, int64_t>>>;

bool same_types(const std::vector<ValueType>& a, const std::vector<ValueType>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.type == y.type && x.unit == y.unit;
  });
}

std::string describe(const std::vector<ValueType>& types) {
  std::string text;
  for (const ValueType& t : types) text += (text.empty() ? "" : " ") + t.type + "/" + t.unit;
  return text.empty() ? "(none)" : text;
}

class Merger {
 public:
  explicit Merger(Profile* out) : out_(*out) {}

  void add(const LoadedProfile& loaded, size_t index);

 private:
  uint64_t mapping(const Mapping& m);
  uint64_t function(const Function& f);
  uint64_t location(const Location& l, size_t index,
                    const std::unordered_map<uint64_t, uint64_t>& mappings,
                    const std::unordered_map<uint64_t, uint64_t>& functions);
  void sample(const Sample& s, const std::unordered_map<uint64_t, uint64_t>& locations,
              const std::string& process);

  Profile& out_;
  std::map<MappingKey, uint64_t> mappings_;
  std::map<FunctionKey, uint64_t> functions_;
  std::map<LocationKey, uint64_t> locations_;
};

uint64_t Merger::mapping(const Mapping& m) {
  MappingKey key{m.filename, m.build_id, m.memory_start, m.memory_limit, m.file_offset};
  auto [it, added] = mappings_.emplace(key, out_.mappings.size() + 1);
  if (added) {
    out_.mappings.push_back(m);
    out_.mappings.back().id = it->second;
    return it->second;
  }
  // Claim symbolization only where every process's copy had it.
  Mapping& merged = out_.mappings[it->second - 1];
  merged.has_functions &= m.has_functions;
  merged.has_filenames &= m.has_filenames;
  merged.has_line_numbers &= m.has_line_numbers;
  merged.has_inline_frames &= m.has_inline_frames;
  return it->second;
}

uint64_t Merger::function(const Function& f) {
  FunctionKey key{f.name, f.system_name, f.filename, f.start_line};
  auto [it, added] = functions_.emplace(key, out_.functions.size() + 1);
  if (added) {
    out_.functions.push_back(f);
    out_.functions.back().id = it->second;
  }
  return it->second;
}

uint64_t Merger::location(const Location& l, size_t index,
                          const std::unordered_map<uint64_t, uint64_t>& mappings,
                          const std::unordered_map<uint64_t, uint64_t>& functions) {
  Location merged = l;
  merged.mapping_id = l.mapping_id == 0 ? 0 : mappings.at(l.mapping_id);
  std::vector<std::pair<uint64_t, int64_t>> lines;
  for (Line& line : merged.lines) {
    line.function_id = functions.at(line.function_id);
    lines.emplace_back(line.function_id, line.line);
  }
  LocationKey key = merged.mapping_id != 0
                        ? LocationKey{merged.mapping_id, l.address, std::move(lines)}
                        : LocationKey{0, index, {{l.id, 0}}};
  auto [it, added] = locations_.emplace(std::move(key), out_.locations.size() + 1);
  if (added) {
    merged.id = it->second;
    out_.locations.push_back(std::move(merged));
  }
  return it->second;
}

void Merger::sample(const Sample& s, const std::unordered_map<uint64_t, uint64_t>& locations,
                    const std::string& process) {
  Sample merged = s;
  for (uint64_t& id : merged.location_ids) id = locations.at(id);
  bool labelled = std::any_of(s.labels.begin(), s.labels.end(),
                              [](const Label& l) { return l.key == kProcessLabel; });
  if (!labelled) merged.labels.push_back({.key = kProcessLabel, .str = process});
  out_.samples.push_back(std::move(merged));
}

void Merger::add(const LoadedProfile& loaded, size_t index) {
  const Profile& p = loaded.profile;
  std::unordered_map<uint64_t, uint64_t> mappings, functions, locations;
  for (const Mapping& m : p.mappings) mappings[m.id] = mapping(m);
  for (const Function& f : p.functions) functions[f.id] = function(f);
  for (const Location& l : p.locations) locations[l.id] = location(l, index, mappings, functions);
  std::string process = process_label(loaded);
  for (const Sample& s : p.samples) sample(s, locations, process);
  out_.comments.push_back("merged: " + process + " from " + loaded.path);
}

// time_nanos: the earliest start; duration_nanos: to the latest end.
void merge_times(const std::vector<LoadedProfile>& profiles, Profile* out) {
  int64_t start = 0;
  int64_t end = 0;
  for (const LoadedProfile& loaded : profiles) {
    const Profile& p = loaded.profile;
    if (p.time_nanos == 0) {
      out->duration_nanos = std::max(out->duration_nanos, p.duration_nanos);
      continue;
    }
    start = start == 0 ? p.time_nanos : std::min(start, p.time_nanos);
    end = std::max(end, p.time_nanos + p.duration_nanos);
  }
  out->time_nanos = start;
  if (start != 0) out->duration_nanos = std::max(out->duration_nanos, end - start);
}

bool check_compatible(const std::vector<LoadedProfile>& profiles, std::string* error) {
  const LoadedProfile& first = profiles.front();
  for (const LoadedProfile& loaded : profiles) {
    if (!same_types(loaded.profile.sample_types, first.profile.sample_types)) {
      *error = loaded.path + ": sample types " + describe(loaded.profile.sample_types) +
               " differ from " + describe(first.profile.sample_types) + " in " + first.path +
               "; merge only profiles of one kind";
      return false;
    }
  }
  return true;
}

constexpr const char* kHelp = R"(Usage: profpre merge -o OUTPUT FILES_OR_DIRS...

Writes one gzip'd pprof profile (profile.proto) holding every sample of the
given profiles (files, or directories of *.pb.gz / *.pb files, such as the
one `profpre record` writes). Each sample gets a label process=NAME[PID]
(NAME[...] alone when the profile does not say its pid), so pprof can still
split the processes apart:
  go tool pprof -top -tagfocus=process=cc1 all.pb.gz
  go tool pprof -tags all.pb.gz
Samples that already have a process label (from an earlier merge) keep it.
All profiles must have the same sample types.

Options:
  -o, --output OUTPUT  the merged profile (required)
  -h, --help           this text

Exit status: 0 on success; 1 when a profile cannot be read or is not valid
(the error names the file; nothing is written), when the profiles have
different sample types, or when OUTPUT cannot be written; 2 on a usage error.
)";

constexpr cli::OptionDef kOptions[] = {
    {"-o", "--output", true},
};

}  // namespace

bool merge_profiles(const std::vector<LoadedProfile>& profiles, Profile* out, std::string* error) {
  *out = Profile{};
  if (profiles.empty()) {
    *error = "no profiles to merge";
    return false;
  }
  if (!check_compatible(profiles, error)) return false;
  const Profile& first = profiles.front().profile;
  out->sample_types = first.sample_types;
  out->period_type = first.period_type;
  out->period = first.period;
  out->default_sample_type = first.default_sample_type;
  out->comments.push_back("profpre " PROFPRE_VERSION ": merge of " +
                          std::to_string(profiles.size()) + " profiles");
  Merger merger(out);
  for (size_t i = 0; i < profiles.size(); ++i) merger.add(profiles[i], i);
  merge_times(profiles, out);
  return true;
}

int run_merge(std::span<const std::string> args) {
  cli::ParsedArgs parsed;
  std::string error;
  if (!cli::parse_args(args, kOptions, false, &parsed, &error)) {
    return cli::usage_error("merge", error);
  }
  if (parsed.help) {
    std::fputs(kHelp, stdout);
    return cli::kExitOk;
  }
  const std::string* output = parsed.find("--output");
  if (output == nullptr || output->empty()) {
    return cli::usage_error("merge", "say where to write the merged profile with -o FILE");
  }
  if (parsed.positional.empty()) {
    return cli::usage_error("merge", "no profiles given: name profile files or directories");
  }

  std::vector<LoadedProfile> profiles;
  Profile merged;
  std::string compressed;
  if (!load_profiles(parsed.positional, &profiles, &error) ||
      !merge_profiles(profiles, &merged, &error) ||
      !gzip_compress(encode_profile(merged), &compressed, &error) ||
      !write_file_atomically(*output, compressed, &error)) {
    cli::print_error("merge", error);
    return cli::kExitFailure;
  }
  std::fprintf(stderr, "profpre: merge: wrote %s (%zu profiles, %zu samples)\n", output->c_str(),
               profiles.size(), merged.samples.size());
  return cli::kExitOk;
}

}  // namespace profpre
