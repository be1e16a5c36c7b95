// A tree of three levels of Width distinct functions, for workloads that
// need many stacks from a known set of functions (bw_stacks, bw_service).
// Each function is a template instance with code of its own; a walk goes
// down one random path and burns one unit of work in its leaf, so Width^3
// stacks are possible.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "scripts/bench/workload.h"

namespace bw {

template <int Width>
struct StackTree {
  static constexpr int kLevels = 3;
  using NodeFn = int64_t (*)(uint64_t path);

  // noipa: every instance stays a real frame with code of its own (no
  // inlining, cloning or identical-code folding), so each adds distinct
  // addresses.
  template <int Level, int Index>
  __attribute__((noipa)) static int64_t node(uint64_t path) {
    g_sink = g_sink + Level * 1000 + Index;
    if constexpr (Level + 1 == kLevels) {
      work_unit();
      return 1;
    } else {
      int64_t units = level<Level + 1>[path % Width](path / Width);
      g_sink = g_sink + Index;  // after the call: not a tail call
      return units;
    }
  }

  template <int Level, size_t... Index>
  static constexpr std::array<NodeFn, Width> make_level(std::index_sequence<Index...>) {
    return {&node<Level, static_cast<int>(Index)>...};
  }

  template <int Level>
  static constexpr std::array<NodeFn, Width> level =
      make_level<Level>(std::make_index_sequence<Width>{});

  // Walks random paths (xorshift from `seed`) until the calling thread has
  // used `budget_ns` of CPU.
  __attribute__((always_inline)) static Burned walk(int64_t budget_ns, uint64_t seed) {
    Burned done;
    int64_t start = thread_cpu_ns();
    uint64_t state = seed;
    while (done.cpu_ns < budget_ns) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      done.units += level<0>[state % Width](state / Width);
      done.cpu_ns = thread_cpu_ns() - start;
    }
    return done;
  }
};

// One thread's share of a walk: its budget, its own seed (so that threads
// take different paths) and what it burned.
struct WalkJob {
  int64_t budget_ns = 0;
  uint64_t seed = 0;
  Burned done;

  static WalkJob for_thread(int64_t budget_ns, int index) {
    return WalkJob{budget_ns, 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(index + 1), {}};
  }
};

}  // namespace bw
