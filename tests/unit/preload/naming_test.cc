#include "preload/naming.h"

#include <catch2/catch.hpp>
#include <string>

using profpre::ImageIdentity;

namespace {

std::string name_for(const char* pattern, ImageIdentity id) {
  char out[256];
  REQUIRE(profpre::output_path_for(pattern, id, out, sizeof out));
  return out;
}

}  // namespace

TEST_CASE("a tag goes before the profile's extension", "[naming]") {
  char out[64];
  auto tagged = [&](const char* path) {
    REQUIRE(profpre::insert_tag(path, "42", out, sizeof out));
    return std::string(out);
  };
  CHECK(tagged("/t/prof.pb.gz") == "/t/prof.42.pb.gz");
  CHECK(tagged("/t/prof.gz") == "/t/prof.42.gz");
  CHECK(tagged("/t/prof.pb") == "/t/prof.42.pb");
  CHECK(tagged("/t/prof") == "/t/prof.42");
  CHECK(tagged("/t.d/prof") == "/t.d/prof.42");
  SECTION("a name that is all extension keeps its first part as the name") {
    CHECK(tagged("/t/.pb.gz") == "/t/.pb.42.gz");
  }
  SECTION("a result that does not fit fails") {
    char small[12];
    CHECK_FALSE(profpre::insert_tag("/t/prof.gz", "42", small, sizeof small));
  }
}

TEST_CASE("the root writes PROF_OUT itself, others add their pid", "[naming]") {
  CHECK(name_for("/o/prof.pb.gz", {100, true, 0}) == "/o/prof.pb.gz");
  CHECK(name_for("/o/prof.pb.gz", {200, false, 0}) == "/o/prof.200.pb.gz");
  SECTION("a pattern with %p already tells processes apart") {
    CHECK(name_for("/o/prof-%p.pb.gz", {200, false, 0}) == "/o/prof-200.pb.gz");
  }
}

TEST_CASE("an image after exec adds how many profiles came before it", "[naming]") {
  CHECK(name_for("/o/prof.pb.gz", {100, true, 1}) == "/o/prof.1.pb.gz");
  CHECK(name_for("/o/prof.pb.gz", {200, false, 2}) == "/o/prof.200.2.pb.gz");
  CHECK(name_for("/o/p.%p.pb.gz", {200, false, 1}) == "/o/p.200.1.pb.gz");
}

TEST_CASE("the exec sequence travels as pid:n and only to the same pid", "[naming]") {
  char entry[64];
  REQUIRE(profpre::format_exec_seq(4321, 3, entry, sizeof entry));
  CHECK(std::string(entry) == "PROFPRE_EXEC_SEQ=4321:3");
  const char* value = entry + sizeof("PROFPRE_EXEC_SEQ");
  CHECK(profpre::parse_exec_seq(value, 4321) == 3);
  CHECK(profpre::parse_exec_seq(value, 4322) == 0);
  CHECK(profpre::parse_exec_seq("4321:x", 4321) == 0);
  CHECK(profpre::parse_exec_seq("", 4321) == 0);
  CHECK(profpre::parse_exec_seq("4321", 4321) == 0);
}

TEST_CASE("windows and dumps add a numbered tag of four digits at least", "[naming]") {
  char out[128];
  REQUIRE(profpre::sequence_path("/o/prof.pb.gz", "w", 1, out, sizeof out));
  CHECK(std::string(out) == "/o/prof.w0001.pb.gz");
  REQUIRE(profpre::sequence_path("/o/prof.4242.1.pb.gz", "w", 12, out, sizeof out));
  CHECK(std::string(out) == "/o/prof.4242.1.w0012.pb.gz");
  REQUIRE(profpre::sequence_path("/o/prof.pb.gz", "dump", 3, out, sizeof out));
  CHECK(std::string(out) == "/o/prof.dump0003.pb.gz");
  REQUIRE(profpre::sequence_path("/o/profile", "w", 12345, out, sizeof out));
  CHECK(std::string(out) == "/o/profile.w12345");
  CHECK_FALSE(profpre::sequence_path("/o/prof.pb.gz", "w", 1, out, 16));
}
