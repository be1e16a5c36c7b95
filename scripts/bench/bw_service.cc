// Ground truth for PROF_INTERVAL and PROF_DUMP_SIGNAL: a long-running,
// service-like process. WORKERS threads walk random paths through a tree of
// 3 levels of 16 template functions (as bw_stacks does: a few thousand
// distinct stacks) until each has used SECONDS of CPU; meanwhile the main
// thread sleeps in 10 ms nanosleeps and records, every 100 ms, its VmRSS and
// the CPU of profpre's writer thread, and a reader thread waits in read() on
// a pipe that the main thread closes at the end. Every blocking call is
// checked: EINTR (the call is resumed for the time left) and early returns
// are counted in the truth line; both should stay 0 when a profiler writes
// windows or dumps.
//
// stdout, in order:
//   bw_service: started                      (flushed at once: signals may come)
//   bw_service: workers=N reader=eof         (the same under every profiler)
//   {"rss_series":[[seconds since start, VmRSS KiB, writer CPU ms], ...]}
//   the truth line: "bw_service_walk" = the workers' CPU, and extra fields
//   "workers", "eintr_sleep", "eintr_read", "short_sleeps", "main_cpu_s"
//   (the main thread's CPU),
//   "writer_cpu_s" (CPU of profpre's writer thread "profpre-write", 0 if none)
//
//   bw_service [seconds of CPU per worker, default 3.0] [workers, default 4]
#include <pthread.h>

#include <atomic>
#include <cerrno>

#include "scripts/bench/stack_tree.h"
#include "scripts/bench/workload.h"

namespace {

using Tree = bw::StackTree<16>;


std::atomic<int> g_running{0};
std::atomic<int> g_eintr_read{0};
std::atomic<int> g_eintr_sleep{0};
std::atomic<int> g_short{0};

}  // namespace

extern "C" __attribute__((noipa)) bw::Burned bw_service_walk(int64_t budget_ns, uint64_t seed) {
  return Tree::walk(budget_ns, seed);
}

// Waits for EOF on `fd`: returns when the main thread closes the pipe.
extern "C" __attribute__((noipa)) bool bw_service_read(int fd) {
  char byte;
  for (;;) {
    ssize_t n = read(fd, &byte, 1);
    if (n == 0) return true;
    if (n < 0 && errno == EINTR) {
      ++g_eintr_read;
      continue;
    }
    return false;
  }
}

extern "C" __attribute__((noipa)) void bw_service_sleep(int64_t ns) {
  bw::Slept slept = bw::checked_sleep(ns);
  g_eintr_sleep += slept.eintr;
  if (slept.short_sleep) ++g_short;
}

namespace {

void* run_job(void* raw) {
  auto* job = static_cast<bw::WalkJob*>(raw);
  job->done = bw_service_walk(job->budget_ns, job->seed);
  g_running.fetch_sub(1);
  return nullptr;
}

struct Reader {
  int fd;
  bool eof;
};

void* run_reader(void* raw) {
  auto* reader = static_cast<Reader*>(raw);
  reader->eof = bw_service_read(reader->fd);
  return nullptr;
}

// CPU of the threads named `comm`, in seconds (0 if there is none).
double named_thread_cpu_s(const char* comm) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  double total = 0;
  std::string want = std::string(comm) + "\n";
  while (dirent* entry = readdir(dir)) {
    std::string task = std::string("/proc/self/task/") + entry->d_name;
    char name[32] = {};
    if (FILE* f = fopen((task + "/comm").c_str(), "r")) {
      if (fgets(name, sizeof name, f) == nullptr) name[0] = '\0';
      fclose(f);
    }
    if (want != name) continue;
    long long ns = 0;
    if (FILE* f = fopen((task + "/schedstat").c_str(), "r")) {
      if (fscanf(f, "%lld", &ns) == 1) total += static_cast<double>(ns) * 1e-9;
      fclose(f);
    }
  }
  closedir(dir);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  printf("bw_service: started\n");
  fflush(stdout);
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 3.0);
  int count = bw::int_arg(argc, argv, 2, 4);
  if (count < 1 || count > 64) count = 4;

  // Reserved up front: the series itself must not grow the RSS it measures.
  struct Point {
    double t;
    long rss_kib;
    double writer_ms;
  };
  std::vector<Point> series;
  series.reserve(10000);
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) abort();
  Reader reader{pipe_fds[0], false};
  pthread_t reader_thread;
  if (pthread_create(&reader_thread, nullptr, run_reader, &reader) != 0) abort();

  bw::WalkJob jobs[64];
  pthread_t threads[64];
  g_running = count;
  for (int i = 0; i < count; ++i) {
    jobs[i] = bw::WalkJob::for_thread(budget_ns, i);
    if (pthread_create(&threads[i], nullptr, run_job, &jobs[i]) != 0) abort();
  }
  int64_t next_rss = start;
  while (g_running.load() > 0) {
    int64_t now = bw::clock_ns(CLOCK_MONOTONIC);
    if (now >= next_rss && series.size() < series.capacity()) {
      series.push_back({static_cast<double>(now - start) * 1e-9, bw::rss_kib(),
                        1000 * named_thread_cpu_s("profpre-write")});
      next_rss += 100000000;
    }
    bw_service_sleep(10000000);
  }
  series.push_back({static_cast<double>(bw::clock_ns(CLOCK_MONOTONIC) - start) * 1e-9,
                    bw::rss_kib(), 1000 * named_thread_cpu_s("profpre-write")});
  bw::Burned all;
  for (int i = 0; i < count; ++i) {
    pthread_join(threads[i], nullptr);
    all.cpu_ns += jobs[i].done.cpu_ns;
    all.units += jobs[i].done.units;
  }
  close(pipe_fds[1]);
  pthread_join(reader_thread, nullptr);
  close(pipe_fds[0]);

  printf("bw_service: workers=%d reader=%s\n", count, reader.eof ? "eof" : "error");
  std::string rss = "{\"rss_series\":[";
  for (size_t i = 0; i < series.size(); ++i) {
    char item[96];
    snprintf(item, sizeof item, "%s[%.3f,%ld,%.3f]", i ? "," : "", series[i].t,
             series[i].rss_kib, series[i].writer_ms);
    rss += item;
  }
  printf("%s]}\n", rss.c_str());

  bw::TruthLine truth(start);
  truth.function("bw_service_walk", all.cpu_ns);
  truth.extra("workers", count);
  truth.extra("eintr_sleep", g_eintr_sleep.load());
  truth.extra("eintr_read", g_eintr_read.load());
  truth.extra("short_sleeps", g_short.load());
  truth.extra("main_cpu_s", static_cast<double>(bw::thread_cpu_ns()) * 1e-9);
  truth.extra("writer_cpu_s", named_thread_cpu_s("profpre-write"));
  truth.print(all.units, bw::rusage_cpu_s(RUSAGE_SELF));
  return 0;
}
