// The address cache in front of the Symbolizer (see symbol_cache.h).
#include "symbolize/symbol_cache.h"

#include <algorithm>
#include <unordered_set>

namespace profpre {

SymbolCache::~SymbolCache() = default;

uint32_t SymbolCache::module_id(const MapEntry& e) {
  // The load address (start - offset) tells two mappings of one file apart.
  std::string key = e.path + '\n' + std::to_string(e.inode) + '\n' +
                    std::to_string(e.start - e.offset);
  auto [it, inserted] = module_ids_.try_emplace(key, static_cast<uint32_t>(module_keys_.size()));
  if (inserted) module_keys_.push_back(std::move(key));
  return it->second;
}

uint32_t SymbolCache::module_at(uint64_t address) const {
  auto it = std::upper_bound(modules_.begin(), modules_.end(), address,
                             [](uint64_t a, const Module& m) { return a < m.start; });
  if (it == modules_.begin()) return 0;
  --it;
  return address < it->limit ? it->id : 0;
}

void SymbolCache::begin(const std::vector<MapEntry>& maps, std::vector<UnloadedSource> unloaded) {
  modules_.clear();
  for (const MapEntry& e : maps) {
    if (!e.executable()) continue;
    modules_.push_back({e.start, e.limit, module_id(e)});
  }
  std::sort(modules_.begin(), modules_.end(),
            [](const Module& a, const Module& b) { return a.start < b.start; });
  std::unordered_set<uint32_t> present;
  std::vector<uint32_t> ids;
  for (const Module& m : modules_) {
    if (present.insert(m.id).second) ids.push_back(m.id);
  }
  std::erase_if(entries_, [&](const auto& item) { return !present.contains(item.second.module); });
  // A Symbolizer kept from an earlier build knows the modules of then.
  std::sort(ids.begin(), ids.end());
  if (ids != symbolizer_modules_) symbolizer_.reset();
  symbolizer_modules_ = std::move(ids);
  unloaded_ = std::move(unloaded);
}

Symbolization SymbolCache::symbolize(uint64_t address) {
  uint32_t module = module_at(address);
  auto it = entries_.find(address);
  if (it != entries_.end() && it->second.module == module) {
    ++hits_;
    return it->second.symbolization;
  }
  ++misses_;
  if (symbolizer_ == nullptr) {
    symbolizer_ = std::make_unique<Symbolizer>();
    for (const UnloadedSource& u : unloaded_) symbolizer_->add_unloaded_module(u.path, u.load_bias);
  }
  Symbolization result = symbolizer_->symbolize(address);
  entries_[address] = Entry{module, result};
  return result;
}

void SymbolCache::end(bool keep_open) {
  if (!keep_open) symbolizer_.reset();
}

}  // namespace profpre
