// Address -> source frames for the running process, with elfutils libdw.
//
// One Symbolizer per profile build: it reports every module of this process
// to libdwfl once, so each library's ELF and DWARF is opened once, and caches
// nothing else (callers symbolize each distinct address once).
// Runs only on the background thread: may allocate, never call from a handler.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace profpre {

// One function activation at an address: a physical function or one inlined
// into it.
struct SourceFrame {
  std::string name;         // demangled; falls back to system_name
  std::string system_name;  // linkage (mangled) name, or name when there is none
  std::string file;         // source file of the function's declaration
  int64_t start_line = 0;   // DW_AT_decl_line of the function
  int64_t line = 0;         // line executing in this frame (0: unknown)
};

struct Symbolization {
  // Innermost inlined callee first, the physical function last. Empty when
  // the address is in no known module or no symbol covers it.
  std::vector<SourceFrame> frames;
  // True when function, file and line were all found for every frame: the
  // condition for Mapping.has_functions.
  bool complete = false;
};

// Anything that turns an adjusted address into source frames: a Symbolizer,
// or a SymbolCache in front of one.
class SymbolSource {
 public:
  virtual ~SymbolSource() = default;
  // `address` is already adjusted: the exact PC for a leaf, return address -
  // 1 for a caller.
  virtual Symbolization symbolize(uint64_t address) = 0;
};

class Symbolizer : public SymbolSource {
 public:
  Symbolizer();  // reports the modules of /proc/self/maps
  ~Symbolizer() override;
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Adds a module that is no longer mapped (unloaded by dlclose) so that
  // addresses recorded while it was loaded still resolve. load_bias is the
  // dlpi_addr the dynamic loader gave it.
  void add_unloaded_module(const std::string& path, uint64_t load_bias);

  Symbolization symbolize(uint64_t address) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace profpre
