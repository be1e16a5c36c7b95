// Building the flame graph's call tree.

#include "scripts/profpre/flame_tree.h"

namespace profpre {

FlameTree::FlameTree() { nodes_.push_back({.frame = {"all", ""}, .kind = FrameKind::kRoot}); }

uint32_t FlameTree::child(uint32_t parent, const Frame& frame, FrameKind kind) {
  std::string key = frame_key(frame);
  auto found = nodes_[parent].children.find(key);
  if (found != nodes_[parent].children.end()) return found->second;
  uint32_t index = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back({.frame = frame, .kind = kind});  // may move nodes_: index again below
  nodes_[parent].children.emplace(std::move(key), index);
  return index;
}

void FlameTree::add(const std::string& process, const std::vector<Frame>& frames, int64_t value) {
  if (value <= 0) return;
  nodes_[0].value += value;
  uint32_t at = child(0, {process, ""}, FrameKind::kProcess);
  nodes_[at].value += value;
  for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {
    at = child(at, *frame, FrameKind::kFunction);
    nodes_[at].value += value;
  }
}

void FlameTree::add_profile(const LoadedProfile& loaded) {
  StackResolver resolver(loaded.profile);
  for (const Sample& sample : loaded.profile.samples) {
    add(loaded.process_name, resolver.frames(sample), sample.values[loaded.value_index]);
  }
}

}  // namespace profpre
