// Tests of the option parser shared by the subcommands.

#include "scripts/profpre/cli.h"

#include <catch2/catch.hpp>

namespace profpre::cli {
namespace {

constexpr OptionDef kDefs[] = {{"-o", "--output", true}, {"", "--hz", true}, {"", "--flag", false}};

ParsedArgs parse_ok(std::vector<std::string> args, bool stop = false) {
  ParsedArgs parsed;
  std::string error;
  REQUIRE(parse_args(args, kDefs, stop, &parsed, &error));
  return parsed;
}

std::string parse_error(std::vector<std::string> args) {
  ParsedArgs parsed;
  std::string error;
  REQUIRE_FALSE(parse_args(args, kDefs, false, &parsed, &error));
  return error;
}

TEST_CASE("an option takes its value in every spelling", "[cli]") {
  SECTION("separate") { CHECK(*parse_ok({"-o", "x"}).find("--output") == "x"); }
  SECTION("attached") { CHECK(*parse_ok({"-ox"}).find("--output") == "x"); }
  SECTION("long") { CHECK(*parse_ok({"--output", "x"}).find("--output") == "x"); }
  SECTION("long with =") { CHECK(*parse_ok({"--output=x"}).find("--output") == "x"); }
  SECTION("the last one wins") { CHECK(*parse_ok({"-o", "a", "-o", "b"}).find("--output") == "b"); }
}

TEST_CASE("options and file names may be mixed, -- ends the options", "[cli]") {
  ParsedArgs parsed = parse_ok({"a", "--hz", "5", "b", "--", "-o", "c"});
  CHECK(parsed.positional == std::vector<std::string>{"a", "b", "-o", "c"});
  CHECK(*parsed.find("--hz") == "5");
  CHECK(parsed.find("--output") == nullptr);
}

TEST_CASE("record's options end at the command, whose own options stay its own", "[cli]") {
  ParsedArgs parsed = parse_ok({"-o", "out/", "make", "-j2", "--hz", "1"}, true);
  CHECK(*parsed.find("--output") == "out/");
  CHECK(parsed.find("--hz") == nullptr);
  CHECK(parsed.positional == std::vector<std::string>{"make", "-j2", "--hz", "1"});
}

TEST_CASE("-h and --help ask for help", "[cli]") {
  CHECK(parse_ok({"-h"}).help);
  CHECK(parse_ok({"x", "--help"}).help);
}

TEST_CASE("bad options are errors that name them", "[cli]") {
  CHECK(parse_error({"--nope"}) == "unknown option --nope");
  CHECK(parse_error({"-o"}) == "option -o needs a value");
  CHECK(parse_error({"--flag=1"}) == "option --flag takes no value");
}

TEST_CASE("a lone dash is a file name", "[cli]") {
  CHECK(parse_ok({"-"}).positional == std::vector<std::string>{"-"});
}

TEST_CASE("parse_int takes whole numbers in range only", "[cli]") {
  long value = 0;
  CHECK(parse_int("100", 1, 10000, &value));
  CHECK(value == 100);
  CHECK_FALSE(parse_int("0", 1, 10000, &value));
  CHECK_FALSE(parse_int("10001", 1, 10000, &value));
  CHECK_FALSE(parse_int("5x", 1, 10000, &value));
  CHECK_FALSE(parse_int("", 1, 10000, &value));
  CHECK_FALSE(parse_int("1.5", 1, 10000, &value));
}

}  // namespace
}  // namespace profpre::cli
