// Finds the GNU build ID note (owner "GNU", type NT_GNU_BUILD_ID) of an ELF
// object. A file is searched through its SHT_NOTE sections, then through its
// PT_NOTE segments, which is where the note still is when section headers
// were stripped. An image in memory (the vDSO) is searched through its
// PT_NOTE segments only, with file offsets taken relative to the image start:
// that holds for the vDSO, which the kernel maps whole from offset 0.
//
// Only 64-bit little-endian objects are read, the only kind an x86-64 process
// maps; anything else yields "". Every offset and size comes from the file
// and is checked against the file (or image) size before it is used; a note
// region larger than kMaxNoteRegion and a descriptor larger than kMaxDescSize
// are skipped as corrupt.

#include "symbolize/build_id.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

namespace profpre {
namespace {

constexpr uint64_t kMaxNoteRegion = uint64_t{1} << 20;
constexpr uint32_t kMaxDescSize = 256;

// Bytes of an ELF object, read by offset with bounds checks.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // Copies [offset, offset + length) into out; false when out of range or
  // unreadable.
  virtual bool read(uint64_t offset, uint64_t length, void* out) const = 0;

 protected:
  bool in_range(uint64_t offset, uint64_t length) const {
    return offset <= size() && length <= size() - offset;
  }
};

class FileSource : public Source {
 public:
  FileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const override { return size_; }

  bool read(uint64_t offset, uint64_t length, void* out) const override {
    if (!in_range(offset, length)) return false;
    auto* bytes = static_cast<char*>(out);
    while (length > 0) {
      ssize_t n = pread(fd_, bytes, length, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes += n;
      offset += static_cast<uint64_t>(n);
      length -= static_cast<uint64_t>(n);
    }
    return true;
  }

 private:
  int fd_;
  uint64_t size_;
};

class ImageSource : public Source {
 public:
  ImageSource(const void* image, uint64_t size)
      : image_(static_cast<const char*>(image)), size_(size) {}
  uint64_t size() const override { return size_; }

  bool read(uint64_t offset, uint64_t length, void* out) const override {
    if (!in_range(offset, length)) return false;
    memcpy(out, image_ + offset, length);
    return true;
  }

 private:
  const char* image_;
  uint64_t size_;
};

std::string to_hex(const unsigned char* bytes, size_t length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (size_t i = 0; i < length; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 0xf];
  }
  return hex;
}

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

// Walks the notes of one region. Fields are padded to 4 bytes, or to 8 in a
// region aligned to 8 (such as .note.gnu.property), as binutils lays them out.
std::string build_id_in_notes(const std::vector<unsigned char>& notes, uint64_t alignment) {
  alignment = alignment == 8 ? 8 : 4;
  uint64_t offset = 0;
  while (notes.size() - offset >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr header;
    memcpy(&header, notes.data() + offset, sizeof header);
    uint64_t name = offset + sizeof header;
    uint64_t desc = name + align_up(header.n_namesz, alignment);
    uint64_t next = desc + align_up(header.n_descsz, alignment);
    // Sizes are 32-bit, so these sums cannot wrap.
    if (desc > notes.size() || header.n_descsz > notes.size() - desc) break;

    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        memcmp(notes.data() + name, "GNU", 4) == 0 && header.n_descsz > 0 &&
        header.n_descsz <= kMaxDescSize) {
      return to_hex(notes.data() + desc, header.n_descsz);
    }
    if (next <= offset || next > notes.size()) break;
    offset = next;
  }
  return "";
}

std::string build_id_in_region(const Source& source, uint64_t offset, uint64_t size,
                               uint64_t alignment) {
  if (size < sizeof(Elf64_Nhdr) || size > kMaxNoteRegion) return "";
  std::vector<unsigned char> notes(size);
  if (!source.read(offset, size, notes.data())) return "";
  return build_id_in_notes(notes, alignment);
}

bool read_header(const Source& source, Elf64_Ehdr* header) {
  if (!source.read(0, sizeof *header, header)) return false;
  return memcmp(header->e_ident, ELFMAG, SELFMAG) == 0 && header->e_ident[EI_CLASS] == ELFCLASS64 &&
         header->e_ident[EI_DATA] == ELFDATA2LSB;
}

// The section count, which ELF moves into section 0 when it overflows.
uint64_t section_count(const Source& source, const Elf64_Ehdr& header) {
  if (header.e_shnum != 0) return header.e_shnum;
  Elf64_Shdr first;
  if (!source.read(header.e_shoff, sizeof first, &first)) return 0;
  return first.sh_size;
}

std::string build_id_in_sections(const Source& source, const Elf64_Ehdr& header) {
  if (header.e_shoff == 0 || header.e_shoff > source.size() ||
      header.e_shentsize != sizeof(Elf64_Shdr)) {
    return "";
  }
  uint64_t count = section_count(source, header);
  if (count > (source.size() - header.e_shoff) / sizeof(Elf64_Shdr)) return "";
  for (uint64_t i = 0; i < count; ++i) {
    Elf64_Shdr section;
    if (!source.read(header.e_shoff + i * sizeof section, sizeof section, &section)) {
      return "";
    }
    if (section.sh_type != SHT_NOTE) continue;
    std::string id =
        build_id_in_region(source, section.sh_offset, section.sh_size, section.sh_addralign);
    if (!id.empty()) return id;
  }
  return "";
}

std::string build_id_in_segments(const Source& source, const Elf64_Ehdr& header) {
  if (header.e_phoff == 0 || header.e_phoff > source.size() ||
      header.e_phentsize != sizeof(Elf64_Phdr)) {
    return "";
  }
  for (uint64_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    if (!source.read(header.e_phoff + i * sizeof segment, sizeof segment, &segment)) {
      return "";
    }
    if (segment.p_type != PT_NOTE) continue;
    std::string id =
        build_id_in_region(source, segment.p_offset, segment.p_filesz, segment.p_align);
    if (!id.empty()) return id;
  }
  return "";
}

std::string build_id_of_file(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return "";
  FileSource source(fd, static_cast<uint64_t>(st.st_size));
  Elf64_Ehdr header;
  if (!read_header(source, &header)) return "";
  std::string id = build_id_in_sections(source, header);
  return id.empty() ? build_id_in_segments(source, header) : id;
}

}  // namespace

std::string read_build_id(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string id;
  try {
    id = build_id_of_file(fd);
  } catch (const std::exception&) {
    id.clear();
  }
  close(fd);
  return id;
}

std::string build_id_from_image(const void* image, size_t size) {
  if (image == nullptr) return "";
  try {
    ImageSource source(image, size);
    Elf64_Ehdr header;
    if (!read_header(source, &header)) return "";
    return build_id_in_segments(source, header);
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace profpre
