// Tests of the report's numbers against profiles whose answers are known,
// and of the table it prints.

#include "scripts/profpre/report.h"

#include <catch2/catch.hpp>

#include "scripts/profpre/tests/test_profiles.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using testing::make_profile;

constexpr int64_t kMs = 1000000;

LoadedProfile loaded(Profile profile, const std::string& path) {
  LoadedProfile out{.path = path, .profile = std::move(profile)};
  out.value_index = choose_value_index(out.profile);
  identify_process(&out);
  return out;
}

std::vector<LoadedProfile> build() {
  return {
      loaded(make_profile("/usr/lib/gcc/cc1", 1,
                          {{{"hot", "parse", "main"}, 30 * kMs},
                           {{"libc:memcpy", "parse", "main"}, 10 * kMs},
                           {{"rec", "rec", "rec", "main"}, 20 * kMs},
                           {{"main"}, 5 * kMs}}),
             "cc1.pb.gz"),
      loaded(make_profile("/usr/bin/make", 2,
                          {{{"main"}, 40 * kMs}, {{"libc:memcpy", "main"}, 5 * kMs}}),
             "make.pb.gz"),
  };
}

const FunctionRow* find(const Report& report, const std::string& name, const std::string& lib) {
  for (const FunctionRow& row : report.functions) {
    if (row.frame.name == name && row.frame.library == lib) return &row;
  }
  return nullptr;
}

TEST_CASE("flat counts the leaf, cum every function of the stack once", "[report]") {
  Report report = compute_report(build());
  CHECK(report.total == 110 * kMs);
  CHECK(report.profiles == 2);
  CHECK(report.type.type == "cpu");

  struct Want {
    const char* name;
    const char* lib;
    int64_t flat, cum;
  };
  for (Want want : {Want{"hot", "cc1", 30, 30}, Want{"parse", "cc1", 0, 40},
                    Want{"main", "cc1", 5, 65}, Want{"rec", "cc1", 20, 20},
                    Want{"memcpy", "libc.so.6", 15, 15}, Want{"main", "make", 40, 45}}) {
    INFO(want.name << " [" << want.lib << "]");
    const FunctionRow* row = find(report, want.name, want.lib);
    REQUIRE(row != nullptr);
    CHECK(row->flat == want.flat * kMs);
    CHECK(row->cum == want.cum * kMs);
  }
  CHECK(report.functions.size() == 6);
}

TEST_CASE("functions are ordered by flat, or by cum on request", "[report]") {
  Report report = compute_report(build());
  std::vector<std::string> order;
  for (const FunctionRow& row : report.functions) order.push_back(row.frame.name);
  CHECK(order == std::vector<std::string>{"main", "hot", "rec", "memcpy", "main", "parse"});

  sort_functions(&report, SortKey::kCum);
  CHECK(report.functions[0].frame.name == "main");
  CHECK(report.functions[0].frame.library == "cc1");
  CHECK(report.functions[1].frame.library == "make");
  CHECK(report.functions[2].frame.name == "parse");
}

TEST_CASE("processes are grouped by name with their hottest function", "[report]") {
  std::vector<LoadedProfile> profiles = build();
  profiles.push_back(loaded(make_profile("/usr/lib/gcc/cc1", 3, {{{"hot"}, 10 * kMs}}), "c2"));
  Report report = compute_report(profiles);
  REQUIRE(report.processes.size() == 2);
  CHECK(report.processes[0].name == "cc1");
  CHECK(report.processes[0].value == 75 * kMs);
  CHECK(report.processes[0].profiles == 2);
  CHECK(report.processes[0].hottest.name == "hot");
  CHECK(report.processes[0].hottest_flat == 40 * kMs);
  CHECK(report.processes[1].name == "make");
  CHECK(report.processes[1].hottest.name == "main");
}

TEST_CASE("an inlined function is the leaf of its location", "[report]") {
  Profile p = make_profile("/bin/app", 7, {{{"outer", "main"}, 10 * kMs}});
  p.functions.push_back({.id = 9, .name = "inlined_helper"});
  auto& lines = p.locations[0].lines;  // the leaf location, outer's
  lines.insert(lines.begin(), Line{9, 3});
  Report report = compute_report({loaded(p, "app.pb.gz")});
  CHECK(find(report, "inlined_helper", "app")->flat == 10 * kMs);
  CHECK(find(report, "outer", "app")->flat == 0);
  CHECK(find(report, "outer", "app")->cum == 10 * kMs);
}

TEST_CASE("an unsymbolized address is named by its offset in the file", "[report]") {
  Profile p = make_profile("/bin/app", 7, {{{"f"}, 10 * kMs}});
  p.locations[0].lines.clear();
  p.mappings[0].file_offset = 0x200;
  Report report = compute_report({loaded(p, "app.pb.gz")});
  // address 0x1010 in a mapping that starts at 0x1000 from file offset 0x200
  CHECK(find(report, "0x210", "app") != nullptr);
}

TEST_CASE("profiles of other producers: no comments, the last value", "[report]") {
  Profile p = make_profile("/tmp/goprog", 0, {{{"f"}, 10 * kMs}});
  p.comments.clear();
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  Report report = compute_report({loaded(p, "go.pb.gz")});
  CHECK(report.total == 10 * kMs);
  CHECK(report.processes[0].name == "goprog");
  CHECK(report.type.type == "wall");
}

TEST_CASE("a very long process name is printed whole", "[report]") {
  std::string name(400, 'x');
  Profile p = make_profile("/bin/" + name, 7, {{{"f"}, 10 * kMs}});
  std::string text = format_report(compute_report({loaded(p, "x.pb.gz")}), 5);
  CHECK_THAT(text, Contains("  " + name + "  f [" + name + "]\n"));
}

TEST_CASE("the table shows totals, shares and libraries", "[report]") {
  std::string text = format_report(compute_report(build()), 3);
  CHECK_THAT(text, Contains("profpre: 2 profiles, 0.11 s of cpu/nanoseconds"));
  CHECK_THAT(text, Contains("Functions: top 3 of 6"));
  CHECK_THAT(text, Contains("   40.0ms  36.4%     45.0ms  40.9%  main [make]\n"));
  CHECK_THAT(text, Contains("   30.0ms  27.3%     30.0ms  27.3%  hot [cc1]\n"));
  CHECK_THAT(text, !Contains("parse"));
  CHECK_THAT(text, Contains("   65.0ms  59.1%        1  cc1      hot [cc1]\n"));
}

}  // namespace
}  // namespace profpre
