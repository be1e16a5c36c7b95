// Tests of record's pure parts: planning PROF_OUT, recognising this run's
// profiles, and where the library is looked for.

#include <catch2/catch.hpp>

#include "scripts/profpre/library_path.h"
#include "scripts/profpre/record_output.h"

namespace profpre {
namespace {

OutputPlan plan(const std::string& option, bool is_directory = false) {
  OutputPlan out;
  std::string error;
  REQUIRE(plan_output(option, "/work", is_directory, &out, &error));
  return out;
}

TEST_CASE("-o DIR/ writes prof.<pid>.pb.gz files in DIR, made absolute", "[record]") {
  OutputPlan p = plan("out/");
  CHECK(p.directory == "/work/out");
  CHECK(p.pattern == "/work/out/prof.%p.pb.gz");
  CHECK(p.shown == "out/");
  CHECK(plan("/abs/dir//").pattern == "/abs/dir/prof.%p.pb.gz");
  CHECK(plan("existing", true).pattern == "/work/existing/prof.%p.pb.gz");
}

TEST_CASE("any other -o is the PROF_OUT pattern", "[record]") {
  OutputPlan p = plan("profiles/run-%p.pb.gz");
  CHECK(p.pattern == "/work/profiles/run-%p.pb.gz");
  CHECK(p.directory == "/work/profiles");
  CHECK(p.head == "run-");
  CHECK(p.tail == ".gz");
  CHECK(plan("x.pb.gz").directory == "/work");
  CHECK(plan("/p.pb.gz").directory == "/");
}

TEST_CASE("bad -o values are refused", "[record]") {
  OutputPlan out;
  std::string error;
  CHECK_FALSE(plan_output("", "/work", false, &out, &error));
  CHECK_FALSE(plan_output("run-%p/prof.pb.gz", "/work", false, &out, &error));
  CHECK(error == "-o run-%p/prof.pb.gz: %p may appear in the file name only, not in a directory");
}

TEST_CASE("this run's profiles are recognised by name", "[record]") {
  OutputPlan dir = plan("out/");
  CHECK(is_output_name(dir, "prof.123.pb.gz"));
  CHECK(is_output_name(dir, "prof.123.2.pb.gz"));  // a later exec in process 123
  CHECK_FALSE(is_output_name(dir, ".prof.123.pb.gz.tmp9"));
  CHECK_FALSE(is_output_name(dir, "flame.html"));

  OutputPlan file = plan("run.pb.gz");
  CHECK(is_output_name(file, "run.pb.gz"));
  CHECK(is_output_name(file, "run.456.pb.gz"));  // a child of the root process
  CHECK_FALSE(is_output_name(file, "other.pb.gz"));

  OutputPlan percent = plan("a%%b.%p.pb.gz");
  CHECK(percent.head == "a%b.");
}

TEST_CASE("new and rewritten files are this run's, untouched ones are not", "[record]") {
  OutputPlan p = plan("out/");
  DirectorySnapshot before{{"prof.1.pb.gz", {1, 100, 10}}, {"prof.2.pb.gz", {2, 100, 10}}};
  DirectorySnapshot after = before;
  after["prof.2.pb.gz"] = {3, 200, 12};  // renamed over: a new inode
  after["prof.3.pb.gz"] = {4, 200, 12};
  CHECK(new_outputs(p, before, after) ==
        std::vector<std::string>{"/work/out/prof.2.pb.gz", "/work/out/prof.3.pb.gz"});
}

TEST_CASE("the library is looked for installed beside the command, then in the build tree",
          "[record]") {
  SECTION("relative libdir under the prefix") {
    CHECK(library_candidates("/dest/usr/local/bin/profpre", "/usr/local", "bin",
                             "lib/x86_64-linux-gnu") ==
          std::vector<std::string>{"/dest/usr/local/bin/../lib/x86_64-linux-gnu/libprofpre.so",
                                   "/usr/local/lib/x86_64-linux-gnu/libprofpre.so",
                                   "/dest/usr/local/bin/../../libprofpre.so"});
  }
  SECTION("absolute libdir outside the prefix") {
    CHECK(library_candidates("/opt/p/bin/profpre", "/opt/p", "bin", "/usr/lib64") ==
          std::vector<std::string>{"/usr/lib64/libprofpre.so", "/opt/p/bin/../../libprofpre.so"});
  }
  SECTION("a deeper bindir") {
    CHECK(library_candidates("/p/tools/bin/profpre", "/p", "tools/bin", "lib").front() ==
          "/p/tools/bin/../../lib/libprofpre.so");
  }
}

}  // namespace
}  // namespace profpre
