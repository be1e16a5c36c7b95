#include "symbolize/maps.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

namespace profpre {
namespace {

MapEntry parse(std::string_view line) {
  std::optional<MapEntry> entry = parse_maps_line(line);
  REQUIRE(entry.has_value());
  return *entry;
}

std::string self_executable() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  REQUIRE(n > 0);
  return std::string(path, static_cast<size_t>(n));
}

TEST_CASE("a library line gives every field", "[maps]") {
  MapEntry entry = parse(
      "7f1c2a228000-7f1c2a3bd000 r-xp 00028000 08:01 1315089"
      "                    /usr/lib/x86_64-linux-gnu/libc.so.6");
  CHECK(entry.start == 0x7f1c2a228000);
  CHECK(entry.limit == 0x7f1c2a3bd000);
  CHECK(entry.offset == 0x28000);
  CHECK(entry.perms == "r-xp");
  CHECK(entry.inode == 1315089);
  CHECK(entry.path == "/usr/lib/x86_64-linux-gnu/libc.so.6");
  CHECK_FALSE(entry.deleted);
  CHECK(entry.executable());
}

TEST_CASE("a path keeps its spaces", "[maps]") {
  SECTION("inside the path") {
    MapEntry entry = parse("00400000-00452000 r-xp 00000000 fd:01 42   /opt/my app/bin/run me");
    CHECK(entry.path == "/opt/my app/bin/run me");
  }
  SECTION("at its end") {
    MapEntry entry = parse("00400000-00452000 r-xp 00000000 fd:01 42 /tmp/trailing ");
    CHECK(entry.path == "/tmp/trailing ");
  }
}

TEST_CASE("a deleted library keeps its path without the suffix", "[maps]") {
  MapEntry entry =
      parse("7f0000001000-7f0000002000 r-xp 00001000 fd:01 99 /tmp/lib x.so (deleted)");
  CHECK(entry.path == "/tmp/lib x.so");
  CHECK(entry.deleted);
}

TEST_CASE("pseudo-files keep their bracketed names", "[maps]") {
  SECTION("vdso") {
    MapEntry entry = parse("7ffd4f5e4000-7ffd4f5e6000 r-xp 00000000 00:00 0  [vdso]");
    CHECK(entry.path == "[vdso]");
    CHECK(entry.inode == 0);
    CHECK(entry.executable());
  }
  SECTION("vsyscall, with its offset kept verbatim") {
    MapEntry entry = parse("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]");
    CHECK(entry.start == 0xffffffffff600000);
    CHECK(entry.limit == 0xffffffffff601000);
    CHECK(entry.offset == 0);
    CHECK(entry.path == "[vsyscall]");
    CHECK(entry.executable());
  }
  SECTION("heap") {
    MapEntry entry = parse("55d0c8a4e000-55d0c8a6f000 rw-p 00000000 00:00 0  [heap]");
    CHECK(entry.path == "[heap]");
    CHECK_FALSE(entry.executable());
  }
  SECTION("stack") {
    MapEntry entry = parse("7ffd4f4c3000-7ffd4f4e4000 rw-p 00000000 00:00 0  [stack]");
    CHECK(entry.path == "[stack]");
  }
  SECTION("named anonymous memory") {
    MapEntry entry = parse("7f0000000000-7f0000001000 rw-p 00000000 00:00 0  [anon:jit pool]");
    CHECK(entry.path == "[anon:jit pool]");
  }
}

TEST_CASE("anonymous memory has an empty path", "[maps]") {
  SECTION("without trailing space") {
    MapEntry entry = parse("7f0000000000-7f0000010000 rwxp 00000000 00:00 0");
    CHECK(entry.path.empty());
    CHECK(entry.executable());
  }
  SECTION("with trailing padding") {
    MapEntry entry = parse("7f0000000000-7f0000010000 rwxp 00000000 00:00 0 ");
    CHECK(entry.path.empty());
  }
  SECTION("with a trailing newline") {
    MapEntry entry = parse("7f0000000000-7f0000010000 r-xp 00000000 00:00 0\n");
    CHECK(entry.path.empty());
    CHECK(entry.perms == "r-xp");
  }
}

TEST_CASE("malformed lines are rejected", "[maps]") {
  const char* line =
      GENERATE("", "garbage",
               "7f0000000000 r-xp 00000000 00:00 0",              // no limit
               "7f0000000000-7f0000010000",                       // nothing after the range
               "7f0000000000-7f0000010000 r-x 00000000 00:00 0",  // short perms
               "7f0000000000-7f0000010000 rqxp 00000000 00:00 0",
               "7f0000000000-7f0000010000 r-xp 00000000 00:00",   // no inode
               "7f0000000000-7f0000010000 r-xp 00000000 0000 0",  // device without colon
               "7f0000000000-7f0000010000 r-xp zz 00:00 0",
               "7f0000000000-7f0000010000 r-xp 00000000 00:00 12x /lib",  // inode not a number
               "0x7f0000-0x7f1000 r-xp 00000000 00:00 0",
               "7f0000010000-7f0000000000 r-xp 00000000 00:00 0",             // limit below start
               "7f0000000000-7f0000000000 r-xp 00000000 00:00 0",             // empty range
               "1ffffffffffffffff-2ffffffffffffffff r-xp 00000000 00:00 0");  // past 64 bits
  INFO(line);
  CHECK_FALSE(parse_maps_line(line).has_value());
}

TEST_CASE("profile mappings keep named code with the main executable first", "[maps]") {
  const char* text[] = {
      "55d0c7000000-55d0c7001000 r--p 00000000 fd:01 10 /usr/bin/app",
      "55d0c7001000-55d0c7005000 r-xp 00001000 fd:01 10 /usr/bin/app",
      "55d0c8a4e000-55d0c8a6f000 rw-p 00000000 00:00 0  [heap]",
      "7f0000000000-7f0000010000 rwxp 00000000 00:00 0",
      "7f0000010000-7f0000020000 r-xp 00000000 00:00 0  [anon:jit]",
      "7f1c2a228000-7f1c2a3bd000 r-xp 00028000 08:01 20 /usr/lib/libc.so.6",
      "7f1c2a3bd000-7f1c2a415000 r--p 001bd000 08:01 20 /usr/lib/libc.so.6",
      "7f2000001000-7f2000002000 r-xp 00001000 fd:01 99 /tmp/plugin.so (deleted)",
      "40000000-40001000 r-xp 00002000 fd:01 30 /opt/low.so",
      "7ffd4f5e4000-7ffd4f5e6000 r-xp 00000000 00:00 0  [vdso]",
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]",
  };
  std::vector<MapEntry> all;
  for (const char* line : text) all.push_back(parse(line));

  std::vector<MapEntry> kept = profile_mappings(all, "/usr/bin/app");
  std::vector<std::string> paths;
  for (const MapEntry& entry : kept) paths.push_back(entry.path);
  CHECK(paths == std::vector<std::string>{"/usr/bin/app", "/opt/low.so", "/usr/lib/libc.so.6",
                                          "/tmp/plugin.so", "[vdso]", "[vsyscall]"});

  SECTION("start, limit and offset are copied verbatim") {
    CHECK(kept[0].start == 0x55d0c7001000);
    CHECK(kept[0].limit == 0x55d0c7005000);
    CHECK(kept[0].offset == 0x1000);
    CHECK(kept[2].offset == 0x28000);
    CHECK(kept[3].deleted);
  }
  SECTION("without the main executable the order is by address") {
    std::vector<MapEntry> plain = profile_mappings(all, "/usr/bin/other");
    REQUIRE(plain.size() == kept.size());
    CHECK(std::is_sorted(plain.begin(), plain.end(),
                         [](const auto& a, const auto& b) { return a.start < b.start; }));
    CHECK(plain[0].path == "/opt/low.so");
  }
  SECTION("only the lowest segment of the main executable moves first") {
    all.push_back(parse("55d0c7100000-55d0c7101000 r-xp 00100000 fd:01 10 /usr/bin/app"));
    std::vector<MapEntry> two = profile_mappings(all, "/usr/bin/app");
    REQUIRE(two.size() == kept.size() + 1);
    CHECK(two[0].start == 0x55d0c7001000);
    CHECK(two[1].path == "/opt/low.so");
    CHECK(two[2].start == 0x55d0c7100000);
  }
}

TEST_CASE("this process's maps include the test binary's code", "[maps]") {
  std::string self = self_executable();
  std::vector<MapEntry> all = read_maps();
  REQUIRE(all.size() > 3);
  bool found = std::any_of(all.begin(), all.end(), [&](const MapEntry& entry) {
    return entry.path == self && entry.executable();
  });
  CHECK(found);

  std::vector<MapEntry> kept = profile_mappings(all, self);
  REQUIRE_FALSE(kept.empty());
  CHECK(kept[0].path == self);
  auto code = reinterpret_cast<uintptr_t>(&self_executable);
  CHECK(kept[0].start <= code);
  CHECK(code < kept[0].limit);

  SECTION("a missing file gives no entries") {
    CHECK(read_maps("/proc/self/no-such-file").empty());
  }
}

}  // namespace
}  // namespace profpre
