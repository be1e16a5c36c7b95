// Configuration from the environment, read once at start.
//
//   PROF_OUT      output path; %p is the pid, %% a literal %. Unset: inactive.
//   PROF_HZ       samples per second of each thread's CPU time, 1..10000
//                 (default 100; a bad value warns and keeps the default)
//   PROF_SIGNAL   signal for our timers, by name or number (default SIGPROF)
//   PROF_VERBOSE  any value but "" or "0": say what we do on stderr
//   PROF_STATS    any value but "" or "0": one line of statistics at exit
//   PROF_INTERVAL seconds (decimal, 0.1 to 86400): write a profile per window
//                 of that length, plus the last partial window at exit
//   PROF_DUMP_SIGNAL  signal, by name or number, on which the profile so far
//                 is written while the program runs on
//   PROF_MODE     "cpu" (default) or "wall": sample on wall-clock time,
//                 running or blocked
//
// Paths are fixed-size buffers so that a forked child can re-expand its
// output name without allocating.
#pragma once

#include <limits.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace profpre {

inline constexpr int kDefaultHz = 100;
inline constexpr int kMaxHz = 10000;

struct Config {
  bool active = false;
  bool verbose = false;
  bool stats = false;
  int hz = kDefaultHz;
  int64_t period_ns = 1000000000 / kDefaultHz;
  int signo = 0;
  int64_t interval_ns = 0;  // 0: no windows
  int dump_signo = 0;       // 0: no dumps on demand
  char dump_signal_text[32] = {};
  bool wall = false;
  char out_pattern[PATH_MAX] = {};  // absolute, %-escapes not yet expanded
};

inline constexpr int64_t kMinInterval_ns = 100 * 1000 * 1000;
inline constexpr int64_t kMaxInterval_ns = int64_t{86400} * 1000 * 1000 * 1000;

// Reads the environment into *config, writing one `profpre:` line on stderr
// for each problem. Leaves config->active false when profiling cannot start.
// Not for the signal handler: calls getenv and getcwd.
void config_load(Config* config);

// A rate in 1..kMaxHz, or -1. Handler-safe: pure.
int parse_hz(std::string_view text);

// A signal number from "PROF", "SIGPROF", "SIGRTMIN+3" or "27", or -1.
// Handler-safe: pure.
int parse_signal(std::string_view text);

// Seconds with an optional fraction ("60", "0.5") in nanoseconds, or -1
// when malformed or outside [kMinInterval_ns, kMaxInterval_ns].
// Handler-safe: pure.
int64_t parse_interval(std::string_view text);

// Whether `signo` may be the dump signal: not the sampling signal, not one
// that cannot be caught, not one that reports a fault. Handler-safe: pure.
bool usable_dump_signal(int signo, int sampling_signo);

// Expands %p and %% of `pattern` into out[size]; false when it does not fit.
// Any other %x is kept as is. Handler-safe: pure.
bool expand_output_path(const char* pattern, pid_t pid, char* out, size_t size);

// Makes `path` absolute against `cwd` into out[size]. Handler-safe: pure.
bool absolute_path(const char* path, const char* cwd, char* out, size_t size);

}  // namespace profpre
