// `profpre report`: flat and cumulative CPU per function over many merged
// profiles, and CPU per process name.
//
// flat: the value of the samples whose leaf frame (the innermost inlined
// function of the leaf Location) is the function. cum: the value of the
// samples in whose stack the function appears at all, counted once per
// sample even under recursion. Functions are told apart by name and library,
// so that the `main` of make and the `main` of cc1 are two rows.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "encoder/profile.h"
#include "scripts/profpre/profile_set.h"
#include "scripts/profpre/stacks.h"

namespace profpre {

struct FunctionRow {
  Frame frame;
  int64_t flat = 0;
  int64_t cum = 0;
};

struct ProcessRow {
  std::string name;
  int64_t value = 0;
  size_t profiles = 0;
  Frame hottest;  // the function with the most flat value in these processes
  int64_t hottest_flat = 0;
};

struct Report {
  ValueType type;  // what the values measure
  int64_t total = 0;
  size_t profiles = 0;
  std::vector<FunctionRow> functions;  // by flat, then cum, then name
  std::vector<ProcessRow> processes;   // by value, then name
};

enum class SortKey { kFlat, kCum };

Report compute_report(const std::vector<LoadedProfile>& profiles);

// Orders report->functions by the key (then the other value, then name).
void sort_functions(Report* report, SortKey key);

// The text `report` prints: a header line, the `top` first functions and
// every process name (or the `top` first).
std::string format_report(const Report& report, size_t top);

// The subcommand; args exclude "report". Returns the exit status.
int run_report(std::span<const std::string> args);

}  // namespace profpre
