// Ground truth: CPU split between a parent and the programs it starts. The
// parent burns in bw_forkexec_parent, and between its slices forks and execs
// itself (through /proc/self/exe) as a child that burns in bw_forkexec_child,
// one child at a time. Each child reports its units, its function's CPU and
// its own getrusage at its last instruction on a pipe. The parent prints the
// CPU of both functions and, as rusage_cpu_s, its own getrusage plus the
// children's reports; children_rusage_cpu_s is RUSAGE_CHILDREN, which also
// holds whatever the children spent after their last instruction.
//
//   bw_forkexec [seconds of CPU per process, default 0.25] [children, default 3]
//   bw_forkexec --child SECONDS   (what the parent execs)
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "scripts/bench/workload.h"

namespace {

// One child's report, read back by the parent.
struct ChildReport {
  long long units = 0;
  long long cpu_ns = 0;
  double rusage_cpu_s = 0;
};

}  // namespace

// C linkage and noipa (no inlining, cloning or identical-code folding): each
// name stays one real function that profiles can show.
extern "C" __attribute__((noipa)) bw::Burned bw_forkexec_parent(int64_t ns) {
  return bw::burn(ns);
}
extern "C" __attribute__((noipa)) bw::Burned bw_forkexec_child(int64_t ns) {
  return bw::burn(ns);
}

namespace {

int child_main(int64_t budget_ns) {
  bw::Burned done = bw_forkexec_child(budget_ns);
  printf("units=%lld cpu_ns=%lld rusage_cpu_s=%.6f\n", static_cast<long long>(done.units),
         static_cast<long long>(done.cpu_ns), bw::rusage_cpu_s(RUSAGE_SELF));
  fflush(stdout);
  return 0;
}

// Starts one child with its stdout on a pipe, reads its report, reaps it.
ChildReport run_child(const char* seconds) {
  int fds[2];
  if (pipe(fds) != 0) abort();
  pid_t pid = fork();
  if (pid < 0) abort();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    char* args[] = {const_cast<char*>("bw_forkexec"), const_cast<char*>("--child"),
                    const_cast<char*>(seconds), nullptr};
    execv("/proc/self/exe", args);
    _exit(127);
  }
  close(fds[1]);
  char text[256] = {};
  size_t used = 0;
  for (ssize_t n = 1; n > 0 && used < sizeof text - 1; used += static_cast<size_t>(n)) {
    n = read(fds[0], text + used, sizeof text - 1 - used);
    if (n < 0) n = 0;
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ChildReport report;
  if (sscanf(text, "units=%lld cpu_ns=%lld rusage_cpu_s=%lf", &report.units, &report.cpu_ns,
             &report.rusage_cpu_s) != 3 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bw_forkexec: a child failed: %s\n", text);
    exit(1);
  }
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && strcmp(argv[1], "--child") == 0) {
    return child_main(bw::seconds_arg(argc, argv, 2, 0.25));
  }
  int64_t start = bw::clock_ns(CLOCK_MONOTONIC);
  const char* seconds = argc > 1 ? argv[1] : "0.25";
  int64_t budget_ns = bw::seconds_arg(argc, argv, 1, 0.25);
  int children = bw::int_arg(argc, argv, 2, 3);

  // The parent's budget in one slice before each child and one after the last.
  bw::Burned parent;
  ChildReport all;
  for (int i = 0; i <= children; ++i) {
    bw::Burned done = bw_forkexec_parent(budget_ns / (children + 1));
    parent.cpu_ns += done.cpu_ns;
    parent.units += done.units;
    if (i == children) break;
    ChildReport child = run_child(seconds);
    all.units += child.units;
    all.cpu_ns += child.cpu_ns;
    all.rusage_cpu_s += child.rusage_cpu_s;
  }

  bw::TruthLine truth(start);
  truth.function("bw_forkexec_parent", parent.cpu_ns);
  truth.function("bw_forkexec_child", all.cpu_ns);
  truth.extra("children", children);
  truth.extra("children_rusage_cpu_s", bw::rusage_cpu_s(RUSAGE_CHILDREN));
  truth.print(parent.units + all.units, bw::rusage_cpu_s(RUSAGE_SELF) + all.rusage_cpu_s);
  return 0;
}
