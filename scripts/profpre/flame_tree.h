// The call tree a flame graph draws: stacks from many profiles merged, root
// first, under one root frame ("all") and one frame per process name, so
// that all cc1 processes of a build share one tower.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scripts/profpre/profile_set.h"
#include "scripts/profpre/stacks.h"

namespace profpre {

enum class FrameKind { kRoot, kProcess, kFunction };

struct FlameNode {
  Frame frame;
  FrameKind kind = FrameKind::kFunction;
  int64_t value = 0;                         // this frame and everything above it
  std::map<std::string, uint32_t> children;  // by frame_key: sorted, so output is stable
};

class FlameTree {
 public:
  FlameTree();

  // Adds one sample: `frames` leaf first, as StackResolver gives them.
  // Values of zero or less are left out: a flame graph cannot draw them.
  void add(const std::string& process, const std::vector<Frame>& frames, int64_t value);

  void add_profile(const LoadedProfile& loaded);

  const FlameNode& node(uint32_t index) const { return nodes_[index]; }
  const FlameNode& root() const { return nodes_[0]; }
  size_t size() const { return nodes_.size(); }

 private:
  uint32_t child(uint32_t parent, const Frame& frame, FrameKind kind);

  std::vector<FlameNode> nodes_;
};

}  // namespace profpre
