// Turns addresses of this process into source frames with elfutils' libdwfl.
// The modules come from /proc/self/maps (dwfl_linux_proc_report), plus any
// unloaded module the caller adds back by path and load bias.
//
// For an address we find its subprogram through an index of its unit's
// functions built once per unit, descend that function's own tree to the
// innermost inlined subroutine holding the address, and emit one frame per
// inlined subroutine, ending at the physical subprogram. The innermost frame's line comes from the line
// table; each outer frame's line is the call site (DW_AT_call_line) of the
// inlined subroutine just inside it. Without DWARF for the address we fall
// back to the ELF symbol table: a name only, so the result is incomplete.
// Code written in assembly gets the symbol's name with the line table's file
// and line when its unit has a line table.
//
// Limits: an address in a function with neither DWARF nor an ELF symbol
// covering it yields no frame. Separate debug files are looked up locally
// only (see find_debuginfo_locally); a module whose debug file is elsewhere
// is symbolized from its symbol table, which for a stripped Debian library is
// .dynsym: exported functions only.

#include "symbolize/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <utility>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "symbolize/build_id.h"

namespace profpre {
namespace {

// The debug root of Debian (and of elfutils' default debuginfo path).
constexpr const char* kDebugRoot = "/usr/lib/debug";

// Local debug-file lookup.

std::string module_build_id(Dwfl_Module* mod) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int length = dwfl_module_build_id(mod, &bits, &vaddr);
  if (length <= 0) return "";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < length; ++i) {
    hex += kDigits[bits[i] >> 4];
    hex += kDigits[bits[i] & 0xf];
  }
  return hex;
}

// The .gnu_debuglink checksum is the CRC-32 of zlib over the whole file.
bool crc_matches(int fd, uint32_t expected) {
  unsigned char buffer[65536];
  uLong crc = crc32(0, nullptr, 0);
  off_t offset = 0;
  for (;;) {
    ssize_t n = pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return crc == expected;
    crc = crc32(crc, buffer, static_cast<uInt>(n));
    offset += n;
  }
}

// Opens `candidate` when it is a debug file for the module: not the module's
// own file, and with the module's build ID, or else the debuglink CRC.
int open_if_matching(const std::string& candidate, const struct stat& main_file,
                     const std::string& build_id, uint32_t crc) {
  int fd = open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  bool matches = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 !(st.st_dev == main_file.st_dev && st.st_ino == main_file.st_ino);
  if (matches && !build_id.empty()) {
    matches = read_build_id(candidate) == build_id;
  } else if (matches && crc != 0) {
    matches = crc_matches(fd, crc);
  }
  if (matches) return fd;
  close(fd);
  return -1;
}

// Where gdb and elfutils look for a debug file named by .gnu_debuglink (or,
// without one, "<basename>.debug"), and the mirrored path under kDebugRoot.
std::vector<std::string> debuglink_candidates(const std::string& path, const char* debuglink) {
  size_t slash = path.rfind('/');
  std::string dir = path.substr(0, slash);
  std::string link = debuglink != nullptr ? debuglink : path.substr(slash + 1) + ".debug";
  if (link.front() == '/') return {link};
  return {
      dir + "/" + link,
      dir + "/.debug/" + link,
      kDebugRoot + dir + "/" + link,
      kDebugRoot + path,
  };
}

int find_by_debuglink(Dwfl_Module* mod, const char* file_name, const char* debuglink, GElf_Word crc,
                      char** debuginfo_file_name) {
  if (file_name == nullptr || file_name[0] != '/') return -1;
  if (debuglink != nullptr && debuglink[0] == '\0') return -1;
  struct stat main_file = {};
  if (stat(file_name, &main_file) != 0) main_file = {};
  std::string build_id = module_build_id(mod);

  for (const std::string& candidate : debuglink_candidates(file_name, debuglink)) {
    int fd = open_if_matching(candidate, main_file, build_id, crc);
    if (fd < 0) continue;
    char* name = strdup(candidate.c_str());
    if (name == nullptr) {
      close(fd);
      return -1;
    }
    free(*debuginfo_file_name);
    *debuginfo_file_name = name;
    return fd;
  }
  return -1;
}

// Our find_debuginfo callback: the lookups of dwfl_standard_find_debuginfo
// minus its last resort. In elfutils 0.188 that function, when the local
// search fails, asks debuginfod (dlopening libdebuginfod) whenever
// DEBUGINFOD_URLS is set in the environment, and the environment here is the
// profiled program's, which we may not change. So we never call it:
//  - dwfl_build_id_find_debuginfo does the /usr/lib/debug/.build-id/xx/...
//    lookup (and that of a dwz alternate file) and never reaches debuginfod;
//    in 0.188 only dwfl_standard_find_debuginfo and dwfl_build_id_find_elf do.
//  - the .gnu_debuglink search is static inside elfutils, so we do our own.
// Our find_elf callback, dwfl_linux_proc_find_elf, opens files by path or
// reads the vDSO from memory, with no debuginfod either.
int find_debuginfo_locally(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base,
                           const char* file_name, const char* debuglink, GElf_Word crc,
                           char** debuginfo_file_name) {
  int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink, crc,
                                        debuginfo_file_name);
  if (fd >= 0) return fd;
  try {
    return find_by_debuglink(mod, file_name, debuglink, crc, debuginfo_file_name);
  } catch (const std::exception&) {
    return -1;  // called from C: nothing may unwind through libdwfl
  }
}

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo_locally,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,  // elfutils' default, which holds kDebugRoot
};

// Frames from DWARF.

std::string demangle(const char* symbol) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(symbol, nullptr, nullptr, &status);
  if (demangled == nullptr) return symbol;
  std::string name = demangled;
  free(demangled);
  return name;
}

// A string attribute, looked up through DW_AT_abstract_origin and
// DW_AT_specification, where an inlined or out-of-class definition keeps it.
const char* string_attribute(Dwarf_Die* die, unsigned int name) {
  Dwarf_Attribute attribute;
  if (dwarf_attr_integrate(die, name, &attribute) == nullptr) return nullptr;
  return dwarf_formstring(&attribute);
}

// A file name from a line table, joined to its unit's DW_AT_comp_dir. libdw
// joins a DWARF 5 file of directory 0, the comp_dir itself, but leaves one
// of another directory relative to the comp_dir, as GCC writes it ("../x"
// for a source outside the build directory). Not normalized: the build
// directory may be a symbolic link. A relative comp_dir (Debian's prefix
// maps leave "./posix" in glibc) gives a path from the source tree's root.
std::string absolute_file(const char* file, Dwarf_Die* cu) {
  if (file[0] == '/' || cu == nullptr) return file;
  Dwarf_Attribute attribute;
  const char* dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attribute));
  if (dir == nullptr || dir[0] == '\0') return file;
  std::string prefix = dir;
  if (!prefix.ends_with('/')) prefix += '/';
  if (std::string_view(file).starts_with(prefix)) return file;  // already joined
  return prefix + file;
}

std::string declaration_file(Dwarf_Die* die) {
  const char* file = dwarf_decl_file(die);
  if (file == nullptr) return "";
  // The unit whose line table the name comes from: that of the DIE which
  // holds DW_AT_decl_file, perhaps an abstract origin in another unit.
  Dwarf_Attribute attribute;
  Dwarf_Die cu;
  if (dwarf_attr_integrate(die, DW_AT_decl_file, &attribute) == nullptr ||
      dwarf_cu_die(attribute.cu, &cu, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) ==
          nullptr) {
    return file;
  }
  return absolute_file(file, &cu);
}

SourceFrame describe_function(Dwarf_Die* die) {
  SourceFrame frame;
  const char* symbol = string_attribute(die, DW_AT_linkage_name);
  if (symbol == nullptr) symbol = string_attribute(die, DW_AT_MIPS_linkage_name);
  if (symbol == nullptr) symbol = string_attribute(die, DW_AT_name);
  if (symbol != nullptr) {
    frame.system_name = symbol;
    frame.name = demangle(symbol);
  }
  frame.file = declaration_file(die);
  int start_line = 0;
  if (dwarf_decl_line(die, &start_line) == 0) frame.start_line = start_line;
  return frame;
}

int64_t call_line(Dwarf_Die* inlined) {
  Dwarf_Attribute attribute;
  Dwarf_Word line = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attribute), &line) != 0) {
    return 0;
  }
  return static_cast<int64_t>(line);
}

class UnitIndex;
// Unit indexes by (module, unit offset), for the life of one Symbolizer.
using UnitIndexes = std::map<std::pair<void*, Dwarf_Off>, std::unique_ptr<UnitIndex>>;

// The line table's row for an address.
struct LineRow {
  int64_t line = 0;
  std::string file;
};

LineRow line_row(Dwarf_Die* cu, Dwarf_Addr pc) {
  LineRow result;
  Dwarf_Line* row = dwarf_getsrc_die(cu, pc);
  if (row == nullptr) return result;
  int line = 0;
  if (dwarf_lineno(row, &line) == 0) result.line = line;
  if (const char* file = dwarf_linesrc(row, nullptr, nullptr)) {
    result.file = absolute_file(file, cu);
  }
  return result;
}

// Every function with code in one compilation unit, by address: built once
// per unit, so that finding an address's function does not walk the whole
// unit (a C++ unit carries thousands of DIEs from its headers) each time.
class UnitIndex {
 public:
  explicit UnitIndex(Dwarf_Die* cu) {
    collect(cu);
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.low < b.low; });
  }

  // The subprogram whose code holds pc, or null.
  Dwarf_Die* function_at(Dwarf_Addr pc) {
    auto after = std::upper_bound(ranges_.begin(), ranges_.end(), pc,
                                  [](Dwarf_Addr p, const Range& r) { return p < r.low; });
    if (after == ranges_.begin()) return nullptr;
    Range& r = *(after - 1);
    return pc < r.high ? &r.die : nullptr;
  }

 private:
  struct Range {
    Dwarf_Addr low;
    Dwarf_Addr high;
    Dwarf_Die die;
  };

  // Functions are found at the unit's top level and inside the scopes that
  // only declare things; function bodies are not entered here.
  void collect(Dwarf_Die* parent) {
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0) return;
    do {
      switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram: add_ranges(&child); break;
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_module: collect(&child); break;
        default: break;
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }

  void add_ranges(Dwarf_Die* die) {
    Dwarf_Addr base = 0;
    Dwarf_Addr low = 0;
    Dwarf_Addr high = 0;
    for (ptrdiff_t offset = 0; (offset = dwarf_ranges(die, offset, &base, &low, &high)) > 0;) {
      ranges_.push_back({low, high, *die});
    }
  }

  std::vector<Range> ranges_;
};

bool has_code_attributes(Dwarf_Die* die) {
  return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges);
}

// Appends the inlined subroutines holding pc inside `scope`, outermost
// first. Lexical blocks are passed through; one without code of its own
// (no address attributes) is looked into as it stands.
void inline_path(Dwarf_Die* scope, Dwarf_Addr pc, std::vector<Dwarf_Die>* path) {
  Dwarf_Die child;
  if (dwarf_child(scope, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block &&
        tag != DW_TAG_try_block && tag != DW_TAG_catch_block) {
      continue;
    }
    bool coded = has_code_attributes(&child);
    if (coded && dwarf_haspc(&child, pc) <= 0) continue;
    if (!coded) {
      size_t before = path->size();
      inline_path(&child, pc, path);
      if (path->size() > before) return;
      continue;
    }
    if (tag == DW_TAG_inlined_subroutine) path->push_back(child);
    inline_path(&child, pc, path);
    return;
  } while (dwarf_siblingof(&child, &child) == 0);
}

// The frames DWARF gives for `address`, innermost first, and the line
// table's row for it.
std::vector<SourceFrame> dwarf_frames(Dwfl_Module* mod, Dwarf_Addr address, LineRow* row,
                                      UnitIndexes& indexes) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, address, &bias);
  if (cu == nullptr) return {};
  // DWARF holds addresses as linked; bias is where the module was loaded.
  Dwarf_Addr pc = address - bias;
  // libdw may hand back a neighbouring unit for code that has none (crt's
  // _start): its line table would then name a line of some other file.
  if (dwarf_haspc(cu, pc) <= 0) return {};
  *row = line_row(cu, pc);

  auto key = std::make_pair(static_cast<void*>(mod), dwarf_dieoffset(cu));
  auto found = indexes.find(key);
  if (found == indexes.end()) found = indexes.emplace(key, std::make_unique<UnitIndex>(cu)).first;
  Dwarf_Die* function = found->second->function_at(pc);
  if (function == nullptr) return {};

  std::vector<Dwarf_Die> path;
  inline_path(function, pc, &path);
  std::vector<SourceFrame> frames;
  int64_t line = row->line;
  for (auto inlined = path.rbegin(); inlined != path.rend(); ++inlined) {
    frames.push_back(describe_function(&*inlined));
    frames.back().line = line;
    line = call_line(&*inlined);
  }
  frames.push_back(describe_function(function));
  frames.back().line = line;
  return frames;
}

// Frames from the ELF symbol table.

std::string symbol_name(Dwfl_Module* mod, Dwarf_Addr address) {
  GElf_Off offset = 0;
  GElf_Sym symbol;
  const char* name =
      dwfl_module_addrinfo(mod, address, &offset, &symbol, nullptr, nullptr, nullptr);
  return name != nullptr ? name : "";
}

bool is_complete(const std::vector<SourceFrame>& frames) {
  if (frames.empty()) return false;
  for (const SourceFrame& frame : frames) {
    if (frame.name.empty() || frame.file.empty() || frame.line <= 0) return false;
  }
  return true;
}

Symbolization symbolize_in(Dwfl_Module* mod, Dwarf_Addr address, UnitIndexes& indexes) {
  Symbolization result;
  LineRow row;
  std::vector<SourceFrame>& frames = result.frames;
  frames = dwarf_frames(mod, address, &row, indexes);

  // No function DIE, or an unnamed one: the name from the symbol table.
  if (frames.empty() || frames.back().name.empty()) {
    std::string symbol = symbol_name(mod, address);
    if (symbol.empty()) return result;
    if (frames.empty()) frames.push_back(SourceFrame{.line = row.line});
    frames.back().system_name = symbol;
    frames.back().name = demangle(symbol.c_str());
  }
  // A function DIE without DW_AT_decl_file (the assembler writes those, as
  // for glibc's syscall wrappers), or none at all: the line table's file.
  if (frames.size() == 1 && frames[0].file.empty()) frames[0].file = row.file;

  result.complete = is_complete(frames);
  return result;
}

}  // namespace

struct Symbolizer::Impl {
  Dwfl* dwfl = nullptr;
  UnitIndexes indexes;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (dwfl != nullptr) dwfl_end(dwfl);
  }
};

Symbolizer::Symbolizer() {
  try {
    impl_ = std::make_unique<Impl>();
  } catch (const std::exception&) {
    return;  // every method then answers "unknown"
  }
  impl_->dwfl = dwfl_begin(&kCallbacks);
  if (impl_->dwfl == nullptr) return;
  // A failure part-way keeps the modules reported before it.
  dwfl_report_begin(impl_->dwfl);
  dwfl_linux_proc_report(impl_->dwfl, getpid());
  dwfl_report_end(impl_->dwfl, nullptr, nullptr);
}

Symbolizer::~Symbolizer() = default;

void Symbolizer::add_unloaded_module(const std::string& path, uint64_t load_bias) {
  if (impl_ == nullptr || impl_->dwfl == nullptr) return;
  dwfl_report_begin_add(impl_->dwfl);
  // add_p_vaddr false: load_bias is added to the file's addresses as is.
  dwfl_report_elf(impl_->dwfl, path.c_str(), path.c_str(), -1, load_bias, false);
  dwfl_report_end(impl_->dwfl, nullptr, nullptr);
}

Symbolization Symbolizer::symbolize(uint64_t address) {
  if (impl_ == nullptr || impl_->dwfl == nullptr) return {};
  try {
    Dwfl_Module* mod = dwfl_addrmodule(impl_->dwfl, address);
    if (mod == nullptr) return {};
    return symbolize_in(mod, address, impl_->indexes);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace profpre
