// Ground truth for tests/e2e/cli.py, the profpre command's end-to-end test.
//
//   fx_hot burn [UNIT]   drive() calls hot_small, hot_medium and hot_large,
//                        which spend thread CPU in the ratio 1:2:3 (UNIT
//                        seconds for hot_small, default 0.2), in slices of
//                        random length taken in random order. Each measures
//                        the CPU it used; at exit the fixture prints
//                        hot_small_ns=N hot_medium_ns=N hot_large_ns=N
//                        on stderr.
//   fx_hot spin [handle] prints "ready" and burns CPU until a signal ends
//                        it. With "handle", SIGINT, SIGTERM, SIGHUP and
//                        SIGQUIT stop the loop instead; it then burns 0.1 s
//                        more, prints "caught N times K" (the last signal,
//                        how many arrived) and exits with status 3 through
//                        exit(), so that the profiler writes its profile.
//
// The functions have C linkage, so their names in a profile are exactly
// hot_small etc.; noipa keeps each a frame of its own. The stack of the
// burn mode is main > drive > hot_*, so drive's widest child is hot_large.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>

namespace {

volatile unsigned g_sink;
volatile sig_atomic_t g_caught = 0;
volatile sig_atomic_t g_times = 0;

long long thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

void on_signal(int signal) {
  g_caught = signal;
  g_times = g_times + 1;
}

}  // namespace

extern "C" {

// Each function burns in its own body (a macro, not an inlined function, so
// that no inline frame sits above it): flat and cum CPU are both its own,
// apart from the clock reads.
#define BURN_FOR(budget_ns)                                                     \
  long long start = thread_cpu_ns();                                            \
  while (thread_cpu_ns() - start < (budget_ns)) {                               \
    for (int i = 0; i < 20000; i++) g_sink = g_sink + static_cast<unsigned>(i); \
  }                                                                             \
  return thread_cpu_ns() - start

__attribute__((noipa)) long long hot_small(long long ns) { BURN_FOR(ns); }
__attribute__((noipa)) long long hot_medium(long long ns) { BURN_FOR(ns); }
__attribute__((noipa)) long long hot_large(long long ns) { BURN_FOR(ns); }
__attribute__((noipa)) long long hot_spin(long long ns) { BURN_FOR(ns); }

__attribute__((noipa)) void drive(long long unit, long long spent[3]) {
  long long (*const fns[3])(long long) = {hot_small, hot_medium, hot_large};
  unsigned long long rng = 0x9e3779b97f4a7c15ULL;
  int left = 3;
  while (left > 0) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    int k = static_cast<int>(rng % 3);
    long long target = unit * (k + 1);
    if (spent[k] >= target) continue;
    long long slice = (k + 1) * (200000LL + static_cast<long long>((rng >> 20) % 1600000));
    if (slice > target - spent[k]) slice = target - spent[k];
    spent[k] += fns[k](slice);
    if (spent[k] >= target) left--;
  }
}

__attribute__((noipa)) void spin() {
  while (g_caught == 0) hot_spin(1000000);
}

}  // extern "C"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "spin") == 0) {
    if (argc > 2 && std::strcmp(argv[2], "handle") == 0) {
      for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) std::signal(s, on_signal);
    }
    std::printf("ready\n");
    std::fflush(stdout);
    spin();
    hot_spin(100000000);  // time for a second copy of the signal to arrive, if one was sent
    std::printf("caught %d times %d\n", static_cast<int>(g_caught), static_cast<int>(g_times));
    std::exit(3);
  }
  long long unit = 200000000LL;
  if (argc > 2) unit = static_cast<long long>(std::strtod(argv[2], nullptr) * 1e9);
  long long spent[3] = {0, 0, 0};
  drive(unit, spent);
  std::fprintf(stderr, "hot_small_ns=%lld hot_medium_ns=%lld hot_large_ns=%lld\n", spent[0],
               spent[1], spent[2]);
  return 0;
}
