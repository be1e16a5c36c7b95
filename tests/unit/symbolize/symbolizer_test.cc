#include "symbolize/symbolizer.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "symbolize/maps.h"
#include "symbolize_fixture.h"

namespace profpre {
namespace {

constexpr const char* kFixtureFile = "symbolize_fixture.cc";

uint64_t address_of(const void* p) { return reinterpret_cast<uint64_t>(p); }

template <typename F>
uint64_t function_address(F* function) {
  return reinterpret_cast<uint64_t>(function);
}

// The address inside the caller of fixture_sink from which it was called:
// its return address minus one, as a profiler adjusts a caller's PC.
uint64_t sink_call_site() { return address_of(fixture_sink_return) - 1; }

std::string describe(const Symbolization& result) {
  std::string text = result.complete ? "complete:" : "incomplete:";
  for (const SourceFrame& frame : result.frames) {
    text += "\n  " + frame.name + " [" + frame.system_name + "] " + frame.file + ":" +
            std::to_string(frame.start_line) + " line " + std::to_string(frame.line);
  }
  return text;
}

void check_frame(const SourceFrame& frame, const std::string& name, int start_line, int line) {
  CHECK(frame.name == name);
  CHECK(frame.file.starts_with('/'));  // joined to the build directory
  CHECK(std::string_view(frame.file).ends_with(kFixtureFile));
  CHECK(frame.start_line == start_line);
  CHECK(frame.line == line);
}

TEST_CASE("a C function's address gives its name, file and lines", "[symbolizer]") {
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(function_address(&fixture_leaf) + 1);
  INFO(describe(result));
  REQUIRE(result.frames.size() == 1);
  const SourceFrame& frame = result.frames[0];
  CHECK(frame.name == "fixture_leaf");
  CHECK(frame.system_name == "fixture_leaf");
  CHECK(std::string_view(frame.file).ends_with(kFixtureFile));
  CHECK(frame.start_line == fixture::kLeafLine);
  CHECK(frame.line >= fixture::kLeafLine);
  CHECK(frame.line <= fixture::kLeafLine + 2);
  CHECK(result.complete);
}

TEST_CASE("a C++ function is demangled and keeps its linkage name", "[symbolizer]") {
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(function_address(&fixture::scale));
  INFO(describe(result));
  REQUIRE(result.frames.size() == 1);
  CHECK(result.frames[0].name == "fixture::scale(int)");
  CHECK(result.frames[0].system_name == "_ZN7fixture5scaleEi");
  CHECK(result.frames[0].start_line == fixture::kScaleLine);
  CHECK(result.complete);
}

TEST_CASE("an address in an inlined helper gives the helper, then its caller", "[symbolizer]") {
  REQUIRE(fixture_outer(4) > 0);
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(sink_call_site());
  INFO(describe(result));
  REQUIRE(result.frames.size() == 2);
  check_frame(result.frames[0], "fixture::helper(int)", fixture::kHelperLine,
              fixture::kHelperSinkCallLine);
  CHECK(result.frames[0].system_name == "_ZN7fixture6helperEi");
  check_frame(result.frames[1], "fixture_outer", fixture::kOuterLine,
              fixture::kOuterHelperCallLine);
  CHECK(result.complete);
}

TEST_CASE("two levels of inlining give three frames, innermost first", "[symbolizer]") {
  REQUIRE(fixture_deep(4) > 0);
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(sink_call_site());
  INFO(describe(result));
  REQUIRE(result.frames.size() == 3);
  check_frame(result.frames[0], "fixture::inner(int)", fixture::kInnerLine,
              fixture::kInnerSinkCallLine);
  check_frame(result.frames[1], "fixture::middle(int)", fixture::kMiddleLine,
              fixture::kMiddleInnerCallLine);
  check_frame(result.frames[2], "fixture_deep", fixture::kDeepLine, fixture::kDeepMiddleCallLine);
  CHECK(result.complete);
}

TEST_CASE("a libc function is named", "[symbolizer]") {
  // Complete or not depends on whether libc's separate debug file is
  // installed (libc6-dbg), so only the name is checked.
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(function_address(&getpid));
  INFO(describe(result));
  REQUIRE_FALSE(result.frames.empty());
  CHECK_THAT(result.frames.back().name, Catch::Contains("getpid"));
}

TEST_CASE("a vDSO function is named from the image in memory", "[symbolizer]") {
  // glibc registers the vDSO as a loaded object under its soname.
  void* vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(vdso != nullptr);
  void* function = dlsym(vdso, "__vdso_clock_gettime");
  REQUIRE(function != nullptr);
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(address_of(function));
  INFO(describe(result));
  REQUIRE_FALSE(result.frames.empty());
  CHECK_THAT(result.frames.back().name, Catch::Contains("clock_gettime"));
  dlclose(vdso);
}

TEST_CASE("an address in no module gives no frames", "[symbolizer]") {
  Symbolizer symbolizer;
  SECTION("below every mapping") {
    Symbolization result = symbolizer.symbolize(0x100);
    CHECK(result.frames.empty());
    CHECK_FALSE(result.complete);
  }
  SECTION("in anonymous memory") {
    auto block = std::make_unique<char[]>(size_t{1} << 22);  // malloc maps it alone
    CHECK(symbolizer.symbolize(address_of(block.get() + 4096)).frames.empty());
  }
}

// A copy of the unload fixture in a temporary directory, so that no other
// handle keeps it loaded.
class LibraryCopy {
 public:
  LibraryCopy() {
    char dir[] = "/tmp/profpre-unload-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/libunload_copy.so";
    std::filesystem::copy_file(PROFPRE_UNLOAD_FIXTURE, path_);
  }
  ~LibraryCopy() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  LibraryCopy(const LibraryCopy&) = delete;
  LibraryCopy& operator=(const LibraryCopy&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

struct LoadedLibrary {
  uint64_t bias = 0;
  uint64_t function = 0;
  int line = 0;
};

int find_bias(dl_phdr_info* info, size_t, void* data) {
  auto* wanted = static_cast<std::pair<std::string, uint64_t>*>(data);
  if (info->dlpi_name == nullptr || wanted->first != info->dlpi_name) return 0;
  wanted->second = info->dlpi_addr;
  return 1;
}

LoadedLibrary load_and_unload(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  LoadedLibrary loaded;
  loaded.function = address_of(dlsym(handle, "unload_fixture_function"));
  auto* line = static_cast<const int*>(dlsym(handle, "unload_fixture_line"));
  REQUIRE(loaded.function != 0);
  REQUIRE(line != nullptr);
  loaded.line = *line;
  std::pair<std::string, uint64_t> wanted(path, 0);
  REQUIRE(dl_iterate_phdr(find_bias, &wanted) == 1);
  loaded.bias = wanted.second;
  REQUIRE(dlclose(handle) == 0);
  return loaded;
}

bool is_mapped(const std::string& path) {
  std::vector<MapEntry> maps = read_maps();
  return std::any_of(maps.begin(), maps.end(),
                     [&](const MapEntry& entry) { return entry.path == path; });
}

TEST_CASE("an unloaded library is symbolized from its file and load bias", "[symbolizer]") {
  LibraryCopy library;
  LoadedLibrary loaded = load_and_unload(library.path());
  REQUIRE_FALSE(is_mapped(library.path()));
  CHECK(loaded.bias != 0);  // DWARF addresses differ from run-time ones

  Symbolizer symbolizer;
  CHECK(symbolizer.symbolize(loaded.function).frames.empty());
  symbolizer.add_unloaded_module(library.path(), loaded.bias);
  Symbolization result = symbolizer.symbolize(loaded.function + 1);
  INFO(describe(result));
  REQUIRE(result.frames.size() == 1);
  CHECK(result.frames[0].name == "unload_fixture_function");
  CHECK(std::string_view(result.frames[0].file).ends_with("unload_fixture.cc"));
  CHECK(result.frames[0].start_line == loaded.line);
  CHECK(result.frames[0].line >= loaded.line);
  CHECK(result.frames[0].line <= loaded.line + 2);
  CHECK(result.complete);
}

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

// The unload fixture split the way distributions ship libraries: stripped of
// DWARF, with a .gnu_debuglink naming a separate debug file.
class SplitLibrary {
 public:
  // debug_subdir: where the debug file goes, relative to the library's
  // directory ("" or ".debug"). keep_build_id false removes the build-ID
  // note first, so that only the debuglink CRC can match the files.
  SplitLibrary(const std::string& debug_subdir, bool keep_build_id) {
    std::string dir = library_.path().substr(0, library_.path().rfind('/'));
    std::string debug_dir = debug_subdir.empty() ? dir : dir + "/" + debug_subdir;
    std::filesystem::create_directories(debug_dir);
    debug_path_ = debug_dir + "/libunload_copy.so.debug";
    const std::string objcopy = "'" PROFPRE_OBJCOPY "' ";
    const std::string lib = " '" + library_.path() + "'";
    if (!keep_build_id) run(objcopy + "--remove-section=.note.gnu.build-id" + lib);
    run(objcopy + "--only-keep-debug" + lib + " '" + debug_path_ + "'");
    run(objcopy + "--strip-debug '--add-gnu-debuglink=" + debug_path_ + "'" + lib);
  }

  const std::string& path() const { return library_.path(); }
  const std::string& debug_path() const { return debug_path_; }

 private:
  LibraryCopy library_;
  std::string debug_path_;
};

Symbolization symbolize_unloaded(const SplitLibrary& library) {
  LoadedLibrary loaded = load_and_unload(library.path());
  Symbolizer symbolizer;
  symbolizer.add_unloaded_module(library.path(), loaded.bias);
  Symbolization result = symbolizer.symbolize(loaded.function);
  INFO(describe(result));
  REQUIRE(result.frames.size() == 1);
  CHECK(result.frames[0].name == "unload_fixture_function");
  return result;
}

TEST_CASE("a separate debug file named by .gnu_debuglink is found", "[symbolizer]") {
  SECTION("next to the library") {
    SplitLibrary library("", true);
    CHECK(symbolize_unloaded(library).complete);
  }
  SECTION("in .debug next to the library") {
    SplitLibrary library(".debug", true);
    CHECK(symbolize_unloaded(library).complete);
  }
  SECTION("without build IDs, by the debuglink checksum") {
    SplitLibrary library("", false);
    CHECK(symbolize_unloaded(library).complete);
  }
  SECTION("but not when its checksum differs") {
    SplitLibrary library("", false);
    std::ofstream(library.debug_path(), std::ios::app) << "changed";
    Symbolization result = symbolize_unloaded(library);
    CHECK_FALSE(result.complete);
    CHECK(result.frames[0].file.empty());
  }
}

TEST_CASE("a stripped library without debug file gives exported names only", "[symbolizer]") {
  LibraryCopy library;
  run("'" PROFPRE_OBJCOPY "' --strip-all '" + library.path() + "'");
  LoadedLibrary loaded = load_and_unload(library.path());
  Symbolizer symbolizer;
  symbolizer.add_unloaded_module(library.path(), loaded.bias);
  Symbolization result = symbolizer.symbolize(loaded.function + 1);
  INFO(describe(result));
  REQUIRE(result.frames.size() == 1);
  CHECK(result.frames[0].name == "unload_fixture_function");
  CHECK(result.frames[0].system_name == "unload_fixture_function");
  CHECK(result.frames[0].file.empty());
  CHECK(result.frames[0].line == 0);
  CHECK_FALSE(result.complete);
}

// A TCP server on the loopback that counts connections and closes each at
// once, standing in for a debuginfod server.
class CountingServer {
 public:
  CountingServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    thread_ = std::thread([this] { serve(); });
  }
  ~CountingServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }
  CountingServer(const CountingServer&) = delete;
  CountingServer& operator=(const CountingServer&) = delete;

  const std::string& url() const { return url_; }
  int connections() const { return connections_.load(); }

 private:
  void serve() {
    for (;;) {
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      ++connections_;
      close(client);
    }
  }

  int fd_ = -1;
  std::string url_;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

bool debuginfod_loaded() {
  std::vector<MapEntry> maps = read_maps();
  return std::any_of(maps.begin(), maps.end(), [](const MapEntry& entry) {
    return entry.path.find("libdebuginfod") != std::string::npos;
  });
}

// What elfutils' standard callback does in the same environment: the
// control that shows the server would have been asked.
void symbolize_with_standard_callbacks(uint64_t address) {
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_linux_proc_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = &debuginfo_path,
  };
  Dwfl* dwfl = dwfl_begin(&callbacks);
  REQUIRE(dwfl != nullptr);
  dwfl_report_begin(dwfl);
  dwfl_linux_proc_report(dwfl, getpid());
  dwfl_report_end(dwfl, nullptr, nullptr);
  Dwarf_Addr bias = 0;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl, address);
  if (mod != nullptr) dwfl_module_getdwarf(mod, &bias);
  dwfl_end(dwfl);
}

// Runs last in this file: its control loads libdebuginfod for good.
TEST_CASE("debug info is looked up locally even when DEBUGINFOD_URLS is set", "[symbolizer]") {
  REQUIRE_FALSE(debuginfod_loaded());
  char cache[] = "/tmp/profpre-debuginfod-XXXXXX";
  REQUIRE(mkdtemp(cache) != nullptr);
  CountingServer server;
  ScopedEnv urls("DEBUGINFOD_URLS", server.url());
  ScopedEnv cache_path("DEBUGINFOD_CACHE_PATH", cache);
  ScopedEnv timeout("DEBUGINFOD_TIMEOUT", "5");

  // libdw has no debug file on this machine, so a lookup misses locally.
  uint64_t in_libdw = function_address(&dwfl_begin);
  Symbolizer symbolizer;
  Symbolization result = symbolizer.symbolize(in_libdw);
  INFO(describe(result));
  REQUIRE_FALSE(result.frames.empty());
  CHECK(result.frames.back().name == "dwfl_begin");
  CHECK(server.connections() == 0);
  CHECK_FALSE(debuginfod_loaded());

  // The control: elfutils' own callback, in the same environment, loads
  // libdebuginfod and asks the server.
  symbolize_with_standard_callbacks(in_libdw);
  if (debuginfod_loaded()) {
    CHECK(server.connections() > 0);
  } else {
    WARN("no control: libdebuginfod is not installed, or libdw has a local debug file");
  }
  std::error_code ignored;
  std::filesystem::remove_all(cache, ignored);
}

}  // namespace
}  // namespace profpre
