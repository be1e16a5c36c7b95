// Byte-exact tests of encode_profile. The expected bytes are written by
// hand from profile.proto's field numbers, not produced by the encoder.

#include "encoder/encode.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "encoder/wire.h"
#include "tests/unit/encoder/encoder_test_util.h"

namespace profpre {
namespace {

using testing::hex;
using testing::unhex;

Profile small_profile() {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  p.samples = {{.location_ids = {1}, .values = {5}, .labels = {}}};
  Mapping mapping;
  mapping.id = 1;
  mapping.memory_start = 0x400000;
  mapping.memory_limit = 0x401000;
  mapping.filename = "/bin/a";
  mapping.has_functions = true;
  p.mappings = {mapping};
  p.locations = {{.id = 1, .mapping_id = 1, .address = 0x400123, .lines = {{1, 7}}}};
  p.functions = {
      {.id = 1, .name = "main", .system_name = "main", .filename = "a.c", .start_line = 3}};
  p.time_nanos = 300;
  return p;
}

// The top-level fields of an encoded profile, in order.
std::vector<wire::Field> top_level_fields(const std::string& bytes) {
  std::vector<wire::Field> fields;
  wire::Reader reader(bytes);
  wire::Field field;
  while (!reader.at_end()) {
    REQUIRE(reader.read_field(&field));
    fields.push_back(field);
  }
  return fields;
}

TEST_CASE("a small profile encodes to exactly the expected bytes", "[encoder]") {
  std::string expected = unhex(
      // sample_type {type: 1 "samples", unit: 2 "count"}
      "0a 04  08 01  10 02"
      // sample {location_id: 1, value: 5}
      "12 04  08 01  10 05"
      // mapping {id 1, start 0x400000, limit 0x401000, filename 3, has_functions}
      "1a 10  08 01  10 80 80 80 02  18 80 a0 80 02  28 03  38 01"
      // location {id 1, mapping_id 1, address 0x400123, line {function_id 1, line 7}}
      "22 0f  08 01  10 01  18 a3 82 80 02  22 04 08 01 10 07"
      // function {id 1, name 4, system_name 4 (same string), filename 5, start_line 3}
      "2a 0a  08 01  10 04  18 04  20 05  28 03"
      // string_table: "" samples count /bin/a main a.c
      "32 00"
      "32 07 73 61 6d 70 6c 65 73"
      "32 05 63 6f 75 6e 74"
      "32 06 2f 62 69 6e 2f 61"
      "32 04 6d 61 69 6e"
      "32 03 61 2e 63"
      // time_nanos 300
      "48 ac 02");
  std::string bytes = encode_profile(small_profile());
  CHECK(hex(bytes) == hex(expected));

  SECTION("the string table begins with \"\" and holds each string once") {
    std::vector<std::string_view> strings;
    for (const wire::Field& field : top_level_fields(bytes)) {
      if (field.number == 6) strings.push_back(field.bytes);
    }
    CHECK(strings ==
          std::vector<std::string_view>{"", "samples", "count", "/bin/a", "main", "a.c"});
  }
  SECTION("time_nanos appears once") {
    int count = 0;
    for (const wire::Field& field : top_level_fields(bytes)) count += field.number == 9;
    CHECK(count == 1);
  }
}

TEST_CASE("an empty profile is just the string table's empty string", "[encoder]") {
  CHECK(hex(encode_profile(Profile{})) == "32 00");
}

TEST_CASE("the profile's scalars follow the string table, whose strings they use", "[encoder]") {
  Profile p;
  p.duration_nanos = 5;
  p.period_type = {"cpu", "nanoseconds"};
  p.period = 10000000;
  p.comments = {"a", "b", "c"};
  p.default_sample_type = "cpu";
  std::string expected = unhex(
      "32 00  32 03 63 70 75  32 0b 6e 61 6e 6f 73 65 63 6f 6e 64 73"
      "32 01 61  32 01 62  32 01 63"
      "50 05"              // duration_nanos 5
      "5a 04 08 01 10 02"  // period_type {cpu, nanoseconds}
      "60 80 ad e2 04"     // period 10,000,000
      "6a 03 03 04 05"     // comment: three indexes, packed
      "70 01");            // default_sample_type "cpu", interned once
  CHECK(hex(encode_profile(p)) == hex(expected));
}

TEST_CASE("labels carry either a string or a number with its unit", "[encoder]") {
  Profile p;
  p.sample_types = {{"", ""}};
  SECTION("a string label") {
    p.samples = {{.location_ids = {}, .values = {1}, .labels = {{.key = "k", .str = "v"}}}};
    CHECK(hex(encode_profile(p)) == "0a 00 12 08 10 01 1a 04 08 01 10 02 32 00 32 01 6b 32 01 76");
  }
  SECTION("a numeric label with a unit") {
    p.samples = {{.location_ids = {},
                  .values = {1},
                  .labels = {{.key = "tid", .num = 42, .num_unit = "id"}}}};
    CHECK(hex(encode_profile(p)) ==
          "0a 00 12 0a 10 01 1a 06 08 01 18 2a 20 02 32 00 32 03 74 69 64 32 02 69 64");
  }
}

TEST_CASE("samples pack more than two values and write one or two unpacked", "[encoder]") {
  Profile p;
  p.sample_types = {{"", ""}, {"", ""}, {"", ""}};
  SECTION("three values and three locations are packed") {
    p.samples = {{.location_ids = {1, 2, 3}, .values = {1, -1, 300}, .labels = {}}};
    std::string bytes = encode_profile(p);
    CHECK(hex(bytes).find("12 14 0a 03 01 02 03 12 0d 01 ff ff ff ff ff ff ff ff ff 01 ac 02") !=
          std::string::npos);
  }
  SECTION("two locations are written one field each") {
    p.samples = {{.location_ids = {4, 5}, .values = {0, 0, 0}, .labels = {}}};
    CHECK(hex(encode_profile(p)).find("12 09 08 04 08 05 12 03 00 00 00") != std::string::npos);
  }
}

TEST_CASE("zero fields and false flags are left out of messages", "[encoder]") {
  Profile p;
  p.mappings = {Mapping{.id = 2}};
  p.locations = {Location{.id = 3, .lines = {Line{}}}};
  p.functions = {Function{.id = 4}};
  CHECK(hex(encode_profile(p)) == hex(unhex("1a 02 08 02  22 04 08 03 22 00  2a 02 08 04  32 00")));
}

}  // namespace
}  // namespace profpre
