// Interposed libc entry points.
//
// pthread_create: every thread the program starts runs a short trampoline
// first that gives it a slot and a CPU timer, then the program's own start
// routine. The thread's exit hook (a pthread key destructor) hands its
// samples over when it returns or calls pthread_exit.
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "preload/libc_next.h"
#include "preload/naming.h"
#include "preload/runtime.h"
#include "preload/signals.h"

namespace {

struct ThreadStart {
  void* (*start)(void*);
  void* arg;
  bool believes_blocked;  // the creator's view of the sampling signal
};

void* start_trampoline(void* raw) {
  ThreadStart start = *static_cast<ThreadStart*>(raw);
  free(raw);
  // Threads inherit their creator's mask; a creator that blocked every
  // signal would otherwise leave its workers unsampled for good.
  profpre::unblock_sampling_signal();
  profpre::set_thread_believes_sampling_blocked(start.believes_blocked);
  profpre::runtime_register_current_thread(start.start);
  return start.start(start.arg);
}

}  // namespace

// Not for the signal handler: pthread_create is not async-signal-safe.
extern "C" __attribute__((visibility("default")))  // interposes libc's
int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                   void* arg) {
  if (!profpre::runtime_active()) return profpre::real_pthread_create(thread, attr, start, arg);
  auto* boxed = static_cast<ThreadStart*>(malloc(sizeof(ThreadStart)));
  if (boxed == nullptr) return profpre::real_pthread_create(thread, attr, start, arg);
  *boxed = ThreadStart{start, arg, profpre::thread_believes_sampling_blocked()};
  int rc = profpre::real_pthread_create(thread, attr, start_trampoline, boxed);
  if (rc != 0) free(boxed);
  return rc;
}

// The exec family. Before the image is replaced its profile is written, and
// the new image learns from one environment entry how many profiles this
// process wrote (see naming.h); it removes the entry before the program can
// see it. If the exec fails, profiling resumes. A vfork child shares our
// memory and must change nothing: runtime_before_exec tells it apart.
// glibc's execvp and friends call execve internally, not through the PLT,
// so each entry point is interposed.

namespace {

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);

constinit std::atomic<ExecveFn> g_real_execve{nullptr};
constinit std::atomic<ExecveFn> g_real_execvpe{nullptr};
constinit std::atomic<FexecveFn> g_real_fexecve{nullptr};
constinit std::atomic<ExecveatFn> g_real_execveat{nullptr};

bool is_seq_entry(const char* entry) {
  size_t n = sizeof profpre::kExecSeqVariable - 1;
  return strncmp(entry, profpre::kExecSeqVariable, n) == 0 && entry[n] == '=';
}

// Runs exec(envp') where envp' is envp with our entry set, on the stack.
// Not for the signal handler: writes the profile first.
template <typename Exec>
int exec_with_sequence(char* const envp[], Exec exec) {
  int seq = profpre::runtime_before_exec();
  if (seq < 0) return exec(envp);
  size_t n = 0;
  while (envp != nullptr && envp[n] != nullptr) ++n;
  auto** env = static_cast<char**>(alloca((n + 2) * sizeof(char*)));
  char entry[64];
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_seq_entry(envp[i])) env[k++] = envp[i];
  }
  if (seq > 0 && profpre::format_exec_seq(getpid(), seq, entry, sizeof entry)) env[k++] = entry;
  env[k] = nullptr;
  int rc = exec(env);
  int saved = errno;
  profpre::runtime_after_failed_exec();
  errno = saved;
  return rc;
}

// The number of entries an execl-style list needs in argv, counting
// `first` and the terminating null.
size_t argv_entries(va_list args) {
  va_list count;
  va_copy(count, args);
  size_t n = 2;
  while (va_arg(count, char*) != nullptr) ++n;
  va_end(count);
  return n;
}

// Fills argv[0..n) from `first` and the list, null included.
void fill_argv(const char* first, va_list* args, char** argv, size_t n) {
  argv[0] = const_cast<char*>(first);
  for (size_t i = 1; i < n; ++i) argv[i] = va_arg(*args, char*);
}

}  // namespace

extern "C" {

__attribute__((visibility("default")))  // interposes libc's
int execve(const char* path, char* const argv[], char* const envp[]) {
  auto real = profpre::next_definition(g_real_execve, "execve");
  return exec_with_sequence(envp, [&](char* const* env) { return real(path, argv, env); });
}

__attribute__((visibility("default")))  // interposes libc's
int execv(const char* path, char* const argv[]) {
  auto real = profpre::next_definition(g_real_execve, "execve");
  return exec_with_sequence(environ, [&](char* const* env) { return real(path, argv, env); });
}

__attribute__((visibility("default")))  // interposes libc's
int execvpe(const char* file, char* const argv[], char* const envp[]) {
  auto real = profpre::next_definition(g_real_execvpe, "execvpe");
  return exec_with_sequence(envp, [&](char* const* env) { return real(file, argv, env); });
}

__attribute__((visibility("default")))  // interposes libc's
int execvp(const char* file, char* const argv[]) {
  return execvpe(file, argv, environ);
}

__attribute__((visibility("default")))  // interposes libc's
int fexecve(int fd, char* const argv[], char* const envp[]) {
  auto real = profpre::next_definition(g_real_fexecve, "fexecve");
  return exec_with_sequence(envp, [&](char* const* env) { return real(fd, argv, env); });
}

__attribute__((visibility("default")))  // interposes libc's
int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  auto real = profpre::next_definition(g_real_execveat, "execveat");
  return exec_with_sequence(envp,
                            [&](char* const* env) { return real(dirfd, path, argv, env, flags); });
}

__attribute__((visibility("default")))  // interposes libc's
int execl(const char* path, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  size_t n = argv_entries(args);
  auto** argv = static_cast<char**>(alloca(n * sizeof(char*)));
  fill_argv(arg, &args, argv, n);
  va_end(args);
  return execv(path, argv);
}

__attribute__((visibility("default")))  // interposes libc's
int execlp(const char* file, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  size_t n = argv_entries(args);
  auto** argv = static_cast<char**>(alloca(n * sizeof(char*)));
  fill_argv(arg, &args, argv, n);
  va_end(args);
  return execvp(file, argv);
}

__attribute__((visibility("default")))  // interposes libc's
int execle(const char* path, const char* arg, ...) {
  va_list args;
  va_start(args, arg);
  size_t n = argv_entries(args);
  auto** argv = static_cast<char**>(alloca(n * sizeof(char*)));
  fill_argv(arg, &args, argv, n);
  char* const* envp = va_arg(args, char* const*);
  va_end(args);
  return execve(path, argv, envp);
}

// _exit skips atexit: the profile is written here, with a bounded wait since
// the caller may be a signal handler of the program's.
__attribute__((visibility("default"), noreturn))  // interposes libc's
void _exit(int status) {
  profpre::runtime_before_exit();
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

__attribute__((visibility("default"), noreturn))  // interposes libc's
void _Exit(int status) {
  _exit(status);
}

}  // extern "C"
