// Computing and printing the report tables.

#include "scripts/profpre/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "scripts/profpre/cli.h"
#include "scripts/profpre/format.h"

namespace profpre {
namespace {

constexpr size_t kDefaultTop = 20;

struct ProcessTotals {
  int64_t value = 0;
  size_t profiles = 0;
  std::unordered_map<std::string, FunctionRow> flat;  // by frame_key
};

struct Totals {
  int64_t total = 0;
  std::unordered_map<std::string, FunctionRow> functions;  // by frame_key
  std::map<std::string, ProcessTotals> processes;          // by name
};

FunctionRow& row(std::unordered_map<std::string, FunctionRow>* rows, const Frame& frame) {
  FunctionRow& r = (*rows)[frame_key(frame)];
  if (r.frame.name.empty()) r.frame = frame;
  return r;
}

void add_sample(const std::vector<Frame>& frames, int64_t value, ProcessTotals* process,
                Totals* totals) {
  totals->total += value;
  process->value += value;
  if (frames.empty()) return;

  row(&totals->functions, frames.front()).flat += value;
  row(&process->flat, frames.front()).flat += value;
  std::unordered_set<std::string> seen;  // recursion counts once
  for (const Frame& frame : frames) {
    if (seen.insert(frame_key(frame)).second) row(&totals->functions, frame).cum += value;
  }
}

void add_profile(const LoadedProfile& loaded, Totals* totals) {
  StackResolver resolver(loaded.profile);
  ProcessTotals& process = totals->processes[loaded.process_name];
  process.profiles++;
  for (const Sample& sample : loaded.profile.samples) {
    add_sample(resolver.frames(sample), sample.values[loaded.value_index], &process, totals);
  }
}

bool by_name(const FunctionRow& a, const FunctionRow& b) {
  if (a.frame.name != b.frame.name) return a.frame.name < b.frame.name;
  return a.frame.library < b.frame.library;
}

ProcessRow process_row(const std::string& name, const ProcessTotals& totals) {
  ProcessRow row{.name = name, .value = totals.value, .profiles = totals.profiles};
  for (const auto& [key, function] : totals.flat) {
    bool better = function.flat > row.hottest_flat ||
                  (function.flat == row.hottest_flat && by_name(function, {row.hottest}));
    if (row.hottest.name.empty() || better) {
      row.hottest = function.frame;
      row.hottest_flat = function.flat;
    }
  }
  return row;
}

std::string describe_frame(const Frame& frame) {
  if (frame.library.empty()) return frame.name;
  return frame.name + " [" + frame.library + "]";
}

std::string value_column(const ValueType& type) {
  return type.type.empty() ? std::string("value") : type.type;
}

// printf onto the end of *out, however long the result.
void append_line(std::string* out, const char* format, auto... args) {
  int n = std::snprintf(nullptr, 0, format, args...);
  if (n <= 0) return;
  size_t end = out->size();
  out->resize(end + static_cast<size_t>(n) + 1);
  std::snprintf(out->data() + end, static_cast<size_t>(n) + 1, format, args...);
  out->resize(end + static_cast<size_t>(n));
}

void format_functions(const Report& report, size_t top, std::string* out) {
  size_t shown = std::min(top, report.functions.size());
  append_line(out,
              "\nFunctions: top %zu of %zu (flat: in the function itself; cum: with "
              "what it calls)\n",
              shown, report.functions.size());
  append_line(out, "%10s %6s %10s %6s  %s\n", "flat", "flat%", "cum", "cum%", "function [library]");
  for (size_t i = 0; i < shown; ++i) {
    const FunctionRow& f = report.functions[i];
    append_line(out, "%10s %6s %10s %6s  ", format_value(f.flat, report.type).c_str(),
                format_percent(f.flat, report.total).c_str(),
                format_value(f.cum, report.type).c_str(),
                format_percent(f.cum, report.total).c_str());
    *out += describe_frame(f.frame) + "\n";
  }
}

void format_processes(const Report& report, size_t top, std::string* out) {
  size_t shown = std::min(top, report.processes.size());
  size_t width = 7;
  for (size_t i = 0; i < shown; ++i) width = std::max(width, report.processes[i].name.size());
  std::string column = value_column(report.type);
  append_line(out, "\nProcesses by name: top %zu of %zu\n", shown, report.processes.size());
  append_line(out, "%10s %6s %8s  %-*s  %s\n", column.c_str(), (column + "%").c_str(), "profiles",
              static_cast<int>(width), "process", "hottest function (flat)");
  for (size_t i = 0; i < shown; ++i) {
    const ProcessRow& p = report.processes[i];
    append_line(out, "%10s %6s %8zu  %-*s  ", format_value(p.value, report.type).c_str(),
                format_percent(p.value, report.total).c_str(), p.profiles, static_cast<int>(width),
                p.name.c_str());
    *out += (p.hottest.name.empty() ? std::string("-") : describe_frame(p.hottest)) + "\n";
  }
}

constexpr const char* kHelp = R"(Usage: profpre report [--top N] [--sort flat|cum] FILES_OR_DIRS...

Reads profiles (files, or directories of *.pb.gz / *.pb files, such as the
one `profpre record` writes), merges them and prints two tables on stdout:
  Functions: flat (CPU in the function itself) and cum (CPU in it and in what
             it calls) per function, with the library it is in;
  Processes: CPU per process name (all cc1 processes together), with how
             many profiles each name has and its hottest function.
Profiles from other producers (gperftools via `go tool pprof -proto`, Go's
runtime/pprof) are read too; the value added up is cpu/nanoseconds when the
profile has it, else its last sample type.

Options:
  --top N          rows per table (default 20)
  --sort flat|cum  order of the function table (default flat)
  -h, --help       this text

Exit status: 0 on success; 1 when a file cannot be read or is not a valid
profile (truncated, corrupt: the error names the file; nothing else is
printed); 2 on a usage error.
)";

constexpr cli::OptionDef kOptions[] = {
    {"", "--top", true},
    {"", "--sort", true},
};

}  // namespace

Report compute_report(const std::vector<LoadedProfile>& profiles) {
  Totals totals;
  for (const LoadedProfile& loaded : profiles) add_profile(loaded, &totals);

  Report report;
  report.profiles = profiles.size();
  report.total = totals.total;
  if (!profiles.empty()) {
    report.type = profiles.front().profile.sample_types[profiles.front().value_index];
  }
  for (auto& [key, function] : totals.functions) report.functions.push_back(function);
  sort_functions(&report, SortKey::kFlat);
  for (const auto& [name, process] : totals.processes) {
    report.processes.push_back(process_row(name, process));
  }
  std::stable_sort(report.processes.begin(), report.processes.end(),
                   [](const ProcessRow& a, const ProcessRow& b) { return a.value > b.value; });
  return report;
}

void sort_functions(Report* report, SortKey key) {
  auto primary = [key](const FunctionRow& r) { return key == SortKey::kFlat ? r.flat : r.cum; };
  auto secondary = [key](const FunctionRow& r) { return key == SortKey::kFlat ? r.cum : r.flat; };
  std::sort(report->functions.begin(), report->functions.end(),
            [&](const FunctionRow& a, const FunctionRow& b) {
              if (primary(a) != primary(b)) return primary(a) > primary(b);
              if (secondary(a) != secondary(b)) return secondary(a) > secondary(b);
              return by_name(a, b);
            });
}

std::string format_report(const Report& report, size_t top) {
  std::string out;
  append_line(&out, "profpre: %zu profile%s, %s of %s\n", report.profiles,
              report.profiles == 1 ? "" : "s", format_total(report.total, report.type).c_str(),
              (report.type.type + "/" + report.type.unit).c_str());
  format_functions(report, top, &out);
  format_processes(report, top, &out);
  return out;
}

int run_report(std::span<const std::string> args) {
  cli::ParsedArgs parsed;
  std::string error;
  if (!cli::parse_args(args, kOptions, false, &parsed, &error)) {
    return cli::usage_error("report", error);
  }
  if (parsed.help) {
    std::fputs(kHelp, stdout);
    return cli::kExitOk;
  }
  long top = kDefaultTop;
  if (const std::string* value = parsed.find("--top");
      value != nullptr && !cli::parse_int(*value, 1, 1000000, &top)) {
    return cli::usage_error("report", "--top needs a whole number from 1 up, not '" + *value + "'");
  }
  SortKey key = SortKey::kFlat;
  if (const std::string* value = parsed.find("--sort"); value != nullptr) {
    if (*value != "flat" && *value != "cum") {
      return cli::usage_error("report", "--sort takes flat or cum, not '" + *value + "'");
    }
    key = *value == "cum" ? SortKey::kCum : SortKey::kFlat;
  }
  if (parsed.positional.empty()) {
    return cli::usage_error("report", "no profiles given: name profile files or directories");
  }

  std::vector<LoadedProfile> profiles;
  if (!load_profiles(parsed.positional, &profiles, &error)) {
    cli::print_error("report", error);
    return cli::kExitFailure;
  }
  Report report = compute_report(profiles);
  sort_functions(&report, key);
  std::fputs(format_report(report, static_cast<size_t>(top)).c_str(), stdout);
  return cli::kExitOk;
}

}  // namespace profpre
