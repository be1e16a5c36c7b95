// The library's entry: start at load, threads, fork, and the write at exit.
//
// Start (constructor): read the configuration, map the first slots, install
// the handler, start the collector, give the calling thread and any thread
// that already exists a slot and a CPU timer, and register the exit hook.
// Exit (atexit, so after the program's own exit handlers and destructors):
// stop sampling, delete every timer, and let the collector build and write the
// profile while the exiting thread waits. The handler stays installed for the
// life of the process and ignores late signals, because SIGPROF's default
// action would kill a process that still has one pending.
// Fork: the child has one thread, no timers and a copy of the parent's
// buffers; it drops the copy and starts over with its own output name.
#include <dirent.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <string>
#include <vector>

#include "core/accounting.h"
#include "core/collector.h"
#include "core/handler.h"
#include "core/private_files.h"
#include "core/thread_slots.h"
#include "core/timers.h"
#include "encoder/encode.h"
#include "encoder/gzip.h"
#include "encoder/output_file.h"
#include "encoder/profile_builder.h"
#include "preload/config.h"
#include "preload/log.h"
#include "preload/naming.h"
#include "preload/runtime.h"
#include "preload/signals.h"
#include "preload/unloaded.h"
#include "preload/writer.h"
#include "symbolize/maps.h"
#include "symbolize/symbol_cache.h"

namespace profpre {

namespace {

enum Phase : int { kOff = 0, kRunning = 1, kStopped = 2 };

constinit Config g_config{};
constinit std::atomic<int> g_phase{kOff};
constinit char g_out_path[PATH_MAX] = {};
constinit pthread_key_t g_exit_key = 0;
constinit struct sigaction g_previous_action = {};
constinit int64_t g_start_wall_ns = 0;
constinit int64_t g_start_mono_ns = 0;
constinit std::atomic<bool> g_timer_error_logged{false};
constexpr int kExitedSlotsBeforeWake = 32;
// This process image: its pid (to tell a vfork child, which shares our
// memory, from us), whether it is the root of the tree, its exec sequence.
constinit ImageIdentity g_identity{};
// Images of this process that have written a profile, across one exec
// chain, and whether this image has.
constinit std::atomic<int> g_files_written{0};
constinit std::atomic<bool> g_image_wrote{false};
// Windows and dumps of this image so far: their files' numbers.
constinit int g_window_seq = 0;
constinit int g_dump_seq = 0;
// Addresses symbolized by earlier windows and dumps of this image. Used by
// one thread at a time (writer.h); left behind in a forked child.
constinit SymbolCache* g_symbols = nullptr;

// What a write is for: an image that is about to exec and recorded nothing
// leaves no file; the program it becomes writes its own.
struct WriteRequest {
  bool skip_if_empty = false;
};

bool windows_or_dumps() { return g_config.interval_ns > 0 || g_config.dump_signo != 0; }

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
constinit std::atomic<PthreadCreateFn> g_real_pthread_create{nullptr};

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

pid_t current_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Runs as the thread's last pthread key destructor: after its C++
// thread_local destructors, whose CPU time is still sampled.
void thread_exit_hook(void* raw) {
  auto* slot = static_cast<ThreadSlot*>(raw);
  // First: a signal still pending must not look this slot up again once it
  // is handed over below.
  t_exiting = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  timer_disarm(slot->timer_id.exchange(-1, std::memory_order_acq_rel));
  settle_slot(slot, g_config.period_ns);
  if (g_config.wall) {
    slot->end_cpu_ns.store(static_cast<uint64_t>(clock_ns(CLOCK_THREAD_CPUTIME_ID)),
                           std::memory_order_relaxed);
    slot->wall_end_ns.store(clock_ns(CLOCK_MONOTONIC), std::memory_order_relaxed);
  }
  t_slot = nullptr;
  prctl(PR_GET_NAME, slot->name, 0, 0, 0);
  // A swarm of short threads would otherwise hold slots until the next
  // periodic pass and make the pool grow.
  if (slot_mark_exited(slot) > kExitedSlotsBeforeWake) collector_wake();
}

void arm_timer(ThreadSlot* slot, pid_t tid) {
  // Another thread's timer fails when it has just ended: nothing to say.
  if (!arm_slot_timer(slot, tid, g_config.signo, g_config.period_ns) && tid == current_tid() &&
      !g_timer_error_logged.exchange(true)) {
    LogLine().add("cannot create a CPU timer for thread ").add_int(tid).add(": ")
        .add_errno(errno).add("; it is not sampled").emit();
  }
}

// Gives a thread a slot and its own timer; `start_pc` is its start routine.
ThreadSlot* register_thread(pid_t tid, bool is_current, uint64_t start_pc = 0) {
  ThreadSlot* slot = slot_claim_growing(tid);
  if (slot == nullptr) return nullptr;  // the pool is full: not sampled
  slot->start_pc.store(start_pc, std::memory_order_relaxed);
  if (g_config.wall) {
    uint64_t cpu = is_current ? static_cast<uint64_t>(clock_ns(CLOCK_THREAD_CPUTIME_ID))
                              : thread_cpu_ns(tid);
    slot->start_cpu_ns.store(cpu, std::memory_order_relaxed);
    slot->wall_start_ns.store(clock_ns(CLOCK_MONOTONIC), std::memory_order_relaxed);
  }
  if (is_current) {
    t_slot = slot;
    t_exiting = false;
    pthread_setspecific(g_exit_key, slot);
  }
  arm_timer(slot, tid);
  return slot;
}

// The threads of this process that have no slot, but ours.
std::vector<pid_t> threads_without_slot() {
  std::vector<pid_t> found;
  pid_t self = current_tid();
  pid_t collector = collector_tid();
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return found;
  while (dirent* entry = readdir(dir)) {
    pid_t tid = static_cast<pid_t>(atoi(entry->d_name));
    if (tid > 0 && tid != self && tid != collector && slot_find(tid) == nullptr) {
      found.push_back(tid);
    }
  }
  closedir(dir);
  return found;
}

// Threads started before us, by other libraries' constructors: their timers
// are armed by tid; the collector notices when they end.
void register_other_threads() {
  for (pid_t tid : threads_without_slot()) {
    ThreadSlot* slot = register_thread(tid, false);
    if (slot == nullptr) continue;
    // Their end runs no exit hook of ours: take the name now, in case.
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", static_cast<int>(tid));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, slot->name, sizeof slot->name - 1);
    close(fd);
    if (n > 0 && slot->name[n - 1] == '\n') slot->name[n - 1] = '\0';
  }
}

std::string main_executable() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  std::string exe(path, static_cast<size_t>(n));
  const std::string deleted = " (deleted)";
  if (exe.size() > deleted.size() && exe.ends_with(deleted)) exe.resize(exe.size() - deleted.size());
  return exe;
}

// /proc/self/cmdline with its NULs as spaces, cut at a few hundred bytes.
std::string command_line() {
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return {};
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) c = c == '\0' ? ' ' : c;
  return text;
}

// Who wrote the profile, as key=value comments (pprof -comments shows them):
// what report and merge tools use to label processes.
std::vector<std::string> identity_comments(const std::string& exe) {
  return {"profpre " PROFPRE_VERSION, "pid=" + std::to_string(getpid()), "exe=" + exe,
          "cmdline=" + command_line(), "hz=" + std::to_string(g_config.hz),
          std::string("mode=") + (g_config.wall ? "wall" : "cpu")};
}

uint64_t latency_percentile(const CollectorStats& s, double fraction) {
  uint64_t total = 0;
  for (uint64_t n : s.latency) total += n;
  if (total == 0) return 0;
  uint64_t seen = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    seen += s.latency[b];
    if (static_cast<double>(seen) >= fraction * static_cast<double>(total)) {
      return latency_bucket_upper(b);
    }
  }
  return latency_bucket_upper(kLatencyBuckets - 1);
}

void log_stats(const CollectorStats& s, int64_t build_ns, size_t bytes) {
  uint64_t mean = s.samples > 0 ? s.handler_ns / s.samples : 0;
  LogLine()
      .add("stats: samples=").add_int(static_cast<int64_t>(s.samples))
      .add(" lost=").add_int(static_cast<int64_t>(s.lost_samples))
      .add(" overruns=").add_int(static_cast<int64_t>(s.overruns))
      .add(" unwind_failures=").add_int(static_cast<int64_t>(s.unwind_failures))
      .add(" truncated=").add_int(static_cast<int64_t>(s.truncated))
      .add(" threads=").add_int(static_cast<int64_t>(s.threads))
      .add(" handler_mean_ns=").add_int(static_cast<int64_t>(mean))
      .add(" handler_p99_ns=").add_int(static_cast<int64_t>(latency_percentile(s, 0.99)))
      .add(" exit_build_ms=").add_int(build_ns / 1000000)
      .add(" bytes=").add_int(static_cast<int64_t>(bytes))
      .add(" buffers_peak_kib=").add_int(static_cast<int64_t>(s.peak_buffer_bytes / 1024))
      .add(" collector_cpu_ms=").add_int(static_cast<int64_t>(s.collector_cpu_ns / 1000000))
      .add(" wall_ticks=").add_int(static_cast<int64_t>(s.wall_ticks))
      .add(" blocked_walks=").add_int(static_cast<int64_t>(s.blocked_walks))
      .add(" wall_looks=").add_int(static_cast<int64_t>(s.wall_looks))
      .emit();
}

// Libraries dlclose unloaded: their segments join the maps, unless another
// library has taken their addresses since, and the symbolizer reopens them.
std::vector<UnloadedSource> add_unloaded_modules(std::vector<MapEntry>* maps) {
  std::vector<UnloadedSource> sources;
  for (const UnloadedModule& m : unloaded_modules()) {
    bool reused = false;
    for (const MapEntry& seg : m.segments) {
      for (const MapEntry& e : *maps) reused |= e.start < seg.limit && seg.start < e.limit;
    }
    if (reused) continue;
    maps->insert(maps->end(), m.segments.begin(), m.segments.end());
    sources.push_back({m.path, m.load_bias});
  }
  return sources;
}

// Builds the profile of `snapshot` and writes it to `path`; true when a
// file was written. Runs on the collector or the writer thread, one at a
// time.
bool build_and_write(Snapshot& snapshot, const char* path, const WriteRequest& request,
                     bool last) {
  if (request.skip_if_empty && snapshot.stacks.empty()) return false;
  int64_t build_start = clock_ns(CLOCK_MONOTONIC);
  BuildOptions options;
  options.period_ns = g_config.period_ns;
  options.time_nanos = g_start_wall_ns + (snapshot.start_mono_ns - g_start_mono_ns);
  options.duration_nanos = snapshot.end_mono_ns - snapshot.start_mono_ns;
  options.main_executable = main_executable();
  options.comments = identity_comments(options.main_executable);
  options.wall = g_config.wall;

  std::string encoded;
  {
    if (g_symbols == nullptr) g_symbols = new SymbolCache();
    std::vector<MapEntry> maps = read_maps();
    g_symbols->begin(maps, add_unloaded_modules(&maps));
    encoded = encode_profile(build_profile(snapshot, maps, *g_symbols, options));
    // In our own descriptor table libdw's descriptors (one per module) cost
    // the program nothing, and the next window reuses what libdw read; in
    // the program's table they are closed before the output is opened.
    g_symbols->end(/*keep_open=*/has_private_descriptor_table());
  }
  if (encoded.empty()) {  // a real encoding holds at least the string table
    LogLine().add("cannot write the profile: out of memory while encoding").emit();
    return false;
  }
  std::string gz;
  std::string error;
  if (!gzip_compress(encoded, &gz, &error) || !write_file_atomically(path, gz, &error)) {
    LogLine().add("cannot write the profile: ").add(error).emit();
    return false;
  }
  if (!g_image_wrote.exchange(true)) g_files_written.fetch_add(1);
  if (g_config.verbose) LogLine().add("wrote ").add(path).emit();
  if (g_config.stats && last) {
    log_stats(snapshot.stats, clock_ns(CLOCK_MONOTONIC) - build_start, gz.size());
  }
  return true;
}

// The file of window or dump number `sequence` of this image.
bool sequenced_path(SnapshotKind kind, int sequence, char* out, size_t size) {
  const char* prefix = kind == SnapshotKind::kDump ? "dump" : "w";
  if (sequence_path(g_out_path, prefix, sequence, out, size)) return true;
  LogLine().add("PROF_OUT: path too long with its window or dump number").emit();
  return false;
}

// Builds and writes, letting nothing escape into the program.
void guarded_write(Snapshot& snapshot, const char* path, const WriteRequest& request, bool last) {
  try {
    build_and_write(snapshot, path, request, last);
  } catch (const std::exception& e) {
    LogLine().add("cannot write the profile: ").add(e.what()).emit();
  } catch (...) {
    LogLine().add("cannot write the profile: unexpected error").emit();
  }
}

// Runs on the writer thread.
void write_job(WriteJob& job) {
  char path[PATH_MAX];
  if (sequenced_path(job.kind, job.sequence, path, sizeof path)) {
    guarded_write(job.snapshot, path, WriteRequest{}, false);
  }
}

// Runs on the collector thread: a closed window or a dump goes to the
// writer, numbered.
void deliver_snapshot(Snapshot& snapshot, SnapshotKind kind, void*) {
  WriteJob job;
  job.kind = kind;
  job.sequence = kind == SnapshotKind::kDump ? ++g_dump_seq : ++g_window_seq;
  job.snapshot = std::move(snapshot);
  writer_submit(std::move(job));
}

// Runs on the collector thread at the end: the whole run, or with windows
// the last one, once the writer has written everything before it.
void finish_on_collector(Snapshot& snapshot, void* request) {
  writer_drain();
  const auto& req = *static_cast<const WriteRequest*>(request);
  if (g_config.interval_ns == 0) {
    guarded_write(snapshot, g_out_path, req, true);
    return;
  }
  char path[PATH_MAX];
  if (req.skip_if_empty && snapshot.stacks.empty()) {
    // An image about to exec: the last window is empty, but the statistics
    // line is still due.
    if (g_config.stats) log_stats(snapshot.stats, 0, 0);
    return;
  }
  if (sequenced_path(SnapshotKind::kWindow, ++g_window_seq, path, sizeof path)) {
    guarded_write(snapshot, path, req, true);
  }
}

void report_walker_unavailable() {
  LogLine().add("PROF_MODE=wall: cannot walk the stacks of blocked threads (libunwind-x86_64.so.8 "
                "or process_vm_readv unavailable); they are shown without their stacks").emit();
}

// Starts the collector (and the writer, with windows or dumps) for this
// image. Not for the signal handler.
bool start_background() {
  CollectorOptions options;
  options.start_mono_ns = g_start_mono_ns;
  options.window_ns = g_config.interval_ns;
  options.wall_period_ns = g_config.wall ? g_config.period_ns : 0;
  options.walker_unavailable = report_walker_unavailable;
  if (windows_or_dumps()) {
    if (!writer_running() && !writer_start(write_job, real_pthread_create)) {
      LogLine().add("cannot start the writer thread; no windows or dumps").emit();
    } else {
      options.deliver = deliver_snapshot;
    }
  }
  return collector_start(real_pthread_create, options);
}

// Stops every timer; the handler stays and ignores what is still pending.
void stop_sampling() {
  g_phase.store(kStopped);
  g_sampling.store(false, std::memory_order_release);
  slot_for_each([](ThreadSlot* slot) {
    timer_disarm(slot->timer_id.exchange(-1, std::memory_order_acq_rel));
    if (slot->state.load(std::memory_order_acquire) == kActive) {
      settle_slot(slot, g_config.period_ns);
    }
  });
}

// Writes the profile once per process image; later calls return at once.
// Handler-safe on the calling side when timeout_ms bounds the wait.
void stop_and_write(int timeout_ms, const WriteRequest& request = {}) {
  int expected = kRunning;
  if (!g_phase.compare_exchange_strong(expected, kStopped)) return;
  stop_sampling();
  WriteRequest copy = request;  // lives until the collector is done with it
  collector_finish(finish_on_collector, &copy, timeout_ms);
}

void at_exit() { stop_and_write(-1); }

bool set_output_path() {
  if (output_path_for(g_config.out_pattern, g_identity, g_out_path, sizeof g_out_path)) {
    return true;
  }
  LogLine().add("PROF_OUT: path too long once expanded; not profiling").emit();
  return false;
}

void after_fork_in_child() {
  if (g_phase.load() != kRunning) return;
  g_sampling.store(false, std::memory_order_release);
  slot_pool_after_fork();
  // Timers are not inherited; the slots and aggregate are the parent's.
  slot_for_each([](ThreadSlot* slot) {
    if (slot->state.load(std::memory_order_relaxed) != kFree) slot_release(slot);
  });
  collector_forget_after_fork();
  writer_forget_after_fork();
  g_symbols = nullptr;  // the parent's writer may have been using it
  forget_unloaded_modules();
  t_slot = nullptr;
  t_exiting = false;
  g_start_wall_ns = clock_ns(CLOCK_REALTIME);
  g_start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  g_identity = ImageIdentity{getpid(), false, 0};
  g_files_written.store(0);
  g_image_wrote.store(false);
  g_window_seq = g_dump_seq = 0;
  if (!set_output_path() || !start_background()) {
    g_phase.store(kStopped);
    return;
  }
  g_sampling.store(true, std::memory_order_release);
  register_thread(current_tid(), true);
}

const char* dlerror_text() {
  const char* text = dlerror();
  return text != nullptr ? text : "not found";
}

// True when our parent process has this library loaded: then we are part of
// a profiled tree, not its root. Not for the signal handler: allocates.
bool parent_is_profiled() {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", static_cast<int>(getppid()));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string maps;
  char buf[8192];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) maps.append(buf, static_cast<size_t>(n));
  close(fd);
  return maps.find("/libprofpre.so\n") != std::string::npos;
}

// Who this image is; takes the exec sequence an earlier image of this
// process left in the environment out of it, unseen by the program.
ImageIdentity identify_image() {
  ImageIdentity identity{getpid(), !parent_is_profiled(), 0};
  if (const char* seq = getenv(kExecSeqVariable)) {
    identity.exec_seq = parse_exec_seq(seq, identity.pid);
    unsetenv(kExecSeqVariable);
  }
  return identity;
}

bool start() {
  config_load(&g_config);
  if (!g_config.active) return false;
  g_identity = identify_image();
  g_files_written.store(g_identity.exec_seq);
  if (!set_output_path()) return false;
  if (!slot_pool_init()) {
    LogLine().add("cannot map sample buffers: ").add_errno(errno).add("; not profiling").emit();
    return false;
  }
  if (!handler_prepare_unwinder()) {
    LogLine().add("cannot load libunwind.so.8: ").add(dlerror_text()).add("; not profiling").emit();
    return false;
  }
  if (pthread_key_create(&g_exit_key, thread_exit_hook) != 0 ||
      !handler_install(g_config.signo, &g_previous_action)) {
    LogLine().add("cannot install the signal handler: ").add_errno(errno)
        .add("; not profiling").emit();
    return false;
  }
  g_start_wall_ns = clock_ns(CLOCK_REALTIME);
  g_start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  g_phase.store(kRunning);
  g_sampling.store(true, std::memory_order_release);
  register_thread(current_tid(), true);
  // Before the collector starts, so that the scan does not take our own
  // thread for one of the program's.
  register_other_threads();
  signals_install(g_config.signo, g_previous_action, g_config.dump_signo,
                  g_config.dump_signal_text);
  if (!start_background()) {
    LogLine().add("cannot start the collector thread; not profiling").emit();
    stop_sampling();
    return false;
  }
  atexit(at_exit);
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
  if (g_config.verbose) {
    LogLine().add("profiling at ").add_int(g_config.hz).add(" Hz into ").add(g_out_path).emit();
  }
  return true;
}

__attribute__((constructor)) void profpre_constructor() { start(); }

}  // namespace

bool runtime_active() { return g_phase.load(std::memory_order_acquire) == kRunning; }

void runtime_register_current_thread(void* (*start_routine)(void*)) {
  if (runtime_active()) {
    register_thread(current_tid(), true, reinterpret_cast<uint64_t>(start_routine));
  }
}

void runtime_write_before_death(int timeout_ms) { stop_and_write(timeout_ms); }

bool runtime_is_this_process() { return getpid() == g_identity.pid; }

int runtime_before_exec() {
  if (!runtime_active() || !runtime_is_this_process()) return -1;
  WriteRequest request;
  request.skip_if_empty = true;
  stop_and_write(-1, request);
  return g_files_written.load();
}

void runtime_after_failed_exec() {
  if (g_phase.load() != kStopped || !runtime_is_this_process()) return;
  // The next profile of this image must not replace the one just written.
  g_identity.exec_seq = g_files_written.load();
  g_image_wrote.store(false);
  g_window_seq = g_dump_seq = 0;
  g_start_wall_ns = clock_ns(CLOCK_REALTIME);
  g_start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  if (!set_output_path() || !start_background()) return;
  g_phase.store(kRunning);
  g_sampling.store(true, std::memory_order_release);
  slot_for_each([](ThreadSlot* slot) {
    pid_t tid = slot->tid.load(std::memory_order_relaxed);
    if (slot->state.load(std::memory_order_acquire) == kActive && tid != 0) arm_timer(slot, tid);
  });
}

void runtime_request_dump() {
  if (runtime_active() && runtime_is_this_process()) collector_request_dump();
}

void runtime_before_exit() {
  if (runtime_is_this_process()) stop_and_write(kTerminationWriteTimeoutMs);
}

int real_pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                        void* arg) {
  PthreadCreateFn fn = g_real_pthread_create.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<PthreadCreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
    if (fn == nullptr) return EAGAIN;
    g_real_pthread_create.store(fn, std::memory_order_release);
  }
  return fn(thread, attr, start, arg);
}

}  // namespace profpre
