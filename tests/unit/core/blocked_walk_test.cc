// Stacks of blocked threads, walked from another thread without a signal.
#include "core/blocked_walk.h"

#include <alloca.h>
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/private_files.h"
#include "core/thread_slots.h"
#include "tests/unit/core/test_support.h"

using profpre::BlockedPoint;
using profpre::TaskFile;
using profpre::TaskFiles;
using profpre::ThreadState;

extern "C" {

using BlockFn = void (*)(void*);

// Known stacks: noinline, exported (the test links with -rdynamic) so that
// dladdr names them; the empty asm after each call keeps it a call.

__attribute__((noinline, visibility("default"))) void blocked_level1(BlockFn block, void* arg) {
  block(arg);
  asm volatile("" ::: "memory");
}
__attribute__((noinline, visibility("default"))) void blocked_level2(BlockFn block, void* arg) {
  blocked_level1(block, arg);
  asm volatile("" ::: "memory");
}
__attribute__((noinline, visibility("default"))) void blocked_level3(BlockFn block, void* arg) {
  blocked_level2(block, arg);
  asm volatile("" ::: "memory");
}

// The same chain with frame pointers: unwind rules "CFA = RBP + 16", and
// the libc wrapper below leaves RBP alone, so the walk must guess it.
#define WITH_FRAME_POINTER noinline, visibility("default"), optimize("no-omit-frame-pointer")
__attribute__((WITH_FRAME_POINTER)) void fp_level1(BlockFn block, void* arg) {
  block(arg);
  asm volatile("" ::: "memory");
}
__attribute__((WITH_FRAME_POINTER)) void fp_level2(BlockFn block, void* arg) {
  fp_level1(block, arg);
  asm volatile("" ::: "memory");
}
__attribute__((WITH_FRAME_POINTER)) void fp_level3(BlockFn block, void* arg) {
  fp_level2(block, arg);
  asm volatile("" ::: "memory");
}

// alloca gives a frame RBP-based rules even without -fno-omit-frame-pointer.
__attribute__((noinline, visibility("default"))) void alloca_level1(BlockFn block, void* arg) {
  auto* scratch = static_cast<volatile char*>(alloca(64 + reinterpret_cast<uintptr_t>(arg) % 8));
  scratch[0] = 1;
  block(arg);
  asm volatile("" : : "r"(scratch) : "memory");
}
__attribute__((noinline, visibility("default"))) void alloca_level2(BlockFn block, void* arg) {
  auto* scratch = static_cast<volatile char*>(alloca(96 + reinterpret_cast<uintptr_t>(arg) % 8));
  scratch[0] = 2;
  alloca_level1(block, arg);
  asm volatile("" : : "r"(scratch) : "memory");
}
__attribute__((noinline, visibility("default"))) void alloca_level3(BlockFn block, void* arg) {
  auto* scratch = static_cast<volatile char*>(alloca(128 + reinterpret_cast<uintptr_t>(arg) % 8));
  scratch[0] = 3;
  alloca_level2(block, arg);
  asm volatile("" : : "r"(scratch) : "memory");
}

}  // extern "C"

namespace {

struct Chain {
  const char* name;
  void (*enter)(BlockFn, void*);
  const char* levels[3];  // innermost first
};

const Chain kChains[] = {
    {"plain", blocked_level3, {"blocked_level1", "blocked_level2", "blocked_level3"}},
    {"frame pointer", fp_level3, {"fp_level1", "fp_level2", "fp_level3"}},
    {"alloca", alloca_level3, {"alloca_level1", "alloca_level2", "alloca_level3"}},
};

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string symbol_of(uint64_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_sname == nullptr) return "";
  return info.dli_sname;
}

bool in_libc(uint64_t pc) {
  Dl_info info{};
  return dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_fname != nullptr &&
         strstr(info.dli_fname, "libc.so") != nullptr;
}

std::vector<uint64_t> walk(const BlockedPoint& point) {
  std::vector<uint64_t> pcs(profpre::kMaxFrames);
  pcs.resize(profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames));
  return pcs;
}

// Index of the first frame named `name`, or -1.
int frame_index(const std::vector<uint64_t>& pcs, const char* name) {
  for (size_t i = 0; i < pcs.size(); ++i) {
    if (symbol_of(pcs[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

// Whether the three levels appear innermost first, above a leaf in libc.
bool holds_chain(const std::vector<uint64_t>& pcs, const Chain& chain) {
  int first = frame_index(pcs, chain.levels[0]);
  int second = frame_index(pcs, chain.levels[1]);
  int third = frame_index(pcs, chain.levels[2]);
  return !pcs.empty() && in_libc(pcs[0]) && first > 0 && second > first && third > second;
}

std::string describe(const std::vector<uint64_t>& pcs) {
  std::string out;
  for (uint64_t pc : pcs) {
    char line[64];
    snprintf(line, sizeof line, "  %#llx ", static_cast<unsigned long long>(pc));
    out += line + symbol_of(pc) + "\n";
  }
  return out;
}

// Ways to block, each with what its call must return once released.
struct Sleeper {
  static constexpr double kSeconds = 0.4;
  int result = -1;
  double slept = 0;

  static void block(void* self) {
    auto* s = static_cast<Sleeper*>(self);
    timespec request{0, static_cast<long>(kSeconds * 1e9)};
    double start = monotonic_seconds();
    s->result = nanosleep(&request, nullptr);
    s->slept = monotonic_seconds() - start;
  }
  static bool expected_syscall(long nr) { return nr == SYS_clock_nanosleep || nr == SYS_nanosleep; }
  void release() {}
  void check() const {
    CHECK(result == 0);
    CHECK(slept >= kSeconds);
  }
};

struct Poller {
  int fds[2] = {-1, -1};
  int result = -1;
  short revents = 0;

  Poller() { REQUIRE(pipe(fds) == 0); }
  ~Poller() {
    close(fds[0]);
    close(fds[1]);
  }
  static void block(void* self) {
    auto* p = static_cast<Poller*>(self);
    pollfd one{p->fds[0], POLLIN, 0};
    p->result = poll(&one, 1, -1);
    p->revents = one.revents;
  }
  static bool expected_syscall(long nr) { return nr == SYS_poll || nr == SYS_ppoll; }
  void release() { REQUIRE(write(fds[1], "x", 1) == 1); }
  void check() const {
    CHECK(result == 1);
    CHECK(revents == POLLIN);
  }
};

struct Waiter {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  bool go = false;
  int result = -1;
  int wakeups = 0;

  static void block(void* self) {
    auto* w = static_cast<Waiter*>(self);
    pthread_mutex_lock(&w->mutex);
    while (!w->go) {
      w->result = pthread_cond_wait(&w->cond, &w->mutex);
      ++w->wakeups;
    }
    pthread_mutex_unlock(&w->mutex);
  }
  static bool expected_syscall(long nr) { return nr == SYS_futex; }
  void release() {
    pthread_mutex_lock(&mutex);
    go = true;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
  }
  void check() const {
    CHECK(result == 0);
    CHECK(wakeups == 1);  // woken by release, never spuriously by us
  }
};

// Runs `blocker` under `chain` on a new thread.
template <typename Blocker>
class BlockedThread {
 public:
  BlockedThread(const Chain& chain, Blocker* blocker)
      : thread_([this, &chain, blocker] {
          tid_.store(core_test::gettid_raw());
          chain.enter(Blocker::block, blocker);
        }) {}
  ~BlockedThread() {
    if (thread_.joinable()) thread_.join();
  }
  BlockedThread(const BlockedThread&) = delete;
  BlockedThread& operator=(const BlockedThread&) = delete;

  // Waits until the thread sleeps in the expected system call.
  bool wait_blocked(BlockedPoint* point) {
    for (double until = monotonic_seconds() + 5; monotonic_seconds() < until;) {
      pid_t tid = tid_.load();
      if (tid != 0 && profpre::read_thread_state(tid) == ThreadState::kSleeping &&
          profpre::read_blocked_point(tid, point) && Blocker::expected_syscall(point->syscall)) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  pid_t tid() const { return tid_.load(); }
  void join() { thread_.join(); }

 private:
  std::atomic<pid_t> tid_{0};
  std::thread thread_;
};

template <typename Blocker>
void check_blocked_walk(const Chain& chain) {
  INFO("chain: " << chain.name);
  Blocker blocker;
  BlockedThread<Blocker> thread(chain, &blocker);
  BlockedPoint point;
  REQUIRE(thread.wait_blocked(&point));
  CHECK(profpre::read_thread_state(thread.tid()) == ThreadState::kSleeping);

  auto pcs = walk(point);
  INFO("walk:\n" << describe(pcs));
  REQUIRE(!pcs.empty());
  CHECK(pcs[0] == point.pc);
  CHECK(holds_chain(pcs, chain));
  // The walk reached the thread's outermost frame without an error.
  CHECK(pcs.back() != profpre::kPcUnwindFailed);
  CHECK(pcs.back() != profpre::kPcTruncated);

  blocker.release();
  thread.join();
  blocker.check();
}

}  // namespace

TEST_CASE("a blocked point parses from each form the kernel writes", "[blocked_walk]") {
  BlockedPoint point;
  SECTION("a running thread has none") {
    CHECK_FALSE(profpre::parse_blocked_point("running\n", &point));
  }
  SECTION("blocked outside a system call: -1 SP PC") {
    REQUIRE(profpre::parse_blocked_point("-1 0x7ffc5e8a1b28 0x7f3a1c2e4d5f\n", &point));
    CHECK(point.syscall == -1);
    CHECK(point.sp == 0x7ffc5e8a1b28u);
    CHECK(point.pc == 0x7f3a1c2e4d5fu);
  }
  SECTION("in a system call: NR, six arguments, SP, PC") {
    const char* line =
        "230 0x1 0x0 0x7f3a1b7fed90 0x0 0x7f3a1b7fed90 0x0 0x7f3a1b7fed68 0x7f3a1c2e5543\n";
    REQUIRE(profpre::parse_blocked_point(line, &point));
    CHECK(point.syscall == 230);
    CHECK(point.sp == 0x7f3a1b7fed68u);
    CHECK(point.pc == 0x7f3a1c2e5543u);
  }
  SECTION("without the trailing newline") {
    REQUIRE(
        profpre::parse_blocked_point("7 0x5 0x1 0xffffffff 0x0 0x0 0x0 0x7ffd10 0x401000", &point));
    CHECK(point.syscall == 7);
    CHECK(point.pc == 0x401000u);
  }
  SECTION("garbage, truncated lines and zero addresses are refused") {
    for (const char* text :
         {"", "\n", "garbage", "-1 0x10", "-1 0x10 0x20 0x30",
          "230 0x1 0x0 0x0 0x0 0x0 0x0 0x7ffd10", "-2 0x10 0x20", "-1 10 0x20", "-1 0xzz 0x20",
          "-1 0x10 0x20junk", "-1 0x0 0x401000", "-1 0x7ffd10 0x0",
          "230 0x1 0x0 0x0 0x0 0x0 0x0 0x7ffd10 0x401000 0x9", "-1  0x10 0x20"}) {
      INFO(text);
      CHECK_FALSE(profpre::parse_blocked_point(text, &point));
    }
  }
}

TEST_CASE("the remote unwinder loads, and its code is known as its own", "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  CHECK(profpre::blocked_walk_load());  // idempotent
  void* library = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(library != nullptr);
  CHECK(profpre::in_blocked_walker(dlsym(library, "_Ux86_64_step")));
  CHECK_FALSE(profpre::in_blocked_walker(reinterpret_cast<void*>(&blocked_level1)));
  CHECK_FALSE(profpre::in_blocked_walker(reinterpret_cast<void*>(&poll)));
  dlclose(library);
}

TEST_CASE("a thread sleeping in nanosleep is walked through its callers and sleeps on",
          "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  for (const Chain& chain : kChains) check_blocked_walk<Sleeper>(chain);
}

TEST_CASE("a thread blocked in poll is walked and its poll then returns the event",
          "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  for (const Chain& chain : kChains) check_blocked_walk<Poller>(chain);
}

TEST_CASE("a thread waiting on a condition variable is walked and wakes only when signalled",
          "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  for (const Chain& chain : kChains) check_blocked_walk<Waiter>(chain);
}

namespace {

// A thread interrupted by a signal (ours, sent by the test) while it spins in
// the chain, whose handler then blocks in poll: the walk crosses the signal
// frame and goes on into the interrupted code.
constinit std::atomic<bool> g_spinning{false};
constinit std::atomic<bool> g_spin_stop{false};
constinit int g_handler_pipe[2] = {-1, -1};
constinit std::atomic<int> g_handler_poll{-1};

}  // namespace

extern "C" {

__attribute__((noinline, visibility("default"))) void blocked_in_handler(int) {
  pollfd one{g_handler_pipe[0], POLLIN, 0};
  g_handler_poll.store(poll(&one, 1, -1));
}

__attribute__((noinline, visibility("default"))) void spin_until_released(void*) {
  g_spinning.store(true);
  while (!g_spin_stop.load(std::memory_order_relaxed)) {
  }
}

}  // extern "C"

namespace {

struct Interrupted {
  static void block(void* arg) { spin_until_released(arg); }
  static bool expected_syscall(long nr) { return nr == SYS_poll || nr == SYS_ppoll; }
  void release() {
    REQUIRE(write(g_handler_pipe[1], "x", 1) == 1);
    g_spin_stop.store(true);
  }
};

}  // namespace

TEST_CASE("a thread blocked inside a signal handler is walked through the signal frame",
          "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  REQUIRE(pipe(g_handler_pipe) == 0);
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = blocked_in_handler;
  action.sa_flags = SA_RESTART;
  REQUIRE(sigaction(SIGUSR1, &action, &previous) == 0);

  Interrupted interrupted;
  {
    BlockedThread<Interrupted> thread(kChains[0], &interrupted);
    while (!g_spinning.load()) std::this_thread::yield();
    REQUIRE(syscall(SYS_tgkill, getpid(), thread.tid(), SIGUSR1) == 0);
    BlockedPoint point;
    REQUIRE(thread.wait_blocked(&point));

    auto pcs = walk(point);
    INFO("walk:\n" << describe(pcs));
    CHECK(holds_chain(pcs, kChains[0]));
    int handler = frame_index(pcs, "blocked_in_handler");
    int spin = frame_index(pcs, "spin_until_released");
    CHECK(handler > 0);
    // Between them, libc's signal trampoline (__restore_rt).
    CHECK(spin == handler + 2);
    CHECK(pcs.back() != profpre::kPcUnwindFailed);
    interrupted.release();
  }
  CHECK(g_handler_poll.load() == 1);
  sigaction(SIGUSR1, &previous, nullptr);
  close(g_handler_pipe[0]);
  close(g_handler_pipe[1]);
}

TEST_CASE("one walk of a blocked thread costs microseconds", "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  for (const Chain& chain : kChains) {
    Poller poller;
    BlockedThread<Poller> thread(chain, &poller);
    BlockedPoint point;
    REQUIRE(thread.wait_blocked(&point));

    // CPU time of this thread: the cost to the collector, whatever else
    // the machine runs (wall time, with other work around, varies more).
    double start = core_test::thread_cpu_seconds();
    auto first = walk(point);
    double cold = core_test::thread_cpu_seconds() - start;
    constexpr int kWalks = 2000;
    std::vector<uint64_t> pcs(profpre::kMaxFrames);
    start = core_test::thread_cpu_seconds();
    for (int i = 0; i < kWalks; ++i) {
      profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames);
    }
    double warm = (core_test::thread_cpu_seconds() - start) / kWalks;
    start = core_test::thread_cpu_seconds();
    for (int i = 0; i < kWalks; ++i) profpre::read_blocked_point(thread.tid(), &point);
    double read = (core_test::thread_cpu_seconds() - start) / kWalks;
    printf(
        "blocked_walk: %-13s chain, %zu frames: first walk %.1f us, then %.1f us per walk "
        "(CPU time); reading /proc/self/task/TID/syscall %.1f us\n",
        chain.name, first.size(), cold * 1e6, warm * 1e6, read * 1e6);
    CHECK(holds_chain(first, chain));

    poller.release();
    thread.join();
    poller.check();
  }
}

namespace {

// A worker that naps under a chain, then wakes and scribbles over the stack
// the nap used, so that a walk racing with it reads changing words.
struct Restless {
  long nap_ns = 0;
  std::atomic<bool> stop{false};
  std::atomic<long> naps{0};

  static void block(void* self) {
    auto* r = static_cast<Restless*>(self);
    timespec nap{0, r->nap_ns};
    nanosleep(&nap, nullptr);
    r->naps.fetch_add(1);
  }
};

__attribute__((noinline)) void scribble(uint64_t seed) {
  volatile uint64_t words[512];
  for (auto& w : words) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    w = seed;
  }
}

struct RestlessResult {
  int walks = 0;
  int whole = 0;  // walks that found the chain
  long naps = 0;
};

// Walks the restless worker for a second, as fast as it can.
RestlessResult walk_restless(const Chain& chain, long nap_ns) {
  Restless restless;
  restless.nap_ns = nap_ns;
  std::atomic<pid_t> tid{0};
  std::thread worker([&] {
    prctl(PR_SET_TIMERSLACK, 1);  // naps as short as asked
    tid.store(core_test::gettid_raw());
    for (uint64_t i = 0; !restless.stop.load(); ++i) {
      chain.enter(Restless::block, &restless);
      for (int j = 0; j < 16; ++j) scribble(i + j);
    }
  });
  while (tid.load() == 0) std::this_thread::yield();

  RestlessResult result;
  std::vector<uint64_t> pcs(profpre::kMaxFrames);
  for (double until = monotonic_seconds() + 1.0; monotonic_seconds() < until;) {
    BlockedPoint point;
    if (!profpre::read_blocked_point(tid.load(), &point)) continue;
    pcs.resize(profpre::kMaxFrames);
    pcs.resize(profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames));
    REQUIRE(!pcs.empty());
    REQUIRE(pcs[0] == point.pc);
    ++result.walks;
    result.whole += holds_chain(pcs, chain);
  }
  restless.stop.store(true);
  worker.join();
  result.naps = restless.naps.load();
  printf("blocked_walk: %-13s chain, naps of %ld us: %d walks, %d reached the chain, %ld naps\n",
         chain.name, nap_ns / 1000, result.walks, result.whole, result.naps);
  return result;
}

}  // namespace

TEST_CASE("walking a thread that keeps waking and sleeping never crashes and mostly succeeds",
          "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  for (const Chain& chain : kChains) {
    INFO("chain: " << chain.name);
    SECTION(std::string("1 ms naps, ") + chain.name) {
      RestlessResult r = walk_restless(chain, 1000000);
      CHECK(r.walks >= 1000);
      CHECK(r.whole >= r.walks / 2);
    }
    // Naps shorter than a walk: most walks race with the thread's return.
    SECTION(std::string("20 us naps, ") + chain.name) {
      RestlessResult r = walk_restless(chain, 20000);
      CHECK(r.walks >= 100);
    }
  }
}

TEST_CASE("walks from garbage or unmapped stacks end in the failure frame", "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  constexpr size_t kBytes = 64 * 1024;
  void* region = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(region != MAP_FAILED);
  auto* words = static_cast<uint64_t*>(region);
  auto base = reinterpret_cast<uint64_t>(region);

  // Code addresses that have unwind rules, and some that point into the
  // region itself, mixed with random words: frames that look half right.
  const uint64_t code[] = {
      reinterpret_cast<uint64_t>(&blocked_level1), reinterpret_cast<uint64_t>(&fp_level2),
      reinterpret_cast<uint64_t>(&alloca_level3),  reinterpret_cast<uint64_t>(&nanosleep),
      reinterpret_cast<uint64_t>(&poll),           reinterpret_cast<uint64_t>(&pthread_cond_wait)};
  std::mt19937_64 random(42);
  auto code_word = [&] { return code[random() % std::size(code)] + random() % 256; };
  std::vector<uint64_t> pcs(profpre::kMaxFrames);

  SECTION("random words in mapped memory") {
    for (int round = 0; round < 2000; ++round) {
      for (size_t i = 0; i < kBytes / 8; ++i) {
        switch (random() % 4) {
          case 0:
            words[i] = code_word();
            break;
          case 1:
            words[i] = base + random() % kBytes;
            break;
          case 2:
            words[i] = 0;
            break;
          default:
            words[i] = random();
            break;
        }
      }
      BlockedPoint point{-1, base + (random() % (kBytes / 2)) / 8 * 8, code_word()};
      uint32_t depth = profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames);
      REQUIRE(depth >= 1);
      REQUIRE(depth <= profpre::kMaxFrames);
      CHECK(pcs[0] == point.pc);
    }
  }
  SECTION("a stack that is gone") {
    REQUIRE(munmap(region, kBytes) == 0);
    region = nullptr;
    BlockedPoint point{-1, base + 256, reinterpret_cast<uint64_t>(&blocked_level1) + 8};
    uint32_t depth = profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames);
    REQUIRE(depth == 2);
    CHECK(pcs[0] == point.pc);
    CHECK(pcs[1] == profpre::kPcUnwindFailed);
  }
  SECTION("a code address in no loaded object") {
    BlockedPoint point{-1, base + 256, base + 64};
    uint32_t depth = profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames);
    REQUIRE(depth >= 2);
    CHECK(pcs[depth - 1] == profpre::kPcUnwindFailed);
  }
  if (region != nullptr) munmap(region, kBytes);
}

TEST_CASE("a walk deeper than its room ends in the truncation frame", "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  Poller poller;
  BlockedThread<Poller> thread(kChains[0], &poller);
  BlockedPoint point;
  REQUIRE(thread.wait_blocked(&point));
  uint64_t pcs[4];
  CHECK(profpre::walk_blocked_thread(point, pcs, 4) == 4);
  CHECK(pcs[3] == profpre::kPcTruncated);
  CHECK(profpre::walk_blocked_thread(point, pcs, 1) == 1);
  CHECK(pcs[0] == profpre::kPcTruncated);
  CHECK(profpre::walk_blocked_thread(point, pcs, 0) == 0);
  poller.release();
  thread.join();
  poller.check();
}

namespace {

// In a forked child: walks a new blocked thread; the exit status says
// whether the walk found its chain.
[[noreturn]] void walk_in_child() {
  alarm(10);  // a walk that hangs kills the child, and the test sees it
  Poller poller;
  bool ok = false;
  {
    BlockedThread<Poller> thread(kChains[0], &poller);
    BlockedPoint point;
    ok = thread.wait_blocked(&point) && holds_chain(walk(point), kChains[0]);
    poller.release();
  }
  _exit(ok && poller.result == 1 ? 0 : 1);
}

}  // namespace

TEST_CASE("a child forked in the middle of walks can walk its own threads", "[blocked_walk]") {
  REQUIRE(profpre::blocked_walk_load());
  Poller poller;
  BlockedThread<Poller> blocked(kChains[0], &poller);
  BlockedPoint point;
  REQUIRE(blocked.wait_blocked(&point));
  std::atomic<bool> stop{false};
  std::atomic<long> walks{0};
  std::thread walker([&] {
    std::vector<uint64_t> pcs(profpre::kMaxFrames);
    while (!stop.load()) {
      profpre::walk_blocked_thread(point, pcs.data(), profpre::kMaxFrames);
      walks.fetch_add(1);
    }
  });

  int children_ok = 0;
  constexpr int kForks = 100;
  for (int i = 0; i < kForks; ++i) {
    pid_t child = fork();
    if (child == 0) walk_in_child();
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    children_ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  stop.store(true);
  walker.join();
  CHECK(children_ok == kForks);
  CHECK(walks.load() > kForks);
  poller.release();
  blocked.join();
  poller.check();
}

TEST_CASE("a running thread has no blocked point", "[blocked_walk]") {
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread spinner([&] {
    tid.store(core_test::gettid_raw());
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  while (tid.load() == 0) std::this_thread::yield();
  // Preemption may catch it off the CPU for a moment: then it is runnable,
  // "R", and /proc still says "running".
  for (int i = 0; i < 100; ++i) {
    BlockedPoint point;
    bool blocked = profpre::read_blocked_point(tid.load(), &point);
    ThreadState state = profpre::read_thread_state(tid.load());
    CHECK((!blocked || state == ThreadState::kRunning));
    CHECK(state == ThreadState::kRunning);
  }
  stop.store(true);
  spinner.join();
}

TEST_CASE("a thread that is gone has no state and no blocked point", "[blocked_walk]") {
  pid_t gone = 0;
  std::thread([&] { gone = core_test::gettid_raw(); }).join();
  BlockedPoint point;
  CHECK_FALSE(profpre::read_blocked_point(gone, &point));
  CHECK(profpre::read_thread_state(gone) == ThreadState::kUnknown);
}

TEST_CASE("a task file held open reads like a fresh one, and not once its thread is gone",
          "[blocked_walk]") {
  // Held files need a descriptor table of our own: test from such a thread.
  std::thread([] {
    REQUIRE(profpre::use_private_descriptor_table());
    std::atomic<bool> stop{false};
    std::atomic<pid_t> sleeper_tid{0};
    std::thread sleeper([&] {
      sleeper_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
      while (!stop.load()) usleep(1000);
    });
    while (sleeper_tid.load() == 0) usleep(100);
    pid_t tid = sleeper_tid.load();
    int before = profpre::held_task_files();
    TaskFiles files;
    char fresh[256];
    char held[256];
    for (int i = 0; i < 3; ++i) {
      ThreadState state = profpre::read_thread_state(tid, &files);
      CHECK((state == ThreadState::kSleeping || state == ThreadState::kRunning));
    }
    CHECK(files.fd[static_cast<int>(TaskFile::kStat)] >= 0);
    CHECK(profpre::held_task_files() == before + 1);
    // The same text as a file opened now (the pid and name lead it).
    REQUIRE(profpre::read_task_file(tid, TaskFile::kStat, nullptr, fresh, sizeof fresh) > 0);
    REQUIRE(profpre::read_task_file(tid, TaskFile::kStat, &files, held, sizeof held) > 0);
    CHECK(std::string(fresh).substr(0, std::string(fresh).find(')')) ==
          std::string(held).substr(0, std::string(held).find(')')));
    stop.store(true);
    sleeper.join();
    // Gone: the held file fails, is closed, and a fresh open fails too.
    CHECK(profpre::read_task_file(tid, TaskFile::kStat, &files, held, sizeof held) < 0);
    CHECK(files.fd[static_cast<int>(TaskFile::kStat)] == -1);
    CHECK(profpre::held_task_files() == before);
    profpre::release_task_files(&files);
    CHECK(profpre::held_task_files() == before);
  }).join();
  // Without a table of our own nothing is held: the program's descriptor
  // numbers are not ours to take.
  TaskFiles files;
  CHECK(profpre::read_thread_state(static_cast<pid_t>(syscall(SYS_gettid)), &files) ==
        ThreadState::kRunning);
  CHECK(files.fd[static_cast<int>(TaskFile::kStat)] == -1);
}
