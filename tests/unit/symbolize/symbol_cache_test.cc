// The address cache kept across windows: hits for what was seen, nothing
// stale once a module is gone.
#include "symbolize/symbol_cache.h"

#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "symbolize/maps.h"
#include "symbolize_fixture.h"

namespace profpre {
namespace {

uint64_t leaf_address() { return reinterpret_cast<uint64_t>(&fixture_leaf) + 1; }

TEST_CASE("a second build answers from the cache, like the symbolizer", "[symbol_cache]") {
  Symbolizer direct;
  Symbolization expected = direct.symbolize(leaf_address());
  REQUIRE_FALSE(expected.frames.empty());

  SymbolCache cache;
  for (int build = 0; build < 3; ++build) {
    cache.begin(read_maps(), {});
    Symbolization got = cache.symbolize(leaf_address());
    cache.end();
    REQUIRE(got.frames.size() == expected.frames.size());
    CHECK(got.frames[0].name == expected.frames[0].name);
    CHECK(got.frames[0].file == expected.frames[0].file);
    CHECK(got.frames[0].line == expected.frames[0].line);
    CHECK(got.complete == expected.complete);
  }
  CHECK(cache.misses() == 1);
  CHECK(cache.hits() == 2);
  CHECK(cache.size() == 1);
}

TEST_CASE("an address of an unloaded module is forgotten and looked up afresh",
          "[symbol_cache]") {
  // A private copy, so that no other test has it loaded.
  std::string dir = std::filesystem::temp_directory_path() / "profpre-cache-XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  std::string path = dir + "/libcache_copy.so";
  std::filesystem::copy_file(PROFPRE_UNLOAD_FIXTURE, path);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  auto address = reinterpret_cast<uint64_t>(dlsym(handle, "unload_fixture_function"));
  REQUIRE(address != 0);

  SymbolCache cache;
  cache.begin(read_maps(), {});
  Symbolization loaded = cache.symbolize(address);
  cache.end();
  REQUIRE_FALSE(loaded.frames.empty());
  CHECK(loaded.frames[0].name == "unload_fixture_function");
  REQUIRE(cache.size() == 1);

  REQUIRE(dlclose(handle) == 0);
  cache.begin(read_maps(), {});
  CHECK(cache.size() == 0);  // its module is no longer mapped
  Symbolization gone = cache.symbolize(address);
  cache.end();
  CHECK(gone.frames.empty());
  CHECK(cache.misses() == 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace profpre
