// Tests of strict profile loading: what is accepted, what is refused and
// how the error reads, and how a profile's process is named.

#include "scripts/profpre/profile_set.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "encoder/encode.h"
#include "encoder/gzip.h"
#include "scripts/profpre/tests/test_profiles.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using testing::make_profile;

std::string gzipped(const Profile& profile) {
  std::string out, error;
  REQUIRE(gzip_compress(encode_profile(profile), &out, &error));
  return out;
}

std::string decode_error(std::string_view bytes) {
  Profile p;
  std::string error;
  CHECK_FALSE(decode_profile_file(bytes, &p, &error));
  return error;
}

// A fresh temporary directory, removed with its files at the end.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/profpre-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string& name, std::string_view bytes) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << bytes;
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const Profile kProfile = make_profile("/usr/bin/cc1", 42, {{{"leaf", "main"}, 30000000}});

TEST_CASE("a profile is read gzip'd or not", "[profile_set]") {
  Profile p;
  std::string error;
  REQUIRE(decode_profile_file(gzipped(kProfile), &p, &error));
  CHECK(p.samples.size() == 1);
  REQUIRE(decode_profile_file(encode_profile(kProfile), &p, &error));
  CHECK(p.functions.size() == 2);
}

TEST_CASE("broken input is refused with a reason", "[profile_set]") {
  std::string good = gzipped(kProfile);
  SECTION("empty") { CHECK(decode_error("") == "empty file, not a profile"); }
  SECTION("truncated gzip") {
    CHECK_THAT(decode_error(good.substr(0, good.size() / 2)), StartsWith("bad gzip data"));
  }
  SECTION("gzip without its trailer") {
    CHECK_THAT(decode_error(good.substr(0, good.size() - 4)), StartsWith("bad gzip data"));
  }
  SECTION("garbage after the gzip stream") {
    CHECK_THAT(decode_error(good + "xyz"), StartsWith("bad gzip data"));
  }
  SECTION("a corrupt byte in the compressed data") {
    std::string bad = good;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5a);
    CHECK_THAT(decode_error(bad), StartsWith("bad gzip data"));
  }
  SECTION("truncated protobuf") {
    std::string raw = encode_profile(kProfile);
    CHECK_THAT(decode_error(raw.substr(0, raw.size() - 3)), StartsWith("not a valid profile: "));
  }
  SECTION("text") {
    CHECK_THAT(decode_error("hello, world\n"), StartsWith("not a valid profile: "));
  }
  SECTION("a profile without sample types") {
    Profile empty;
    empty.comments = {"x"};
    CHECK(decode_error(encode_profile(empty)) == "not a valid profile: no sample types");
  }
}

TEST_CASE("load_profile names the file in its error", "[profile_set]") {
  TempDir dir;
  std::string path = dir.write("bad.pb.gz", "\x1f\x8b junk");
  LoadedProfile loaded;
  std::string error;
  REQUIRE_FALSE(load_profile(path, &loaded, &error));
  CHECK_THAT(error, StartsWith(path + ": bad gzip data"));
  REQUIRE_FALSE(load_profile(dir.path() + "/missing.pb.gz", &loaded, &error));
  CHECK_THAT(error, Contains("missing.pb.gz: cannot open: No such file or directory"));
}

TEST_CASE("values are added up, and a sum that would overflow is refused", "[profile_set]") {
  TempDir dir;
  LoadedProfile loaded;
  std::string error;
  REQUIRE(load_profile(dir.write("ok.pb.gz", gzipped(kProfile)), &loaded, &error));
  CHECK(loaded.total == 30000000);
  CHECK(loaded.magnitude == 30000000);

  Profile huge = make_profile("/bin/x", 1, {{{"f"}, INT64_MAX}, {{"g"}, 1}});
  std::string path = dir.write("huge.pb.gz", gzipped(huge));
  REQUIRE_FALSE(load_profile(path, &loaded, &error));
  CHECK(error == path + ": sample values too large to add up (corrupt file?)");

  Profile big = make_profile("/bin/x", 1, {{{"f"}, INT64_MAX / 2 + 1}});
  dir.write("big1.pb.gz", gzipped(big));
  dir.write("big2.pb.gz", gzipped(big));
  dir.write("ok.pb.gz", gzipped(kProfile));
  std::vector<LoadedProfile> all;
  REQUIRE_FALSE(load_profiles({dir.path()}, &all, &error));
  CHECK_THAT(error, Contains("big2.pb.gz: sample values too large to add up with the other"));
}

TEST_CASE("a directory expands to its profiles in name order", "[profile_set]") {
  TempDir dir;
  dir.write("prof.20.pb.gz", "");
  dir.write("prof.10.pb.gz", "");
  dir.write("raw.pb", "");
  dir.write(".prof.30.pb.gz.tmp1", "");  // the library's temporary file
  dir.write("notes.txt", "");
  std::vector<std::string> files;
  std::string error;
  REQUIRE(expand_profile_paths({dir.path()}, &files, &error));
  CHECK(files == std::vector<std::string>{dir.path() + "/prof.10.pb.gz",
                                          dir.path() + "/prof.20.pb.gz", dir.path() + "/raw.pb"});
}

TEST_CASE("a directory without profiles, a missing path and a device are errors", "[profile_set]") {
  TempDir dir;
  std::vector<std::string> files;
  std::string error;
  REQUIRE_FALSE(expand_profile_paths({dir.path()}, &files, &error));
  CHECK_THAT(error, Contains("no profiles in this directory"));
  REQUIRE_FALSE(expand_profile_paths({dir.path() + "/nope"}, &files, &error));
  CHECK_THAT(error, Contains("nope: No such file or directory"));
  REQUIRE_FALSE(expand_profile_paths({"/dev/zero"}, &files, &error));
  CHECK(error == "/dev/zero: not a regular file or a directory");
}

TEST_CASE("one bad file among good ones fails the whole load", "[profile_set]") {
  TempDir dir;
  dir.write("a.pb.gz", gzipped(kProfile));
  dir.write("b.pb.gz", gzipped(kProfile).substr(0, 20));
  std::vector<LoadedProfile> loaded;
  std::string error;
  REQUIRE_FALSE(load_profiles({dir.path()}, &loaded, &error));
  CHECK_THAT(error, StartsWith(dir.path() + "/b.pb.gz: "));
}

TEST_CASE("profiles measuring different things are not mixed", "[profile_set]") {
  TempDir dir;
  Profile heap = kProfile;
  heap.sample_types = {{"alloc_objects", "count"}, {"alloc_space", "bytes"}};
  dir.write("a.pb.gz", gzipped(kProfile));
  dir.write("b.pb.gz", gzipped(heap));
  std::vector<LoadedProfile> loaded;
  std::string error;
  REQUIRE_FALSE(load_profiles({dir.path()}, &loaded, &error));
  CHECK_THAT(error, Contains("b.pb.gz: measures alloc_space/bytes"));
}

TEST_CASE("the value added up is cpu/nanoseconds, else the last", "[profile_set]") {
  Profile p;
  p.sample_types = {{"cpu", "nanoseconds"}, {"samples", "count"}};
  CHECK(choose_value_index(p) == 0);
  p.sample_types = {{"alloc_objects", "count"}, {"alloc_space", "bytes"}};
  CHECK(choose_value_index(p) == 1);
}

TEST_CASE("a process is named by its exe= and pid= comments, else mapping 1", "[profile_set]") {
  LoadedProfile ours{.path = "/x/prof.42.pb.gz", .profile = kProfile};
  identify_process(&ours);
  CHECK(ours.process_name == "cc1");
  CHECK(ours.pid == 42);
  CHECK(process_label(ours) == "cc1[42]");

  LoadedProfile other{.path = "/x/go.pb.gz", .profile = kProfile};
  other.profile.comments.clear();
  other.profile.mappings[0].filename = "/tmp/gobin";
  identify_process(&other);
  CHECK(other.process_name == "gobin");
  CHECK(other.pid == 0);
  CHECK(process_label(other) == "gobin");

  LoadedProfile bare{.path = "/x/bare.pb.gz", .profile = kProfile};
  bare.profile.comments.clear();
  bare.profile.mappings.clear();
  identify_process(&bare);
  CHECK(bare.process_name == "bare.pb.gz");
}

}  // namespace
}  // namespace profpre
