// What every benchmark workload shares: CPU clocks, a unit of work, CPU-bounded
// burning, and the one JSON line of ground truth it prints on stdout.
//
// Workloads limit themselves by CPU time, never wall time, so that a loaded
// machine changes how long they take, not what they measure. They also count
// units of work: under a profiler a thread's CPU clock includes the signal
// deliveries and handlers, so a CPU-bounded loop does fewer units. The runner
// compares CPU per unit across modes to get the profiler's overhead, and CPU
// in and out of the named functions to see where it went.

#pragma once

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace bw {

inline int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) abort();
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline int64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// User + system CPU of `who` (RUSAGE_SELF or RUSAGE_CHILDREN), in seconds.
inline double rusage_cpu_s(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// A decimal number of seconds ("0.5") in nanoseconds; `fallback` if absent.
inline int64_t seconds_arg(int argc, char** argv, int index, double fallback) {
  double seconds = index < argc ? strtod(argv[index], nullptr) : fallback;
  return static_cast<int64_t>(seconds * 1e9);
}

inline int int_arg(int argc, char** argv, int index, int fallback) {
  return index < argc ? atoi(argv[index]) : fallback;
}

// Stores the compiler must keep, so that a unit of work cannot be dropped.
inline volatile unsigned g_sink;

// One unit of work: about ten microseconds of dependent stores, long enough
// that reading the thread's CPU clock once per unit costs a few percent.
__attribute__((always_inline)) inline void work_unit() {
  for (unsigned i = 0; i < 16384; i++) g_sink = g_sink + i;
}

// What a CPU-bounded loop did.
struct Burned {
  int64_t cpu_ns = 0;
  int64_t units = 0;
};

// Works in units until the calling thread has used `budget_ns` of CPU.
// Inlined so that samples fall in the named function that calls it.
__attribute__((always_inline)) inline Burned burn(int64_t budget_ns) {
  int64_t start = thread_cpu_ns();
  int64_t now = start;
  Burned done;
  while (now - start < budget_ns) {
    work_unit();
    ++done.units;
    now = thread_cpu_ns();
  }
  done.cpu_ns = now - start;
  return done;
}

// What a checked sleep saw: nanosleep failing with EINTR (it is resumed
// for the time left), and the sleep ending before its time.
struct Slept {
  int eintr = 0;
  bool short_sleep = false;
};

// Sleeps `ns` in nanosleep, resumed after EINTR; aborts on any other error.
// Inlined so that the sleep falls in the named function that calls it.
__attribute__((always_inline)) inline Slept checked_sleep(int64_t ns) {
  timespec want{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  timespec left{};
  Slept slept;
  int64_t start = clock_ns(CLOCK_MONOTONIC);
  while (nanosleep(&want, &left) != 0) {
    if (errno != EINTR) abort();
    ++slept.eintr;
    want = left;
  }
  slept.short_sleep = clock_ns(CLOCK_MONOTONIC) - start < ns;
  return slept;
}

// The calling process's resident set, in KiB (VmRSS of /proc/self/status).
inline long rss_kib() {
  FILE* status = fopen("/proc/self/status", "r");
  if (status == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (fgets(line, sizeof line, status) != nullptr) {
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  fclose(status);
  return kib;
}

// CPU used so far by the profiler's own thread (named "profpre"), in
// seconds, from /proc/self/task/*/schedstat; 0 when there is none.
inline double profiler_thread_cpu_s() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  double total = 0;
  while (dirent* entry = readdir(dir)) {
    std::string task = std::string("/proc/self/task/") + entry->d_name;
    char comm[32] = {};
    long long ns = 0;
    if (FILE* f = fopen((task + "/comm").c_str(), "r")) {
      if (fgets(comm, sizeof comm, f) == nullptr) comm[0] = '\0';
      fclose(f);
    }
    if (std::string(comm) != "profpre\n") continue;
    if (FILE* f = fopen((task + "/schedstat").c_str(), "r")) {
      if (fscanf(f, "%lld", &ns) == 1) total += static_cast<double>(ns) * 1e-9;
      fclose(f);
    }
  }
  closedir(dir);
  return total;
}

// The ground-truth line. Every workload prints exactly one, last, on stdout:
//   {"wall_s":..,"rusage_cpu_s":..,"units":..,"functions":{"name":cpu_s,..},
//    <extra fields>,"collector_cpu_s":..,"pid":..,"rss_kib":..,
//    "exit_realtime_ns":..}
// rusage_cpu_s is the process's CPU (plus its children's, where the workload
// says so), collector_cpu_s that of profpre's thread and rss_kib the resident
// memory, all at the workload's last instruction; exit_realtime_ns is
// CLOCK_REALTIME just before main returns, to time what happens after.
class TruthLine {
 public:
  explicit TruthLine(int64_t start_mono_ns) : start_mono_ns_(start_mono_ns) {}

  void function(const char* name, int64_t cpu_ns) { functions_.emplace_back(name, cpu_ns); }
  void extra(const char* key, double value) { extras_.emplace_back(key, value); }

  // Prints the line and flushes it; call just before returning from main.
  void print(int64_t units, double rusage_cpu) const {
    std::string fns;
    for (const auto& [name, ns] : functions_) {
      fns += (fns.empty() ? "\"" : ",\"") + name + "\":" + std::to_string(ns * 1e-9);
    }
    std::string more;
    for (const auto& [key, value] : extras_) more += ",\"" + key + "\":" + std::to_string(value);
    more += ",\"collector_cpu_s\":" + std::to_string(profiler_thread_cpu_s());
    double wall = static_cast<double>(clock_ns(CLOCK_MONOTONIC) - start_mono_ns_) * 1e-9;
    printf("{\"wall_s\":%.6f,\"rusage_cpu_s\":%.6f,\"units\":%lld,\"functions\":{%s}%s,"
           "\"pid\":%d,\"rss_kib\":%ld,\"exit_realtime_ns\":%lld}\n",
           wall, rusage_cpu, static_cast<long long>(units), fns.c_str(), more.c_str(),
           static_cast<int>(getpid()), rss_kib(),
           static_cast<long long>(clock_ns(CLOCK_REALTIME)));
    fflush(stdout);
  }

 private:
  int64_t start_mono_ns_;
  std::vector<std::pair<std::string, int64_t>> functions_;
  std::vector<std::pair<std::string, double>> extras_;
};

}  // namespace bw
