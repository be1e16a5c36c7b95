// What each address resolved to, kept from one profile build to the next.
//
// A service profiled every interval sees the same hot addresses in every
// window; symbolizing them again would cost each window what the first one
// cost. The cache answers an address it has seen when the module mapped
// there is still the same one (same file, inode and load address); an
// address in a module that was unloaded, or replaced by another at that
// address, is symbolized afresh. The Symbolizer behind it, which holds a
// descriptor per module and what libdw has read, is opened only for a build
// that meets a new address; it is kept for the next build when the caller
// can afford its descriptors, until the set of mapped modules changes.
// Runs only on the background threads: may allocate, never call from a handler.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "symbolize/maps.h"
#include "symbolize/symbolizer.h"

namespace profpre {

// A module unloaded by dlclose that a build must still resolve.
struct UnloadedSource {
  std::string path;
  uint64_t load_bias = 0;
};

class SymbolCache : public SymbolSource {
 public:
  SymbolCache() = default;
  ~SymbolCache() override;
  SymbolCache(const SymbolCache&) = delete;
  SymbolCache& operator=(const SymbolCache&) = delete;

  // Starts a build against `maps` (every line of /proc/self/maps, plus the
  // segments of unloaded modules) and the unloaded modules themselves.
  // Forgets entries whose module is no longer mapped.
  void begin(const std::vector<MapEntry>& maps, std::vector<UnloadedSource> unloaded);

  // A cached answer, or the Symbolizer's (opened on first need).
  Symbolization symbolize(uint64_t address) override;

  // Ends the build; closes the Symbolizer and its descriptors unless
  // `keep_open`.
  void end(bool keep_open = false);

  size_t size() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Module {
    uint64_t start = 0;
    uint64_t limit = 0;
    uint32_t id = 0;  // index into module_keys_
  };
  struct Entry {
    uint32_t module = 0;
    Symbolization symbolization;
  };

  uint32_t module_id(const MapEntry& e);
  // The id of the module mapped at `address` in this build, or 0 for none.
  uint32_t module_at(uint64_t address) const;

  std::vector<std::string> module_keys_{std::string()};  // id 0: no module
  std::unordered_map<std::string, uint32_t> module_ids_;
  std::vector<Module> modules_;  // this build's executable segments, by address
  std::vector<uint32_t> symbolizer_modules_;  // the module ids the Symbolizer was opened with
  std::unordered_map<uint64_t, Entry> entries_;
  std::vector<UnloadedSource> unloaded_;
  std::unique_ptr<Symbolizer> symbolizer_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace profpre
