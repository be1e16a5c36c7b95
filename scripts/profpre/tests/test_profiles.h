// Small profiles with known contents for the unit tests, shaped like the
// library's: samples/count and cpu/nanoseconds, pid= and exe= comments.
#pragma once

#include <string>
#include <vector>

#include "encoder/profile.h"

namespace profpre::testing {

// Builds a profile of one process from stacks of function names (leaf
// first), one sample per stack with cpu = the given value. Each distinct
// name gets a function and a location of its own in mapping 1 (`exe`);
// names starting with "libc:" go to a second mapping, /lib/libc.so.6.
inline Profile make_profile(
    const std::string& exe, int pid,
    const std::vector<std::pair<std::vector<std::string>, int64_t>>& stacks) {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  p.period_type = {"cpu", "nanoseconds"};
  p.period = 10000000;
  p.comments = {"profpre 0.1.0", "pid=" + std::to_string(pid), "exe=" + exe};
  p.mappings = {
      {.id = 1, .memory_start = 0x1000, .memory_limit = 0x9000, .filename = exe},
      {.id = 2, .memory_start = 0x70000, .memory_limit = 0x80000, .filename = "/lib/libc.so.6"}};
  std::vector<std::string> names;
  auto id_of = [&](const std::string& name) -> uint64_t {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return i + 1;
    }
    names.push_back(name);
    bool libc = name.starts_with("libc:");
    uint64_t id = names.size();
    p.functions.push_back({.id = id, .name = libc ? name.substr(5) : name});
    p.locations.push_back({.id = id,
                           .mapping_id = libc ? 2u : 1u,
                           .address = (libc ? 0x70000 : 0x1000) + 16 * id,
                           .lines = {{id, 10}}});
    return id;
  };
  for (const auto& [stack, cpu] : stacks) {
    Sample s{.values = {cpu / p.period, cpu}, .labels = {{.key = "tid", .num = pid}}};
    for (const std::string& name : stack) s.location_ids.push_back(id_of(name));
    p.samples.push_back(s);
  }
  return p;
}

}  // namespace profpre::testing
