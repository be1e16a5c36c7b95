// Byte-exact tests of the protobuf wire helpers, and of the reader that
// walks them back.

#include "encoder/wire.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/encoder/encoder_test_util.h"

namespace profpre::wire {
namespace {

using testing::hex;
using testing::unhex;

std::string varint_bytes(uint64_t value) {
  Writer writer;
  writer.varint(value);
  return hex(writer.bytes());
}

uint64_t read_back(const std::string& hex_bytes) {
  std::string bytes = unhex(hex_bytes);
  Reader reader(bytes);
  uint64_t value = 0;
  REQUIRE(reader.read_varint(&value));
  CHECK(reader.at_end());
  return value;
}

void check_varint(uint64_t value, const std::string& expected) {
  CHECK(varint_bytes(value) == expected);
  CHECK(read_back(expected) == value);
}

TEST_CASE("a varint takes one byte per seven significant bits", "[encoder][wire]") {
  SECTION("0 is a single zero byte") { check_varint(0, "00"); }
  SECTION("1 is a single byte") { check_varint(1, "01"); }
  SECTION("127 is the largest one-byte varint") { check_varint(127, "7f"); }
  SECTION("128 needs a second byte") { check_varint(128, "80 01"); }
  SECTION("150 takes two bytes") { check_varint(150, "96 01"); }
  SECTION("16383 is the largest two-byte varint") { check_varint(16383, "ff 7f"); }
  SECTION("16384 needs a third byte") { check_varint(16384, "80 80 01"); }
  SECTION("2^32 takes five bytes") { check_varint(uint64_t{1} << 32, "80 80 80 80 10"); }
  SECTION("2^63 takes ten bytes") {
    check_varint(uint64_t{1} << 63, "80 80 80 80 80 80 80 80 80 01");
  }
  SECTION("UINT64_MAX takes ten bytes") {
    check_varint(std::numeric_limits<uint64_t>::max(), "ff ff ff ff ff ff ff ff ff 01");
  }
}

TEST_CASE("put_varint reports how many bytes it wrote", "[encoder][wire]") {
  char buf[kMaxVarintBytes];
  CHECK(put_varint(0, buf) == 1);
  CHECK(put_varint(16384, buf) == 3);
  CHECK(put_varint(std::numeric_limits<uint64_t>::max(), buf) == 10);
}

TEST_CASE("a negative int64 is written without zigzag, in ten bytes", "[encoder][wire]") {
  Writer writer;
  SECTION("-1") {
    writer.int64_opt(3, -1);
    CHECK(hex(writer.bytes()) == "18 ff ff ff ff ff ff ff ff ff 01");
  }
  SECTION("INT64_MIN") {
    writer.int64_opt(3, std::numeric_limits<int64_t>::min());
    CHECK(hex(writer.bytes()) == "18 80 80 80 80 80 80 80 80 80 01");
  }
  SECTION("-1 inside a repeated int64 field") {
    std::vector<int64_t> values = {-1};
    writer.int64s(2, values);
    CHECK(hex(writer.bytes()) == "10 ff ff ff ff ff ff ff ff ff 01");
  }
}

TEST_CASE("a tag is the field number shifted left three bits, or'ed with the wire type",
          "[encoder][wire]") {
  Writer writer;
  SECTION("field 1, length-delimited") {
    writer.tag(1, WireType::kLen);
    CHECK(hex(writer.bytes()) == "0a");
  }
  SECTION("field 15, varint: the last one-byte tag") {
    writer.tag(15, WireType::kVarint);
    CHECK(hex(writer.bytes()) == "78");
  }
  SECTION("field 16, varint: the tag itself becomes a two-byte varint") {
    writer.tag(16, WireType::kVarint);
    CHECK(hex(writer.bytes()) == "80 01");
  }
  SECTION("field 2, fixed32") {
    writer.tag(2, WireType::kFixed32);
    CHECK(hex(writer.bytes()) == "15");
  }
}

TEST_CASE("a length-delimited field is tag, length, then the bytes", "[encoder][wire]") {
  Writer writer;
  SECTION("a three-letter string") {
    writer.bytes_field(6, "abc");
    CHECK(hex(writer.bytes()) == "32 03 61 62 63");
  }
  SECTION("an empty string is still written, with length 0") {
    writer.bytes_field(6, "");
    CHECK(hex(writer.bytes()) == "32 00");
  }
  SECTION("a 200-byte string has a two-byte length") {
    writer.bytes_field(6, std::string(200, 'x'));
    CHECK(writer.bytes().size() == 203);
    CHECK(hex(writer.bytes().substr(0, 4)) == "32 c8 01 78");
  }
}

TEST_CASE("repeated varints are packed only when there are more than two", "[encoder][wire]") {
  Writer writer;
  SECTION("three values: one packed field") {
    std::vector<uint64_t> values = {1, 150, 3};
    writer.uint64s(1, values);
    CHECK(hex(writer.bytes()) == "0a 04 01 96 01 03");
  }
  SECTION("three int64 values, one negative") {
    std::vector<int64_t> values = {-1, 0, 1};
    writer.int64s(2, values);
    CHECK(hex(writer.bytes()) == "12 0c ff ff ff ff ff ff ff ff ff 01 00 01");
  }
  SECTION("two values: one varint field each") {
    std::vector<uint64_t> values = {1, 150};
    writer.uint64s(1, values);
    CHECK(hex(writer.bytes()) == "08 01 08 96 01");
  }
  SECTION("no values: nothing at all") {
    writer.uint64s(1, std::vector<uint64_t>{});
    CHECK(writer.bytes().empty());
  }
  SECTION("packed_uint64s packs even a single value") {
    std::vector<uint64_t> values = {5};
    writer.packed_uint64s(1, values);
    CHECK(hex(writer.bytes()) == "0a 01 05");
  }
}

TEST_CASE("optional scalars vanish when zero or false", "[encoder][wire]") {
  Writer writer;
  writer.uint64_opt(1, 0);
  writer.int64_opt(2, 0);
  writer.bool_opt(7, false);
  CHECK(writer.bytes().empty());
  writer.bool_opt(7, true);
  writer.uint64_opt(1, 2);
  CHECK(hex(writer.bytes()) == "38 01 08 02");
}

TEST_CASE("a nested message gets its tag and length in front of its body", "[encoder][wire]") {
  Writer writer;
  SECTION("a short body") {
    size_t mark = writer.begin_message();
    writer.varint_field(1, 1);
    writer.end_message(4, mark);
    CHECK(hex(writer.bytes()) == "22 02 08 01");
  }
  SECTION("an empty body") {
    writer.end_message(4, writer.begin_message());
    CHECK(hex(writer.bytes()) == "22 00");
  }
  SECTION("two levels, after earlier fields") {
    writer.varint_field(9, 300);
    size_t outer = writer.begin_message();
    writer.varint_field(1, 7);
    size_t inner = writer.begin_message();
    writer.varint_field(1, 12);
    writer.end_message(4, inner);
    writer.end_message(4, outer);
    CHECK(hex(writer.bytes()) == "48 ac 02 22 06 08 07 22 02 08 0c");
  }
  SECTION("a 130-byte body has a two-byte length") {
    size_t mark = writer.begin_message();
    writer.raw(std::string(130, 'x'));
    writer.end_message(2, mark);
    CHECK(writer.bytes().size() == 133);
    CHECK(hex(writer.bytes().substr(0, 4)) == "12 82 01 78");
  }
}

TEST_CASE("the reader returns each field with its wire type, payload and offset",
          "[encoder][wire]") {
  std::string input = unhex(
      "08 96 01"                    // field 1, varint 150
      "11 01 02 03 04 05 06 07 08"  // field 2, fixed64
      "1a 02 61 62"                 // field 3, "ab"
      "25 04 03 02 01");            // field 4, fixed32
  Reader reader(input, 100);
  Field field;

  REQUIRE(reader.read_field(&field));
  CHECK(field.number == 1);
  CHECK(field.type == WireType::kVarint);
  CHECK(field.value == 150);
  CHECK(field.offset == 100);

  REQUIRE(reader.read_field(&field));
  CHECK(field.type == WireType::kFixed64);
  CHECK(field.value == 0x0807060504030201);

  REQUIRE(reader.read_field(&field));
  CHECK(field.type == WireType::kLen);
  CHECK(field.bytes == "ab");
  CHECK(field.offset == 112);
  CHECK(field.bytes_offset == 114);

  REQUIRE(reader.read_field(&field));
  CHECK(field.number == 4);
  CHECK(field.type == WireType::kFixed32);
  CHECK(field.value == 0x01020304);
  CHECK(reader.at_end());
}

TEST_CASE("the reader rejects malformed input and says where", "[encoder][wire]") {
  Field field;
  auto fails_with = [&](const std::string& hex_bytes, ReadError error, size_t offset) {
    std::string input = unhex(hex_bytes);
    Reader reader(input);
    CHECK_FALSE(reader.read_field(&field));
    CHECK(reader.error() == error);
    CHECK(reader.error_offset() == offset);
  };
  SECTION("a varint cut short") { fails_with("08 96", ReadError::kTruncated, 1); }
  SECTION("a tag with nothing after it") { fails_with("08", ReadError::kTruncated, 1); }
  SECTION("a varint of eleven bytes") {
    fails_with("08 ff ff ff ff ff ff ff ff ff ff 01", ReadError::kVarintTooLong, 1);
  }
  SECTION("a tenth varint byte beyond bit 63") {
    fails_with("08 ff ff ff ff ff ff ff ff ff 02", ReadError::kVarintOverflow, 1);
  }
  SECTION("a length past the end") { fails_with("1a 05 61 62", ReadError::kLengthPastEnd, 1); }
  SECTION("a fixed64 cut short") { fails_with("11 01 02 03", ReadError::kTruncated, 1); }
  SECTION("a fixed32 cut short") { fails_with("25 01 02 03", ReadError::kTruncated, 1); }
  SECTION("wire type 3 (start group)") { fails_with("0b", ReadError::kBadWireType, 0); }
  SECTION("wire type 4 (end group)") { fails_with("0c", ReadError::kBadWireType, 0); }
  SECTION("wire type 6") { fails_with("0e", ReadError::kBadWireType, 0); }
  SECTION("wire type 7") { fails_with("0f", ReadError::kBadWireType, 0); }
  SECTION("field number 0") { fails_with("00 01", ReadError::kBadFieldNumber, 0); }
  SECTION("field number above 2^29-1") {
    fails_with("80 80 80 80 10 01", ReadError::kBadFieldNumber, 0);
  }
}

TEST_CASE("read errors have short lowercase descriptions", "[encoder][wire]") {
  CHECK(std::string(describe(ReadError::kVarintTooLong)) == "varint longer than 10 bytes");
  CHECK(std::string(describe(ReadError::kTruncated)) == "truncated input");
}

}  // namespace
}  // namespace profpre::wire
