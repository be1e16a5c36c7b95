// Tests of decode_profile: round trips through encode_profile, the wire
// forms it must accept, and one crafted byte string per rejection rule.

#include "encoder/decode.h"

#include <catch2/catch.hpp>

#include <string>

#include "encoder/encode.h"
#include "tests/unit/encoder/encoder_test_util.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using testing::dump;
using testing::unhex;

Profile rich_profile() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
  p.samples = {
      {.location_ids = {7, 42, 9},
       .values = {1, 10000000, -5},
       .labels = {{.key = "tid", .num = 1234}, {.key = "thread_name", .str = "worker"}}},
      {.location_ids = {42},
       .values = {3, 30000000, 0},
       .labels = {{.key = "tid", .num = 0, .num_unit = "tid"}}},
      {.location_ids = {}, .values = {0, 0, 1}, .labels = {}},
  };
  p.mappings = {
      {.id = 1,
       .memory_start = 0x400000,
       .memory_limit = 0x480000,
       .file_offset = 0x1000,
       .filename = "/usr/bin/app",
       .build_id = "0123abcd",
       .has_functions = true},
      {.id = 3,
       .memory_start = 0x7f0000000000,
       .memory_limit = 0x7f0000200000,
       .filename = "/lib/libc.so.6",
       .has_filenames = true,
       .has_line_numbers = true,
       .has_inline_frames = true},
  };
  p.locations = {
      // Two inline levels in one location: innermost callee first.
      {.id = 7, .mapping_id = 1, .address = 0x401234, .lines = {{2, 12}, {5, 40}, {1, 88}}},
      {.id = 42, .mapping_id = 3, .address = 0x7f0000001000, .lines = {{3, -1}}},
      {.id = 9, .mapping_id = 0, .address = 0xffffffffffffffff, .lines = {}},
  };
  p.functions = {
      {.id = 1, .name = "main", .system_name = "main", .filename = "app.cc", .start_line = 80},
      {.id = 2,
       .name = "ns::helper()",
       .system_name = "_ZN2ns6helperEv",
       .filename = "h.h",
       .start_line = 10},
      {.id = 3, .name = "memcpy", .system_name = "memcpy"},
      {.id = 5, .name = "run", .system_name = "run", .filename = "app.cc", .start_line = 30},
  };
  p.time_nanos = 1700000000123456789;
  p.duration_nanos = 2500000000;
  p.period_type = {"cpu", "nanoseconds"};
  p.period = 10000000;
  p.comments = {"profpre 0.1.0", "hz=100", "", "hz=100"};
  p.default_sample_type = "cpu";
  return p;
}

Profile decode_ok(const std::string& bytes) {
  Profile out;
  std::string error;
  bool ok = decode_profile(bytes, &out, &error);
  INFO("error: " << error);
  REQUIRE(ok);
  return out;
}

// The error decode_profile reports for `hex_bytes`, which must be rejected.
std::string rejection(const std::string& hex_bytes) {
  Profile out;
  std::string error;
  CHECK_FALSE(decode_profile(unhex(hex_bytes), &out, &error));
  CHECK_FALSE(error.empty());
  return error;
}

TEST_CASE("a rich profile survives encode then decode unchanged", "[encoder][decode]") {
  Profile original = rich_profile();
  std::string bytes = encode_profile(original);
  Profile decoded = decode_ok(bytes);
  CHECK(dump(decoded) == dump(original));

  SECTION("and encodes again to the same bytes") { CHECK(encode_profile(decoded) == bytes); }
}

TEST_CASE("the empty input is an empty profile", "[encoder][decode]") {
  CHECK(dump(decode_ok("")) == dump(Profile{}));
}

TEST_CASE("repeated scalars are accepted packed, unpacked and mixed", "[encoder][decode]") {
  SECTION("location id 1 unpacked, then 2 and 3 packed") {
    std::string bytes = unhex(
        "0a 00  12 08 08 01 0a 02 02 03 10 05"
        "22 02 08 01  22 02 08 02  22 02 08 03  32 00");
    Profile p = decode_ok(bytes);
    REQUIRE(p.samples.size() == 1);
    CHECK(p.samples[0].location_ids == std::vector<uint64_t>{1, 2, 3});
    CHECK(p.samples[0].values == std::vector<int64_t>{5});
  }
  SECTION("comments unpacked, then packed") {
    Profile p = decode_ok(unhex("68 01  6a 02 02 01  32 00 32 01 61 32 01 62"));
    CHECK(p.comments == std::vector<std::string>{"a", "b", "a"});
  }
}

TEST_CASE("unknown fields of wire types 0, 1, 2 and 5 are skipped", "[encoder][decode]") {
  SECTION("at the top level, field 20") {
    std::string bytes = unhex(
        "a0 01 05  a1 01 01 02 03 04 05 06 07 08  a2 01 02 61 62  a5 01 01 02 03 04"
        "48 07 32 00");
    Profile p = decode_ok(bytes);
    CHECK(p.time_nanos == 7);
  }
  SECTION("inside a message") {
    Profile p = decode_ok(unhex("0a 07 08 01 4d 00 00 00 00  32 00 32 01 78"));
    REQUIRE(p.sample_types.size() == 1);
    CHECK(p.sample_types[0].type == "x");
  }
}

TEST_CASE("known fields the model does not hold are checked, then dropped", "[encoder][decode]") {
  SECTION("drop_frames and keep_frames naming real strings") {
    CHECK(dump(decode_ok(unhex("38 01 40 01 32 00 32 01 78"))) == dump(Profile{}));
  }
  SECTION("Location.is_folded and Line.column") {
    Profile p = decode_ok(unhex("22 0a 08 01 28 01 22 04 08 01 18 05  2a 02 08 01  32 00"));
    REQUIRE(p.locations.size() == 1);
    CHECK(p.locations[0].lines.size() == 1);
  }
  SECTION("drop_frames naming a string that does not exist") {
    CHECK_THAT(rejection("38 05 32 00"), Contains("drop_frames names string 5"));
  }
  SECTION("doc_url with the wrong wire type") {
    CHECK_THAT(rejection("7a 00 32 00"), Contains("doc_url has wire type 2"));
  }
}

TEST_CASE("a zero time_nanos may be followed by a real one", "[encoder][decode]") {
  CHECK(decode_ok(unhex("48 00 48 05 32 00")).time_nanos == 5);
}

TEST_CASE("malformed varints and lengths are rejected with their offset", "[encoder][decode]") {
  SECTION("a varint longer than 10 bytes") {
    CHECK(rejection("48 ff ff ff ff ff ff ff ff ff ff 01") ==
          "profile at byte 1: varint longer than 10 bytes");
  }
  SECTION("a varint cut off by the end of the input") {
    CHECK(rejection("32 00 48 ff") == "profile at byte 3: truncated input");
  }
  SECTION("a length beyond the end of the input") {
    CHECK(rejection("32 00 0a 05 08 01") ==
          "profile at byte 3: length runs past the end of the input");
  }
  SECTION("a varint cut off by the end of its message") {
    CHECK(rejection("0a 03 08 ff ff 32 00") == "sample_type at byte 3: truncated input");
  }
  SECTION("a packed run cut off inside a varint") {
    CHECK(rejection("0a 00 12 03 12 01 ff 32 00") == "sample at byte 6: value: truncated input");
  }
  SECTION("a group wire type") {
    CHECK_THAT(rejection("32 00 0b"), Contains("profile at byte 2: unsupported wire type"));
  }
  SECTION("field number 0") {
    CHECK_THAT(rejection("00 00 32 00"), Contains("field number out of range"));
  }
}

TEST_CASE("a known field with the wrong wire type is rejected", "[encoder][decode]") {
  SECTION("time_nanos as length-delimited") {
    CHECK(rejection("4a 00 32 00") ==
          "profile at byte 0: time_nanos has wire type 2, want 0 (varint)");
  }
  SECTION("sample_type as a varint") {
    CHECK(rejection("08 01 32 00") ==
          "profile at byte 0: sample_type has wire type 0, want 2 (message)");
  }
  SECTION("string_table as a varint") {
    CHECK_THAT(rejection("30 00"), Contains("string_table has wire type 0"));
  }
  SECTION("a mapping id as fixed64") {
    CHECK(rejection("1a 09 09 01 00 00 00 00 00 00 00 32 00") ==
          "mapping at byte 2: id has wire type 1, want 0 (varint)");
  }
  SECTION("a label's num as length-delimited") {
    CHECK(rejection("0a 00 12 06 10 01 1a 02 1a 00 32 00") ==
          "label at byte 8: num has wire type 2, want 0 (varint)");
  }
  SECTION("a sample value as fixed32") {
    CHECK(rejection("0a 00 12 05 15 01 00 00 00 32 00") ==
          "sample at byte 4: value has wire type 5, want 0 (varint) or 2 (packed)");
  }
  SECTION("a location line as a varint") {
    CHECK_THAT(rejection("22 04 08 01 20 01 32 00"), Contains("line has wire type 0"));
  }
}

TEST_CASE("string indexes must name an entry of a well-formed table", "[encoder][decode]") {
  SECTION("an index past the end of the table") {
    CHECK(rejection("0a 02 08 05 32 00") ==
          "sample_type at byte 2: type names string 5, but the table has 1");
  }
  SECTION("a negative index") {
    CHECK_THAT(rejection("2a 0d 08 01 10 ff ff ff ff ff ff ff ff ff 01 32 00"),
               Contains("function at byte 4: name names string -1"));
  }
  SECTION("string_table[0] that is not empty") {
    CHECK(rejection("32 01 61") == "profile at byte 0: string_table[0] must be \"\"");
  }
  SECTION("a reference with no string table at all") {
    CHECK(rejection("0a 02 08 01") ==
          "sample_type at byte 2: type names string 1, but there is no string table");
  }
  SECTION("even a reference to \"\" needs the table") {
    CHECK_THAT(rejection("0a 02 10 00"), Contains("unit names string 0, but there is no string"));
  }
  SECTION("a comment past the end of the table") {
    CHECK_THAT(rejection("68 03 32 00"), Contains("comment names string 3"));
  }
}

TEST_CASE("a second nonzero time_nanos means concatenated profiles", "[encoder][decode]") {
  CHECK(rejection("48 01 32 00 48 02") ==
        "profile at byte 4: second time_nanos (concatenated profiles?)");
}

TEST_CASE("ids of mappings, locations and functions are nonzero and unique", "[encoder][decode]") {
  SECTION("a mapping with id 0") {
    CHECK(rejection("1a 00 32 00") == "mapping at index 0 has id 0, which is reserved");
  }
  SECTION("a location with id 0") {
    CHECK(rejection("22 02 08 01 22 00 32 00") ==
          "location at index 1 has id 0, which is reserved");
  }
  SECTION("a function with id 0") {
    CHECK(rejection("2a 02 10 00 32 00") == "function at index 0 has id 0, which is reserved");
  }
  SECTION("two mappings with id 7") {
    CHECK(rejection("1a 02 08 07 1a 02 08 07 32 00") == "mapping id 7 is used twice");
  }
  SECTION("two locations with id 7") {
    CHECK(rejection("22 02 08 07 22 02 08 07 32 00") == "location id 7 is used twice");
  }
  SECTION("two functions with id 7") {
    CHECK(rejection("2a 02 08 07 2a 02 08 07 32 00") == "function id 7 is used twice");
  }
}

TEST_CASE("references between messages must resolve", "[encoder][decode]") {
  SECTION("a sample naming a location that does not exist") {
    CHECK(rejection("0a 00 12 04 08 03 10 01 22 02 08 01 32 00") ==
          "sample 0: location 3 does not exist");
  }
  SECTION("a location naming a mapping that does not exist") {
    CHECK(rejection("22 04 08 07 10 02 1a 02 08 01 32 00") ==
          "location 7: mapping 2 does not exist");
  }
  SECTION("a line naming a function that does not exist") {
    CHECK(rejection("22 06 08 07 22 02 08 0c 2a 02 08 01 32 00") ==
          "location 7: line names function 12, which does not exist");
  }
  SECTION("a line with no function at all") {
    CHECK(rejection("22 04 08 07 22 00 32 00") ==
          "location 7: line names function 0, which does not exist");
  }
}

TEST_CASE("each sample has one value per sample type", "[encoder][decode]") {
  SECTION("two values for one type") {
    CHECK(rejection("0a 00 12 04 10 01 10 02 32 00") == "sample 0: 2 values for 1 sample types");
  }
  SECTION("three packed values for two types, in the second sample") {
    CHECK(rejection("0a 00 0a 00 12 04 10 01 10 02 12 05 12 03 01 02 03 32 00") ==
          "sample 1: 3 values for 2 sample types");
  }
  SECTION("samples without any sample type") {
    CHECK(rejection("12 00 32 00") == "1 samples but no sample types");
  }
}

TEST_CASE("a failed decode leaves the output profile untouched", "[encoder][decode]") {
  Profile out = rich_profile();
  std::string error;
  CHECK_FALSE(decode_profile(unhex("48 01 48 02 32 00"), &out, &error));
  CHECK(dump(out) == dump(rich_profile()));
}

}  // namespace
}  // namespace profpre
