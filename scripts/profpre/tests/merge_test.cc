// Tests of merge: id renumbering and sharing, the process label, times, and
// that the result passes the strict decoder.

#include "scripts/profpre/merge.h"

#include <catch2/catch.hpp>

#include "encoder/decode.h"
#include "encoder/encode.h"
#include "scripts/profpre/tests/test_profiles.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using testing::make_profile;

LoadedProfile loaded(Profile profile, const std::string& path) {
  LoadedProfile out{.path = path, .profile = std::move(profile)};
  out.value_index = choose_value_index(out.profile);
  identify_process(&out);
  return out;
}

Profile merged_of(const std::vector<LoadedProfile>& profiles) {
  Profile out;
  std::string error;
  REQUIRE(merge_profiles(profiles, &out, &error));
  // The result must be what a strict reader accepts.
  Profile decoded;
  REQUIRE(decode_profile(encode_profile(out), &decoded, &error));
  return out;
}

std::string label(const Sample& s, const std::string& key) {
  for (const Label& l : s.labels) {
    if (l.key == key) return l.str;
  }
  return "";
}

TEST_CASE("the same code in two processes shares its ids", "[merge]") {
  Profile a = make_profile("/usr/lib/gcc/cc1", 1, {{{"hot", "main"}, 30}});
  Profile b = make_profile("/usr/lib/gcc/cc1", 2, {{{"hot", "main"}, 10}, {{"main"}, 5}});
  Profile out = merged_of({loaded(a, "a"), loaded(b, "b")});
  CHECK(out.mappings.size() == 2);
  CHECK(out.functions.size() == 2);
  CHECK(out.locations.size() == 2);
  REQUIRE(out.samples.size() == 3);
  CHECK(out.samples[0].location_ids == out.samples[1].location_ids);
  CHECK(label(out.samples[0], "process") == "cc1[1]");
  CHECK(label(out.samples[1], "process") == "cc1[2]");
  CHECK(label(out.samples[2], "process") == "cc1[2]");
  CHECK(out.samples[1].labels.front().key == "tid");  // the producer's labels stay
}

TEST_CASE("a library mapped elsewhere keeps its own mapping and locations", "[merge]") {
  Profile a = make_profile("/bin/app", 1, {{{"libc:memcpy", "main"}, 30}});
  Profile b = make_profile("/bin/app", 2, {{{"libc:memcpy", "main"}, 10}});
  b.mappings[1].memory_start += 0x100000;  // ASLR
  b.mappings[1].memory_limit += 0x100000;
  b.locations[0].address += 0x100000;
  Profile out = merged_of({loaded(a, "a"), loaded(b, "b")});
  CHECK(out.mappings.size() == 3);
  CHECK(out.functions.size() == 2);  // memcpy is still one function
  CHECK(out.locations.size() == 3);
  CHECK(out.samples[0].location_ids[0] != out.samples[1].location_ids[0]);
  CHECK(out.samples[0].location_ids[1] == out.samples[1].location_ids[1]);
}

TEST_CASE("locations without a mapping are never shared", "[merge]") {
  Profile a = make_profile("/bin/app", 1, {{{"f"}, 30}});
  Profile b = make_profile("/bin/app", 2, {{{"f"}, 10}});
  a.locations[0].mapping_id = 0;
  b.locations[0].mapping_id = 0;
  Profile out = merged_of({loaded(a, "a"), loaded(b, "b")});
  CHECK(out.locations.size() == 2);
}

TEST_CASE("ids are renumbered when producers' ids collide", "[merge]") {
  Profile a = make_profile("/bin/a", 1, {{{"fa"}, 30}});
  Profile b = make_profile("/bin/b", 2, {{{"fb", "gb"}, 10}});
  Profile out = merged_of({loaded(a, "a"), loaded(b, "b")});
  CHECK(out.mappings.size() == 3);  // /bin/a, libc (same place in both), /bin/b
  CHECK(out.functions.size() == 3);
  CHECK(out.locations.size() == 3);
  CHECK(out.mappings[0].filename == "/bin/a");  // mapping 1 stays the first main executable
  const Location& fb = out.locations[out.samples[1].location_ids[0] - 1];
  CHECK(out.functions[fb.lines[0].function_id - 1].name == "fb");
}

TEST_CASE("a sample that already names its process keeps that name", "[merge]") {
  Profile a = make_profile("/bin/a", 1, {{{"f"}, 30}});
  a.samples[0].labels.push_back({.key = "process", .str = "make[7]"});
  Profile out = merged_of({loaded(a, "a")});
  CHECK(out.samples[0].labels.size() == 2);
  CHECK(label(out.samples[0], "process") == "make[7]");
}

TEST_CASE("profiles of different kinds are not merged", "[merge]") {
  Profile a = make_profile("/bin/a", 1, {{{"f"}, 30}});
  Profile b = a;
  b.sample_types[1] = {"wall", "nanoseconds"};
  Profile out;
  std::string error;
  REQUIRE_FALSE(merge_profiles({loaded(a, "a.pb.gz"), loaded(b, "b.pb.gz")}, &out, &error));
  CHECK_THAT(error, Contains("b.pb.gz: sample types samples/count wall/nanoseconds differ"));
}

TEST_CASE("the merged time spans from the first start to the last end", "[merge]") {
  Profile a = make_profile("/bin/a", 1, {{{"f"}, 30}});
  Profile b = a;
  a.time_nanos = 1000;
  a.duration_nanos = 500;
  b.time_nanos = 1200;
  b.duration_nanos = 800;
  Profile out = merged_of({loaded(a, "a"), loaded(b, "b")});
  CHECK(out.time_nanos == 1000);
  CHECK(out.duration_nanos == 1000);
  CHECK(out.period == a.period);
  CHECK(out.sample_types.size() == 2);
}

}  // namespace
}  // namespace profpre
