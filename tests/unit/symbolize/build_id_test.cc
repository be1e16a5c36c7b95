#include "symbolize/build_id.h"

#include <elf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "symbolize/maps.h"

namespace profpre {
namespace {

std::string self_executable() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  REQUIRE(n > 0);
  return std::string(path, static_cast<size_t>(n));
}

// What binutils reports, as the independent reference. The path is resolved
// first: /proc/self/exe inside readelf would be readelf itself.
std::string readelf_build_id(const std::string& path) {
  std::string command = "LC_ALL=C '" PROFPRE_READELF "' -n '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string id;
  char line[4096];
  while (fgets(line, sizeof line, pipe) != nullptr) {
    const char* found = strstr(line, "Build ID: ");
    if (found == nullptr) continue;
    id = found + strlen("Build ID: ");
    id.erase(id.find_last_not_of(" \n") + 1);
  }
  REQUIRE(pclose(pipe) == 0);
  return id;
}

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::vector<unsigned char>& bytes) {
    char dir[] = "/tmp/profpre-build-id-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/file";
    std::ofstream out(path_, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  ~TempFile() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

template <typename T>
void put(std::vector<unsigned char>* bytes, size_t offset, const T& value) {
  if (bytes->size() < offset + sizeof value) bytes->resize(offset + sizeof value);
  memcpy(bytes->data() + offset, &value, sizeof value);
}

// A 64-bit ELF file with no sections and one PT_NOTE segment holding a
// single note with the given owner, type and descriptor.
std::vector<unsigned char> elf_with_note(const char (&owner)[4], uint32_t type,
                                         std::vector<unsigned char> desc) {
  std::vector<unsigned char> bytes;
  Elf64_Ehdr header = {};
  memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS64;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_type = ET_DYN;
  header.e_machine = EM_X86_64;
  header.e_version = EV_CURRENT;
  header.e_phoff = sizeof header;
  header.e_ehsize = sizeof header;
  header.e_phentsize = sizeof(Elf64_Phdr);
  header.e_phnum = 1;
  put(&bytes, 0, header);

  size_t note_offset = sizeof header + sizeof(Elf64_Phdr);
  Elf64_Nhdr note = {4, static_cast<Elf64_Word>(desc.size()), type};
  put(&bytes, note_offset, note);
  put(&bytes, note_offset + sizeof note, owner);
  bytes.insert(bytes.end(), desc.begin(), desc.end());
  bytes.resize((bytes.size() + 3) & ~size_t{3});

  Elf64_Phdr segment = {};
  segment.p_type = PT_NOTE;
  segment.p_offset = note_offset;
  segment.p_filesz = bytes.size() - note_offset;
  segment.p_align = 4;
  put(&bytes, sizeof header, segment);
  return bytes;
}

bool is_lower_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

TEST_CASE("the test binary's build ID is the one readelf prints", "[build_id]") {
  std::string self = self_executable();
  std::string expected = readelf_build_id(self);
  REQUIRE_FALSE(expected.empty());
  CHECK(read_build_id(self) == expected);
  CHECK(read_build_id("/proc/self/exe") == expected);

  SECTION("and the same from the file's bytes in memory") {
    std::ifstream in(self, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(build_id_from_image(bytes.data(), bytes.size()) == expected);
  }
}

TEST_CASE("the vDSO image has a build ID", "[build_id]") {
  auto* vdso = reinterpret_cast<const void*>(getauxval(AT_SYSINFO_EHDR));
  REQUIRE(vdso != nullptr);
  size_t size = 0;
  for (const MapEntry& entry : read_maps()) {
    if (entry.start == reinterpret_cast<uintptr_t>(vdso)) size = entry.limit - entry.start;
  }
  REQUIRE(size > 0);
  std::string id = build_id_from_image(vdso, size);
  CHECK_FALSE(id.empty());
  CHECK(id.size() % 2 == 0);
  CHECK(is_lower_hex(id));

  SECTION("a size cut before the notes gives none") {
    CHECK(build_id_from_image(vdso, sizeof(Elf64_Ehdr)).empty());
  }
}

TEST_CASE("a note in the program headers is found without section headers", "[build_id]") {
  TempFile file(elf_with_note("GNU", NT_GNU_BUILD_ID, {0xde, 0xad, 0xbe, 0xef, 0x01}));
  CHECK(read_build_id(file.path()) == "deadbeef01");
}

TEST_CASE("files without a build ID give an empty string", "[build_id]") {
  SECTION("an ELF file whose only note is of another type") {
    TempFile file(elf_with_note("GNU", NT_GNU_ABI_TAG, {0, 0, 0, 0, 3, 0, 0, 0}));
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("a build-ID type under another owner") {
    TempFile file(elf_with_note("XYZ", NT_GNU_BUILD_ID, {1, 2, 3, 4}));
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("an empty descriptor") {
    TempFile file(elf_with_note("GNU", NT_GNU_BUILD_ID, {}));
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("a descriptor over 256 bytes") {
    TempFile file(elf_with_note("GNU", NT_GNU_BUILD_ID, std::vector<unsigned char>(300, 7)));
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("a text file") {
    std::string text = "#!/bin/sh\necho not an ELF file\n";
    TempFile file(std::vector<unsigned char>(text.begin(), text.end()));
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("an empty file") {
    TempFile file({});
    CHECK(read_build_id(file.path()).empty());
  }
  SECTION("a missing file") { CHECK(read_build_id("/nonexistent/profpre/file").empty()); }
  SECTION("a directory") { CHECK(read_build_id("/tmp").empty()); }
}

TEST_CASE("a truncated or lying ELF file gives an empty string", "[build_id]") {
  std::vector<unsigned char> bytes =
      elf_with_note("GNU", NT_GNU_BUILD_ID, {0xde, 0xad, 0xbe, 0xef});
  SECTION("cut inside the note") { bytes.resize(bytes.size() - 3); }
  SECTION("cut inside the header") { bytes.resize(sizeof(Elf64_Ehdr) - 1); }
  SECTION("a descriptor size past the segment") {
    put(&bytes, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 4, uint32_t{0xfffffff0});
  }
  SECTION("a segment past the end of the file") {
    Elf64_Phdr segment;
    memcpy(&segment, bytes.data() + sizeof(Elf64_Ehdr), sizeof segment);
    segment.p_offset = ~uint64_t{0} - 8;
    put(&bytes, sizeof(Elf64_Ehdr), segment);
  }
  SECTION("section headers past the end of the file") {
    Elf64_Ehdr header;
    memcpy(&header, bytes.data(), sizeof header);
    header.e_shoff = ~uint64_t{0} - 16;
    header.e_shentsize = sizeof(Elf64_Shdr);
    header.e_shnum = 0;  // the count would be read from section 0
    header.e_phnum = 0;
    put(&bytes, 0, header);
  }
  TempFile file(bytes);
  CHECK(read_build_id(file.path()).empty());
  CHECK(build_id_from_image(bytes.data(), bytes.size()).empty());
}

}  // namespace
}  // namespace profpre
