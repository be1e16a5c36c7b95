// A sample's stack as named frames. Every Location expands to its Lines,
// innermost inlined function first, so that inlined functions count as
// frames of their own (as pprof shows them). A Location without Lines (an
// address nobody symbolized) becomes one frame named by its offset in the
// mapped file, "0x1a2b", so that it still has a stable name.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "encoder/profile.h"

namespace profpre {

struct Frame {
  std::string name;     // function name (demangled when the producer did so)
  std::string library;  // basename of the mapped file; "" without a mapping

  bool operator==(const Frame& other) const = default;
};

// Resolves the samples of one profile; the profile must outlive it.
class StackResolver {
 public:
  explicit StackResolver(const Profile& profile);

  // The frames of `sample`, leaf first.
  std::vector<Frame> frames(const Sample& sample) const;

 private:
  std::unordered_map<uint64_t, std::vector<Frame>> by_location_;
};

// A key that keeps frames of the same name in different libraries apart.
std::string frame_key(const Frame& frame);

}  // namespace profpre
