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

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <climits>
#include <cstdint>
#include <random>
#include <unordered_map>

#include "core/blocked_walk.h"
#include "core/handler.h"
#include "core/private_files.h"
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
constinit CollectorOptions g_options{};
// Set by collector_request_dump (a signal handler), reset by the collector.
constinit std::atomic<uint32_t> g_dump_requested{0};
constinit void* g_finish_context = nullptr;
constinit bool g_started = false;
constinit thread_local bool t_is_collector = false;

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
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
  size_t add(pid_t tid, const uint64_t* pcs, uint32_t depth, int64_t count, int64_t weight,
             uint8_t state = 0) {
    key_.assign(reinterpret_cast<const char*>(&tid), sizeof tid);
    key_.push_back(static_cast<char>(state));
    key_.append(reinterpret_cast<const char*>(pcs), depth * sizeof(uint64_t));
    auto [it, inserted] = index_.try_emplace(key_, stacks_.size());
    if (inserted) stacks_.push_back(AggregatedStack{tid, state, {pcs, pcs + depth}, 0, 0});
    stacks_[it->second].count += count;
    stacks_[it->second].weight += weight;
    return it->second;
  }

  void add_weight(size_t index, int64_t weight) { stacks_[index].weight += weight; }
  void add_count(size_t index, int64_t count) { stacks_[index].count += count; }
  uint8_t state_of(size_t index) const { return stacks_[index].state; }
  const std::vector<uint64_t>& pcs_of(size_t index) const { return stacks_[index].pcs; }
  int64_t weight_of(size_t index) const { return stacks_[index].weight; }

  std::vector<AggregatedStack> copy() const { return stacks_; }

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
  // Each thread's most recent stack, where its owed periods are shown: an
  // index into the aggregate, or, after a window was taken, the stack itself.
  std::unordered_map<pid_t, size_t> last_stack;
  std::unordered_map<pid_t, std::vector<uint64_t>> carried_stack;
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
  // What CPU samples are labelled with: kRunning in wall mode, else none.
  uint8_t running_state = 0;
  // Wall mode: each live thread as last seen by a tick.
  struct WallThread {
    int64_t seen_ns = 0;     // monotonic time of the last tick that saw it
    uint64_t cpu_ns = 0;     // its CPU clock then
    int64_t owed_blocked_ns = 0;   // time off the CPU not yet credited (< a period)
    int64_t owed_runnable_ns = 0;
    int64_t run_delay_ns = -1;     // its run-queue delay then (-1: not read yet)
    int64_t ahead_ns = 0;          // shown as a brief wait, maybe reported later as delay
    int64_t prev_seen_ns = 0;      // the tick before seen_ns
    int64_t blocked_since_ns = 0;  // when it was first seen blocked at `point`
    int64_t next_look_ns = 0;      // blocked and unmoved: not looked at before
    bool blocked = false;    // blocked in the kernel at that tick
    uint8_t state = 0;       // its ThreadState then
    BlockedPoint point;      // where it was blocked
    std::vector<uint64_t> pcs;  // the stack it was blocked in
    size_t index = SIZE_MAX;    // that stack's aggregate entry, if of this window
    uint64_t generation = 0;    // the window `index` belongs to
    TaskFiles files;            // its /proc files, held while it is active
  };
  std::unordered_map<pid_t, WallThread> wall;
  bool can_walk = false;
  int64_t wall_period_ns = 0;  // 0: not wall mode
  int64_t wall_tick_ns = 0;    // between two ticks
  uint64_t generation = 0;  // counts windows taken
  std::vector<uint64_t> walk_scratch = std::vector<uint64_t>(kMaxFrames);
  int64_t window_start_ns = 0;
  uint64_t threads_ended = 0;
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
  auto carried = st.carried_stack.find(tid);
  if (carried != st.carried_stack.end()) {
    const std::vector<uint64_t>& pcs = carried->second;
    st.last_stack[tid] = st.aggregate.add(tid, pcs.data(), static_cast<uint32_t>(pcs.size()), 0,
                                          owed, st.running_state);
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
      st.aggregate.add(owed.tid, &pc, 1, 0, owed.periods, st.running_state);
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
    st.aggregate.add(owed.tid, pcs.data(), static_cast<uint32_t>(pcs.size()), 0, owed.periods,
                     st.aggregate.state_of(chosen));
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
                     static_cast<int64_t>(lost_weight), st.running_state);
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
    size_t index =
        st.aggregate.add(tid, st.scratch.data(), depth, 1, record_weight(header), st.running_state);
    auto [last, first_sample] = st.last_stack.insert_or_assign(tid, index);
    (void)last;
    if (start != 0 && first_sample) st.sibling_stacks[start].push_back(index);
    tail += 1 + depth;
  }
  slot->tail.store(tail, std::memory_order_release);
}

// A live thread's name, read only for a snapshot (a window, a dump, the
// end), in our own descriptor table when we have one (core/private_files.h).
void remember_name(ThreadSlot* slot, CollectorState& st, bool read_names) {
  pid_t tid = slot->tid.load(std::memory_order_relaxed);
  if (tid == 0 || !read_names) return;
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

void wall_settle_exit(CollectorState& st, ThreadSlot* slot, pid_t tid);

void pass(CollectorState& st, bool read_names) {
  bool reap = ++st.passes % kPassesPerReap == 0;
  slot_for_each([&](ThreadSlot* slot) {
    uint32_t state = slot->state.load(std::memory_order_acquire);
    if (state == kFree) return;
    if (state == kActive && reap) reap_if_gone(slot);
    state = slot->state.load(std::memory_order_acquire);
    if (state == kExited && slot->name[0] != '\0') {
      st.names[slot->tid.load(std::memory_order_relaxed)] = slot->name;
    } else {
      remember_name(slot, st, read_names);
    }
    drain_ring(slot, st);
    harvest_counters(slot, st);
    if (state == kExited) {
      // Its owed periods are settled above; nothing will name it again.
      pid_t tid = slot->tid.load(std::memory_order_relaxed);
      wall_settle_exit(st, slot, tid);
      st.last_stack.erase(tid);
      st.carried_stack.erase(tid);
      if (auto known = st.wall.find(tid); known != st.wall.end()) {
        release_task_files(&known->second.files);
        st.wall.erase(known);
      }
      ++st.threads_ended;
      slot_release(slot);
    }
  });


  uint64_t bytes = static_cast<uint64_t>(g_slot_chunk_count.load()) * kSlotsPerChunk *
                       sizeof(ThreadSlot) +
                   st.aggregate.approximate_bytes();
  if (bytes > st.stats.peak_buffer_bytes) st.stats.peak_buffer_bytes = bytes;
  slot_pool_reserve();
}

// Wall time.
//
// A running thread is sampled by its CPU timer: a period of its CPU is a
// period of wall time spent running. The time a thread spends off the CPU
// is not sampled but measured: at each tick, the wall time since the
// previous tick less the CPU time the thread used in it. The part of it the
// thread spent waiting for a CPU (its run-queue delay, from
// /proc/self/task/TID/schedstat) is labelled "runnable" and shown where the
// thread was blocked at the previous tick (it waited once woken, still in
// that call), or else at its last sampled stack (it was preempted). The
// rest, time it was blocked, goes
//   - to the stack it is blocked in now, with its state (sleeping, disk
//     wait, stopped), read from /proc and walked without a signal;
//   - else, when it was blocked at the previous tick, to that stack: it has
//     woken since, and the time was the end of that wait;
//   - else (running at both ticks: it blocked for less than a tick) to its
//     last sampled stack, as a "brief wait".
// Credits are whole periods; the remainder waits for the next tick, so the
// totals are exact. A thread that used no CPU since the previous tick and
// was blocked then is where it was: it costs one clock_gettime and no file
// read. A thread counts from when it got its slot to its exit hook.
//
// Even that clock read, one system call per thread per tick, adds up with
// a thousand idle threads. A thread that has stayed blocked at one point
// for a while is looked at less often: after being quiet for time q, once
// per q/8 (in whole ticks), and at least every kMaxQuietTicks ticks. Its
// totals stay exact (the time is measured whenever it is looked at); what
// coarsens is where the time goes when it wakes between two looks: the
// first half of the gap goes to where it was blocked, the rest as if it had
// been looked at every tick, so at most half a gap, min(q/16,
// kMaxQuietTicks / 2 ticks), is shown on the wrong side of the change.
// Before a window or a dump every thread is looked at.
constexpr int64_t kMaxQuietTicks = 8;

using WallThread = CollectorState::WallThread;

constexpr uint8_t state_byte(ThreadState s) { return static_cast<uint8_t>(s); }

// The aggregate entry of the stack `w` is blocked in, made once per window.
size_t blocked_entry(CollectorState& st, pid_t tid, WallThread& w) {
  if (w.index == SIZE_MAX || w.generation != st.generation) {
    w.index = st.aggregate.add(tid, w.pcs.data(), static_cast<uint32_t>(w.pcs.size()), 0, 0,
                               w.state);
    w.generation = st.generation;
  }
  return w.index;
}

// Time off the CPU at no blocked stack: at the thread's last sampled stack.
void credit_at_last_sample(CollectorState& st, pid_t tid, int64_t periods, ThreadState state) {
  if (periods <= 0) return;
  const std::vector<uint64_t>* pcs = nullptr;
  std::vector<uint64_t> copy;
  if (auto last = st.last_stack.find(tid); last != st.last_stack.end()) {
    copy = st.aggregate.pcs_of(last->second);
    pcs = &copy;
  } else if (auto carried = st.carried_stack.find(tid); carried != st.carried_stack.end()) {
    pcs = &carried->second;
  }
  if (pcs == nullptr || pcs->empty()) {
    st.aggregate.add(tid, &kPcOffCpuUnplaced, 1, periods, periods, state_byte(state));
    return;
  }
  st.aggregate.add(tid, pcs->data(), static_cast<uint32_t>(pcs->size()), periods, periods,
                   state_byte(state));
}

// A thread's run-queue delay in ns (schedstat's second field), or -1.
int64_t read_run_delay(pid_t tid, TaskFiles* files) {
  char buf[96];
  ssize_t n = read_task_file(tid, TaskFile::kSchedstat, files, buf, sizeof buf);
  if (n <= 0) return -1;
  char* end = nullptr;
  strtoull(buf, &end, 10);  // time on the CPU
  if (end == buf || *end != ' ') return -1;
  char* start = end + 1;
  unsigned long long delay = strtoull(start, &end, 10);
  return end == start ? -1 : static_cast<int64_t>(delay);
}

// Whether `tid` is blocked in the kernel now; if so, where and in what
// stack, into `out`. The walk is kept only if the thread is still at the
// same point after it: one that woke during the walk may have rewritten
// the stack under it.
bool observe_blocked(CollectorState& st, pid_t tid, TaskFiles* files, WallThread* out) {
  ThreadState state = read_thread_state(tid, files);
  if (state != ThreadState::kSleeping && state != ThreadState::kDiskWait &&
      state != ThreadState::kStopped) {
    return false;
  }
  BlockedPoint point;
  if (!read_blocked_point(tid, &point, files)) return false;
  if (!st.can_walk) {
    out->pcs.assign(1, kPcOffCpuUnplaced);
    out->point = point;
    out->state = state_byte(state);
    out->index = SIZE_MAX;
    return true;
  }
  uint32_t depth = walk_blocked_thread(point, st.walk_scratch.data(), kMaxFrames);
  ++st.stats.blocked_walks;
  BlockedPoint again;
  if (depth == 0 || !read_blocked_point(tid, &again, files) || again.sp != point.sp ||
      again.pc != point.pc || again.syscall != point.syscall) {
    return false;
  }
  out->pcs.assign(st.walk_scratch.begin(), st.walk_scratch.begin() + depth);
  out->point = point;
  out->state = state_byte(state);
  out->index = SIZE_MAX;
  return true;
}

// Whole periods of `*owed_ns` after adding `ns`; the remainder stays.
int64_t take_periods(int64_t* owed_ns, int64_t ns, int64_t period_ns) {
  *owed_ns += ns;
  int64_t periods = *owed_ns > 0 ? *owed_ns / period_ns : 0;
  *owed_ns -= periods * period_ns;
  return periods;
}

// Time off the CPU since `w` was last seen, up to `now` and CPU clock `cpu`.
int64_t time_off_cpu(WallThread& w, int64_t now, uint64_t cpu) {
  int64_t off = (now - w.seen_ns) - static_cast<int64_t>(cpu - w.cpu_ns);
  w.prev_seen_ns = w.seen_ns;
  w.seen_ns = now;
  w.cpu_ns = cpu;
  return off;
}

// Credits blocked time to where `w` was blocked at its last tick, or, if it
// was running then, as a brief wait.
void credit_previous(CollectorState& st, pid_t tid, WallThread& w, int64_t periods) {
  if (periods <= 0) return;
  if (!w.blocked) {
    credit_at_last_sample(st, tid, periods, ThreadState::kBriefWait);
    return;
  }
  size_t index = blocked_entry(st, tid, w);
  st.aggregate.add_weight(index, periods);
  st.aggregate.add_count(index, periods);
}

// The thread of `slot` as last seen; a thread seen for the first time starts
// from when it got its slot.
WallThread& wall_thread(CollectorState& st, ThreadSlot* slot, pid_t tid, int64_t now,
                        uint64_t cpu) {
  auto [it, fresh] = st.wall.try_emplace(tid);
  if (fresh) {
    int64_t start = slot->wall_start_ns.load(std::memory_order_relaxed);
    it->second.seen_ns = start != 0 && start <= now ? start : now;
    uint64_t start_cpu = slot->start_cpu_ns.load(std::memory_order_relaxed);
    it->second.cpu_ns = start != 0 && start_cpu <= cpu ? start_cpu : cpu;
  }
  return it->second;
}

// When a thread blocked and unmoved since `since` is next looked at.
int64_t next_look(int64_t now, int64_t since, int64_t tick_ns) {
  int64_t ticks = std::clamp((now - since) / 8 / tick_ns, int64_t{1}, kMaxQuietTicks);
  // Half a tick early, so that jitter in our wakeups does not skip one more.
  return now + ticks * tick_ns - tick_ns / 2;
}

// `look`: false for the last tick, taken while the exiting thread waits for
// us (its stack then would be our own exit path): time since the previous
// tick goes where each thread was then. `every_thread`: also the quiet
// threads not due yet (before a window or dump, and at the end).
void wall_tick(CollectorState& st, bool look, bool every_thread) {
  ++st.stats.wall_ticks;
  const int64_t period_ns = st.wall_period_ns;
  const int64_t tick_ns = st.wall_tick_ns;
  const int64_t tick_start = monotonic_ns();
  slot_for_each([&](ThreadSlot* slot) {
    if (slot->state.load(std::memory_order_acquire) != kActive) return;
    pid_t tid = slot->tid.load(std::memory_order_relaxed);
    if (tid == 0) return;
    if (!every_thread) {
      auto known = st.wall.find(tid);
      if (known != st.wall.end() && known->second.blocked &&
          tick_start < known->second.next_look_ns) {
        return;
      }
    }
    ++st.stats.wall_looks;
    uint64_t cpu = thread_cpu_ns(tid);
    int64_t now = monotonic_ns();
    if (cpu == 0) return;  // gone; reaped later
    WallThread& w = wall_thread(st, slot, tid, now, cpu);
    bool ran = cpu != w.cpu_ns;
    int64_t span = now - w.seen_ns;
    int64_t off = time_off_cpu(w, now, cpu);
    if (!ran && w.blocked) {  // has not moved
      credit_previous(st, tid, w, take_periods(&w.owed_blocked_ns, off, period_ns));
      w.next_look_ns = next_look(now, w.blocked_since_ns, tick_ns);
      // Quiet: its files are better held for a thread that is not.
      if (w.next_look_ns > now + tick_ns) release_task_files(&w.files);
      return;
    }
    // Of the time off the CPU, what was spent waiting for one. The kernel
    // adds a wait to the delay only once it is over: a wait under way at
    // the previous tick was then shown at the thread's last sample (as a
    // brief wait) and is not shown again when the kernel reports it.
    int64_t delay = read_run_delay(tid, &w.files);
    int64_t reported = 0;
    if (delay >= 0) {
      if (w.run_delay_ns >= 0) reported = std::max(delay - w.run_delay_ns, int64_t{0});
      w.run_delay_ns = delay;
    }
    int64_t absorbed = std::min(reported, w.ahead_ns);
    w.ahead_ns = 0;
    int64_t runnable = std::clamp(reported - absorbed, int64_t{0}, std::max(off, int64_t{0}));
    // A thread blocked at the previous tick waited for a CPU mostly once
    // woken, still inside the call that blocked: shown there, as runnable.
    int64_t runnable_periods = take_periods(&w.owed_runnable_ns, runnable, period_ns);
    if (w.blocked && runnable_periods > 0) {
      st.aggregate.add(tid, w.pcs.data(), static_cast<uint32_t>(w.pcs.size()), runnable_periods,
                       runnable_periods, state_byte(ThreadState::kRunnable));
    } else {
      credit_at_last_sample(st, tid, runnable_periods, ThreadState::kRunnable);
    }
    int64_t blocked_ns = off - runnable;
    // Woken during a gap between looks (see kMaxQuietTicks), at a moment
    // we cannot know: its first half goes where the thread was blocked.
    if (w.blocked && span > tick_ns + tick_ns / 2 && blocked_ns > 0) {
      int64_t early_ns = std::min(span / 2, blocked_ns);
      credit_previous(st, tid, w, take_periods(&w.owed_blocked_ns, early_ns, period_ns));
      blocked_ns -= early_ns;
    }
    int64_t blocked = take_periods(&w.owed_blocked_ns, blocked_ns, period_ns);

    WallThread now_seen;
    if (!look) {
      credit_previous(st, tid, w, blocked);
      return;
    }
    if (!observe_blocked(st, tid, &w.files, &now_seen)) {
      // Running now: what was not reported may be a wait for a CPU still
      // under way, at most one tick of it.
      w.ahead_ns = std::clamp(blocked_ns, int64_t{0}, now - w.prev_seen_ns);
      credit_previous(st, tid, w, blocked);
      w.blocked = false;
      return;
    }
    if (blocked > 0) {
      st.aggregate.add(tid, now_seen.pcs.data(), static_cast<uint32_t>(now_seen.pcs.size()),
                       blocked, blocked, now_seen.state);
    }
    w.blocked = true;
    w.blocked_since_ns = now;
    w.next_look_ns = 0;
    w.pcs = std::move(now_seen.pcs);
    w.point = now_seen.point;
    w.state = now_seen.state;
    w.index = SIZE_MAX;
  });
}

// A thread that ended through our exit hook: the time since its last tick.
void wall_settle_exit(CollectorState& st, ThreadSlot* slot, pid_t tid) {
  int64_t end = slot->wall_end_ns.load(std::memory_order_relaxed);
  if (st.wall_period_ns == 0 || end == 0) return;
  uint64_t end_cpu = slot->end_cpu_ns.load(std::memory_order_relaxed);
  WallThread& w = wall_thread(st, slot, tid, end, end_cpu);
  if (end < w.seen_ns || end_cpu < w.cpu_ns) return;
  int64_t off = time_off_cpu(w, end, end_cpu);
  credit_previous(st, tid, w, take_periods(&w.owed_blocked_ns, off, st.wall_period_ns));
}

uint64_t own_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

size_t live_threads() {
  size_t live = 0;
  slot_for_each([&](ThreadSlot* slot) {
    live += slot->state.load(std::memory_order_acquire) == kActive ? 1 : 0;
  });
  return live;
}

// The aggregate so far. A window takes it and starts the next one empty; a
// dump copies it. Thread names are read just before (pass with names).
Snapshot make_snapshot(CollectorState& st, SnapshotKind kind) {
  place_unsampled(st);
  Snapshot snapshot;
  snapshot.start_mono_ns = st.window_start_ns;
  snapshot.end_mono_ns = monotonic_ns();
  snapshot.stats = st.stats;
  snapshot.stats.threads = st.threads_ended + live_threads();
  snapshot.stats.collector_cpu_ns = own_cpu_ns();
  for (const auto& [tid, name] : st.names) snapshot.thread_names.emplace_back(tid, name);
  if (kind == SnapshotKind::kDump) {
    snapshot.stacks = st.aggregate.copy();
    return snapshot;
  }
  // Owed periods of a thread that lives on into the next window still go
  // where its last sample was.
  for (const auto& [tid, index] : st.last_stack) st.carried_stack[tid] = st.aggregate.pcs_of(index);
  snapshot.stacks = st.aggregate.take();
  ++st.generation;
  st.last_stack.clear();
  st.sibling_stacks.clear();
  // Names of threads that ended are needed no more; live ones are read again.
  st.names.clear();
  st.window_start_ns = snapshot.end_mono_ns;
  return snapshot;
}

void* collector_main(void*) {
  prctl(PR_SET_NAME, "profpre", 0, 0, 0);
  t_is_collector = true;
  g_collector_tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
  use_private_descriptor_table();
  CollectorState& st = *g_state;
  const CollectorOptions options = g_options;
  st.window_start_ns = options.start_mono_ns;
  // Wall ticks at most every millisecond: the time off the CPU is measured,
  // not sampled, so a slower tick only coarsens where it is shown.
  const int64_t tick_ns =
      options.wall_period_ns > 0 ? std::max<int64_t>(options.wall_period_ns, 1000000) : 0;
  st.running_state = options.wall_period_ns > 0 ? state_byte(ThreadState::kRunning) : 0;
  st.can_walk = tick_ns > 0 && blocked_walk_load();
  if (tick_ns > 0 && !st.can_walk && options.walker_unavailable != nullptr) {
    options.walker_unavailable();
  }
  st.wall_period_ns = options.wall_period_ns;
  st.wall_tick_ns = tick_ns;
  int64_t next_window_ns = options.start_mono_ns + options.window_ns;
  int64_t next_pass_ns = monotonic_ns() + kPassInterval_ns;
  int64_t next_tick_ns = monotonic_ns() + tick_ns;
  while (g_phase.load(std::memory_order_acquire) == 0) {
    int64_t due = next_pass_ns;
    if (tick_ns > 0) due = std::min(due, next_tick_ns);
    if (options.window_ns > 0) due = std::min(due, next_window_ns);
    int64_t wait_ns = std::clamp(due - monotonic_ns(), int64_t{100000}, kPassInterval_ns);
    timespec interval{0, static_cast<long>(wait_ns)};
    if (g_wake.load(std::memory_order_acquire) == 0) {
      futex(&g_wake, FUTEX_WAIT_PRIVATE, 0, &interval);
    }
    bool woken = g_wake.exchange(0, std::memory_order_acq_rel) != 0;
    int64_t now = monotonic_ns();
    bool window_due = options.window_ns > 0 && now >= next_window_ns;
    bool dump_due = g_dump_requested.exchange(0, std::memory_order_acq_rel) != 0;
    bool snapshot_due = (window_due || dump_due) && options.deliver != nullptr;
    bool tick_due = tick_ns > 0 && now >= next_tick_ns;
    if (tick_due || (tick_ns > 0 && snapshot_due)) {
      wall_tick(st, /*look=*/true, /*every_thread=*/snapshot_due);
    }
    if (tick_due) {
      next_tick_ns += tick_ns;
      if (next_tick_ns <= now) next_tick_ns = now + tick_ns;
    }
    if (!woken && !snapshot_due && now < next_pass_ns) continue;
    pass(st, snapshot_due);
    next_pass_ns = now + kPassInterval_ns;
    if (!snapshot_due) continue;
    if (dump_due) {
      Snapshot dump = make_snapshot(st, SnapshotKind::kDump);
      options.deliver(dump, SnapshotKind::kDump, options.context);
    }
    if (window_due) {
      Snapshot window = make_snapshot(st, SnapshotKind::kWindow);
      options.deliver(window, SnapshotKind::kWindow, options.context);
      next_window_ns += options.window_ns;
      // Behind by more than a window (a stopped process): start afresh.
      now = monotonic_ns();
      if (next_window_ns <= now) next_window_ns = now + options.window_ns;
    }
  }

  if (tick_ns > 0) wall_tick(st, /*look=*/false, /*every_thread=*/true);
  pass(st, true);
  Snapshot snapshot = make_snapshot(st, SnapshotKind::kWindow);
  g_finish_fn(snapshot, g_finish_context);
  g_phase.store(2, std::memory_order_release);
  futex(&g_phase, FUTEX_WAKE_PRIVATE, 1 << 30, nullptr);
  return nullptr;
}

}  // namespace

bool collector_start(CreateThreadFn create, const CollectorOptions& options) {
  if (g_state == nullptr) g_state = new CollectorState();
  // Restarted after a failed exec: the statistics are this image's.
  g_state->stats = CollectorStats{};
  g_state->threads_ended = 0;
  g_options = options;
  g_phase.store(0, std::memory_order_release);

  if (!start_own_thread(create, collector_main, nullptr)) return false;
  g_started = true;
  return true;
}

void collector_request_dump() {
  g_dump_requested.store(1, std::memory_order_release);
  collector_wake();
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
  // The copy of the parent's aggregate belongs to the parent's profile. It is
  // left behind, not deleted: the parent's collector may have been in the
  // middle of changing it when the program forked.
  g_state = nullptr;
  forget_held_task_files();
  g_dump_requested.store(0);
  g_started = false;
  g_wake.store(0);
  g_phase.store(0);
}

}  // namespace profpre
