// Tests of gzip_compress and gzip_decompress: round trips, concatenated
// members, and truncated or corrupt input.

#include "encoder/gzip.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "tests/unit/encoder/encoder_test_util.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using testing::hex;
using testing::unhex;

std::string compressed(const std::string& data) {
  std::string out;
  std::string error;
  REQUIRE(gzip_compress(data, &out, &error));
  return out;
}

std::string decompressed(const std::string& gz) {
  std::string out;
  std::string error;
  bool ok = gzip_decompress(gz, &out, &error);
  INFO("error: " << error);
  REQUIRE(ok);
  return out;
}

std::string decompress_error(const std::string& gz) {
  std::string out = "untouched";
  std::string error;
  CHECK_FALSE(gzip_decompress(gz, &out, &error));
  CHECK(out == "untouched");
  return error;
}

// Deterministic bytes that deflate cannot shrink.
std::string noise(size_t size) {
  std::string out(size, '\0');
  uint64_t state = 0x9e3779b97f4a7c15;
  for (char& c : out) {
    state = state * 6364136223846793005 + 1442695040888963407;
    c = static_cast<char>(state >> 56);
  }
  return out;
}

// One member holding "abc" in a stored (uncompressed) deflate block, built
// by hand: header, block, CRC-32 of "abc" (0x352441c2), length 3.
const char* const kStoredAbc =
    "1f 8b 08 00 00 00 00 00 00 ff"
    "01 03 00 fc ff 61 62 63"
    "c2 41 24 35 03 00 00 00";

TEST_CASE("gzip_compress output decompresses to its input", "[encoder][gzip]") {
  SECTION("empty input") { CHECK(decompressed(compressed("")).empty()); }
  SECTION("a short string") { CHECK(decompressed(compressed("hello, pprof")) == "hello, pprof"); }
  SECTION("a megabyte of noise, larger than any internal buffer") {
    std::string data = noise(1 << 20);
    CHECK(decompressed(compressed(data)) == data);
  }
  SECTION("a megabyte of repetition shrinks") {
    std::string data(1 << 20, 'x');
    std::string gz = compressed(data);
    CHECK(gz.size() < 10000);
    CHECK(decompressed(gz) == data);
  }
}

TEST_CASE("gzip_compress writes a gzip header, not a zlib one", "[encoder][gzip]") {
  CHECK(hex(compressed("x").substr(0, 3)) == "1f 8b 08");
}

TEST_CASE("gzip_decompress reads a hand-made stored-block member", "[encoder][gzip]") {
  CHECK(decompressed(unhex(kStoredAbc)) == "abc");
}

TEST_CASE("concatenated gzip members decompress to their concatenation", "[encoder][gzip]") {
  SECTION("two members") { CHECK(decompressed(compressed("abc") + compressed("def")) == "abcdef"); }
  SECTION("three members, the middle one empty and hand-made after it") {
    std::string gz = compressed("abc") + compressed("") + unhex(kStoredAbc);
    CHECK(decompressed(gz) == "abcabc");
  }
}

TEST_CASE("truncated gzip input is rejected", "[encoder][gzip]") {
  std::string gz = compressed("some text to compress, some text to compress");
  SECTION("the last byte missing") {
    CHECK(decompress_error(gz.substr(0, gz.size() - 1)) ==
          "truncated gzip data: the member at byte 0 is incomplete");
  }
  SECTION("only the header") {
    CHECK_THAT(decompress_error(gz.substr(0, 10)), StartsWith("truncated gzip data"));
  }
  SECTION("the second member cut short") {
    std::string two = gz + gz;
    CHECK(decompress_error(two.substr(0, two.size() - 4)) ==
          "truncated gzip data: the member at byte " + std::to_string(gz.size()) +
              " is incomplete");
  }
  SECTION("empty input") {
    CHECK(decompress_error("") == "truncated gzip data: the input is empty");
  }
}

TEST_CASE("corrupt gzip input is rejected", "[encoder][gzip]") {
  std::string gz = compressed("some text to compress, some text to compress");
  SECTION("a wrong CRC") {
    gz[gz.size() - 8] ^= 1;
    CHECK_THAT(decompress_error(gz), Contains("corrupt gzip data in the member at byte 0"));
  }
  SECTION("a wrong length in the trailer") {
    gz[gz.size() - 1] ^= 1;
    CHECK_THAT(decompress_error(gz), StartsWith("corrupt gzip data"));
  }
  SECTION("data that is not gzip at all") {
    CHECK_THAT(decompress_error("hello, world"), StartsWith("corrupt gzip data"));
  }
  SECTION("a zlib stream instead of gzip") {
    CHECK_THAT(decompress_error(unhex("78 9c 4b 04 00 00 62 00 62")),
               StartsWith("corrupt gzip data"));
  }
  SECTION("trailing zeros after a member") {
    CHECK_THAT(decompress_error(gz + std::string(4, '\0')),
               Contains("member at byte " + std::to_string(gz.size())));
  }
  SECTION("a damaged deflate block") {
    std::string bad = unhex(kStoredAbc);
    bad[13] = 0x00;  // the block's length no longer matches its complement
    CHECK_THAT(decompress_error(bad), StartsWith("corrupt gzip data"));
  }
}

}  // namespace
}  // namespace profpre
