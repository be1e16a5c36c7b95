// The collector thread: drains rings, aggregates stacks, reaps exited threads.
//
// Protocol with the handlers (see thread_slots.h): a handler publishes a
// record by a release store of its ring's head; the collector reads head with
// acquire, copies the records out, and gives the space back by a release
// store of tail. A slot's state moves to kExited only after its thread will
// write no more, so a drain after reading kExited is the last one.
#include "core/collector.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <climits>
#include <cstdint>
#include <random>
#include <unordered_map>

#include "core/handler.h"
#include "core/timers.h"

namespace profpre {

namespace {

constexpr int64_t kPassInterval_ns = 100 * 1000 * 1000;
constexpr int kPassesPerReap = 10;
constinit std::atomic<pid_t> g_collector_tid{0};

// Handlers set this to 1 and wake the futex; the collector resets it.
constinit std::atomic<uint32_t> g_wake{0};
// 0 running, 1 finish requested, 2 finished.
constinit std::atomic<uint32_t> g_phase{0};
constinit FinishFn g_finish_fn = nullptr;
constinit void* g_finish_context = nullptr;
constinit bool g_started = false;
constinit thread_local bool t_is_collector = false;

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

// Reads /proc/self/task/TID/comm without stdio.
std::string read_thread_name(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return {};
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0')) --n;
  return std::string(buf, static_cast<size_t>(n));
}

bool thread_is_gone(pid_t tid) {
  return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

// The aggregate: one entry per distinct (tid, stack), in first-seen order.
class Aggregate {
 public:
  // Adds to the entry of (tid, pcs) and returns its index.
  size_t add(pid_t tid, const uint64_t* pcs, uint32_t depth, int64_t count, int64_t weight) {
    key_.assign(reinterpret_cast<const char*>(&tid), sizeof tid);
    key_.append(reinterpret_cast<const char*>(pcs), depth * sizeof(uint64_t));
    auto [it, inserted] = index_.try_emplace(key_, stacks_.size());
    if (inserted) stacks_.push_back(AggregatedStack{tid, {pcs, pcs + depth}, 0, 0});
    stacks_[it->second].count += count;
    stacks_[it->second].weight += weight;
    return it->second;
  }

  void add_weight(size_t index, int64_t weight) { stacks_[index].weight += weight; }
  const std::vector<uint64_t>& pcs_of(size_t index) const { return stacks_[index].pcs; }
  int64_t weight_of(size_t index) const { return stacks_[index].weight; }

  std::vector<AggregatedStack> take() {
    index_.clear();
    std::vector<AggregatedStack> taken = std::move(stacks_);
    stacks_.clear();
    return taken;
  }

  size_t approximate_bytes() const {
    size_t bytes = stacks_.capacity() * sizeof(AggregatedStack);
    for (const auto& s : stacks_) bytes += s.pcs.capacity() * sizeof(uint64_t);
    return bytes + index_.size() * (key_.capacity() + 64);
  }

 private:
  std::string key_;  // reused across calls
  std::unordered_map<std::string, size_t> index_;
  std::vector<AggregatedStack> stacks_;
};

struct CollectorState {
  Aggregate aggregate;
  CollectorStats stats;
  std::unordered_map<pid_t, std::string> names;
  // Each thread's most recent stack, where its owed periods are shown.
  std::unordered_map<pid_t, size_t> last_stack;
  // The stacks sampled in threads started at each routine, and the owed
  // periods of such threads that ended before a sample of their own; these
  // are placed at the snapshot, when the most siblings have been seen.
  std::unordered_map<uint64_t, std::vector<size_t>> sibling_stacks;
  struct Owed {
    pid_t tid;
    uint64_t start_pc;
    int64_t periods;
  };
  std::vector<Owed> unplaced;
  std::minstd_rand random{0x5eed};
  std::vector<uint64_t> scratch = std::vector<uint64_t>(kMaxRecordWords);
  int passes = 0;
};

constinit CollectorState* g_state = nullptr;

// CPU the kernel never signalled (core/accounting.h) is shown at the
// thread's last sampled stack. A thread that ended before any sample of its
// own waits for place_unsampled.
void settle_owed(ThreadSlot* slot, CollectorState& st) {
  auto owed = static_cast<int64_t>(slot->owed_periods.exchange(0, std::memory_order_acq_rel));
  if (owed == 0) return;
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  auto last = st.last_stack.find(tid);
  if (last != st.last_stack.end()) {
    st.aggregate.add_weight(last->second, owed);
    return;
  }
  st.unplaced.push_back({tid, slot->start_pc.load(std::memory_order_relaxed), owed});
}

// Threads started at one routine do alike (a swarm): each that ended before
// a sample of its own is shown, under its own tid, at the first stack of a
// sibling drawn with probability proportional to that sibling's CPU, which
// keeps the expected CPU of every stack right. With no sampled sibling, its
// start routine; with no start routine either, a pseudo-frame.
void place_unsampled(CollectorState& st) {
  for (const CollectorState::Owed& owed : st.unplaced) {
    auto siblings = st.sibling_stacks.find(owed.start_pc);
    if (owed.start_pc == 0 || siblings == st.sibling_stacks.end()) {
      uint64_t pc = owed.start_pc != 0 ? owed.start_pc : kPcNeverSampled;
      st.aggregate.add(owed.tid, &pc, 1, 0, owed.periods);
      continue;
    }
    int64_t total = 0;
    for (size_t i : siblings->second) total += st.aggregate.weight_of(i);
    int64_t draw = static_cast<int64_t>(st.random() % static_cast<uint64_t>(total));
    size_t chosen = siblings->second.back();
    for (size_t i : siblings->second) {
      draw -= st.aggregate.weight_of(i);
      if (draw < 0) {
        chosen = i;
        break;
      }
    }
    std::vector<uint64_t> pcs = st.aggregate.pcs_of(chosen);
    st.aggregate.add(owed.tid, pcs.data(), static_cast<uint32_t>(pcs.size()), 0, owed.periods);
  }
  st.unplaced.clear();
}

void harvest_counters(ThreadSlot* slot, CollectorState& st) {
  SlotCounters& c = slot->counters;
  st.stats.samples += c.samples.exchange(0, std::memory_order_relaxed);
  uint64_t lost = c.lost_samples.exchange(0, std::memory_order_relaxed);
  uint64_t lost_weight = c.lost_weight.exchange(0, std::memory_order_relaxed);
  st.stats.lost_samples += lost;
  st.stats.overruns += c.overruns.exchange(0, std::memory_order_relaxed);
  st.stats.unwind_failures += c.unwind_failures.exchange(0, std::memory_order_relaxed);
  st.stats.truncated += c.truncated.exchange(0, std::memory_order_relaxed);
  st.stats.handler_ns += c.handler_ns.exchange(0, std::memory_order_relaxed);
  for (int b = 0; b < kLatencyBuckets; ++b) {
    st.stats.latency[b] += c.latency[b].exchange(0, std::memory_order_relaxed);
  }
  settle_owed(slot, st);
  if (lost > 0) {
    pid_t tid = slot->tid.load(std::memory_order_relaxed);
    st.aggregate.add(tid, &kPcLostBufferFull, 1, static_cast<int64_t>(lost),
                     static_cast<int64_t>(lost_weight));
  }
}

void drain_ring(ThreadSlot* slot, CollectorState& st) {
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  uint64_t start = slot->start_pc.load(std::memory_order_relaxed);
  uint64_t head = slot->head.load(std::memory_order_acquire);
  uint64_t tail = slot->tail.load(std::memory_order_relaxed);
  while (tail < head) {
    uint64_t header = slot->ring[tail % kRingWords];
    uint32_t depth = record_depth(header);
    for (uint32_t i = 0; i < depth; ++i) st.scratch[i] = slot->ring[(tail + 1 + i) % kRingWords];
    size_t index = st.aggregate.add(tid, st.scratch.data(), depth, 1, record_weight(header));
    auto [last, first_sample] = st.last_stack.insert_or_assign(tid, index);
    (void)last;
    if (start != 0 && first_sample) st.sibling_stacks[start].push_back(index);
    tail += 1 + depth;
  }
  slot->tail.store(tail, std::memory_order_release);
}

// A live thread's name, read at the final pass only: during the run we open
// no file, since a descriptor of ours would take a number the program's
// next open(2) expects.
void remember_name(ThreadSlot* slot, CollectorState& st, bool final_pass) {
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  if (tid == 0 || !final_pass) return;
  std::string name = read_thread_name(tid);
  if (name.empty()) name = slot->name;  // gone already: the name taken earlier
  if (!name.empty()) st.names[tid] = name;
}

// Moves a slot whose thread has ended without our exit hook to kExited.
void reap_if_gone(ThreadSlot* slot) {
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  if (tid == 0 || !thread_is_gone(tid)) return;
  timer_disarm(slot->timer_id.exchange(-1, std::memory_order_acq_rel));
  slot_mark_exited(slot);
}

void pass(CollectorState& st, bool final_pass) {
  bool reap = ++st.passes % kPassesPerReap == 0;
  slot_for_each([&](ThreadSlot* slot) {
    uint32_t state = slot->state.load(std::memory_order_acquire);
    if (state == kFree) return;
    if (state == kActive && reap) reap_if_gone(slot);
    state = slot->state.load(std::memory_order_acquire);
    if (state == kExited && slot->name[0] != '\0') {
      st.names[slot->tid.load(std::memory_order_relaxed)] = slot->name;
    } else {
      remember_name(slot, st, final_pass);
    }
    drain_ring(slot, st);
    harvest_counters(slot, st);
    if (state == kExited) slot_release(slot);
  });


  uint64_t bytes = static_cast<uint64_t>(g_slot_chunk_count.load()) * kSlotsPerChunk *
                       sizeof(ThreadSlot) +
                   st.aggregate.approximate_bytes();
  if (bytes > st.stats.peak_buffer_bytes) st.stats.peak_buffer_bytes = bytes;
  slot_pool_reserve();
}

Snapshot take_snapshot(CollectorState& st) {
  place_unsampled(st);
  Snapshot snapshot;
  snapshot.stacks = st.aggregate.take();
  st.last_stack.clear();
  st.sibling_stacks.clear();
  snapshot.stats = st.stats;
  snapshot.stats.threads = st.names.size();
  for (const auto& [tid, name] : st.names) snapshot.thread_names.emplace_back(tid, name);
  return snapshot;
}

void* collector_main(void*) {
  prctl(PR_SET_NAME, "profpre", 0, 0, 0);
  t_is_collector = true;
  g_collector_tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
  CollectorState& st = *g_state;
  timespec interval{0, kPassInterval_ns};
  while (g_phase.load(std::memory_order_acquire) == 0) {
    if (g_wake.load(std::memory_order_acquire) == 0) {
      futex(&g_wake, FUTEX_WAIT_PRIVATE, 0, &interval);
    }
    g_wake.store(0, std::memory_order_release);
    pass(st, false);
  }

  pass(st, true);
  Snapshot snapshot = take_snapshot(st);
  g_finish_fn(snapshot, g_finish_context);
  g_phase.store(2, std::memory_order_release);
  futex(&g_phase, FUTEX_WAKE_PRIVATE, 1 << 30, nullptr);
  return nullptr;
}

}  // namespace

bool collector_start(CreateThreadFn create) {
  if (g_state == nullptr) g_state = new CollectorState();
  g_phase.store(0, std::memory_order_release);

  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pthread_t thread;
  int rc = create(&thread, nullptr, collector_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (rc != 0) return false;
  pthread_detach(thread);
  g_started = true;
  return true;
}

void collector_wake() {
  if (g_wake.exchange(1, std::memory_order_acq_rel) == 0) {
    futex(&g_wake, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
}

bool collector_finish(FinishFn finish, void* context, int timeout_ms) {
  if (!g_started || on_collector_thread()) return false;
  g_finish_fn = finish;
  g_finish_context = context;
  g_phase.store(1, std::memory_order_release);
  collector_wake();
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : monotonic_ms() + timeout_ms;
  while (g_phase.load(std::memory_order_acquire) != 2) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return false;
    timespec wait{left / 1000, (left % 1000) * 1000000};
    futex(&g_phase, FUTEX_WAIT_PRIVATE, 1, timeout_ms < 0 ? nullptr : &wait);
  }
  g_started = false;
  return true;
}

bool on_collector_thread() { return t_is_collector; }

pid_t collector_tid() { return g_collector_tid.load(std::memory_order_acquire); }

void collector_forget_after_fork() {
  // The copy of the parent's aggregate belongs to the parent's profile.
  delete g_state;
  g_state = nullptr;
  g_started = false;
  g_wake.store(0);
  g_phase.store(0);
}

}  // namespace profpre
