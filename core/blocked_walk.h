// Stacks of our own threads that are blocked in the kernel, taken from the
// collector thread without signalling them.
//
// Wall-clock profiling needs the stack of a thread sleeping in nanosleep,
// poll, a futex or read. A signal would get it, but would also make poll and
// nanosleep return EINTR in a program that never asked for one. Linux tells
// any thread of the process where a blocked sibling stopped:
// /proc/self/task/TID/syscall holds its user SP and PC. From there the stack
// is walked with libunwind's remote API and our own accessors:
//
//   - Memory is read with process_vm_readv on our own pid, never by
//     dereferencing: the thread may wake during the walk and rewrite its
//     stack, or exit and have it unmapped, and a library may be dlclose'd
//     under us. A failed read is a failed walk, never a fault. Reads are
//     served from page copies: stack pages are copied once per walk, pages of
//     loaded objects (code, unwind tables) are kept across walks while the
//     same object is still mapped there.
//   - Unwind tables are found with glibc's _dl_find_object (lock-free) and
//     searched through each object's .eh_frame_hdr binary-search table.
//   - The kernel gives SP and PC only. Code built with frame pointers, and
//     any function that calls alloca, has unwind rules of the form
//     "CFA = RBP + 16", so the walk may need RBP once it leaves the libc
//     wrapper (which leaves RBP alone). See walk_blocked_thread for the guess.
//
// The result is racy by nature: nothing stops the thread from waking between
// the read of its blocked point and the copy of its stack, and such a walk
// may end early or hold stale frames. A caller that wants certainty reads the
// blocked point again after the walk and drops the stack if it changed.
//
// Costs, measured by the unit test on a 9-frame stack: about 7-9 us of CPU
// per walk once libunwind has cached the frames' rules, plus about 7 us to
// read the syscall file. Debian's libunwind 1.6 has no lock-free cache for
// this: each step takes a mutex with every signal blocked (two sigprocmask
// calls). Its first use also opens a pipe (for memory checks it never makes
// on our behalf) that stays open for the life of the process, at the lowest
// free descriptors unless the interposed pipe2 moves it (in_blocked_walker).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace profpre {

// kRunnable and kBriefWait are never read from /proc: the wall-mode
// collector (core/collector.cc) gives them to time a thread spent waiting
// for a CPU, and to time it spent blocked between two ticks that both found
// it running.
enum class ThreadState : uint8_t {
  kUnknown,
  kRunning,
  kSleeping,
  kDiskWait,
  kStopped,
  kZombie,
  kRunnable,
  kBriefWait,
};

// A thread's files under /proc/self/task/TID/ that a caller reads again and
// again: held open, each read is one pread instead of a path lookup, an
// open, a read and a close (about a third of the time, measured cold after
// our thread's sleep between ticks). A file is held only on a thread with
// its own descriptor table (core/private_files.h), at most kMaxHeldTaskFiles
// across the process, and only below half of RLIMIT_NOFILE; past that,
// reads open and close.
enum class TaskFile { kStat, kSchedstat, kSyscall };
inline constexpr int kTaskFileKinds = 3;
inline constexpr int kMaxHeldTaskFiles = 384;

struct TaskFiles {
  int fd[kTaskFileKinds] = {-1, -1, -1};
};

// Reads /proc/self/task/TID/<file> into buffer, NUL-terminated: its length,
// or -1 when it cannot be read (the thread is gone). With `held`, keeps the
// file open there for the next read, budget allowing. A held file that
// fails is closed and opened afresh once, in case the tid now names a new
// thread. Not for the signal handler: opens files.
ssize_t read_task_file(pid_t tid, TaskFile file, TaskFiles* held, char* buffer, size_t size);

// Closes what `held` holds. Not for the signal handler.
void release_task_files(TaskFiles* held);

// Task files held now, across the process.
int held_task_files();

// In a forked child: the parent's held files are not in its tables.
void forget_held_task_files();

// The state letter of /proc/self/task/TID/stat: R is kRunning, S kSleeping,
// D kDiskWait, T and t kStopped, Z and X kZombie; anything else, or a thread
// that is gone, kUnknown. Not for the signal handler: opens a file.
ThreadState read_thread_state(pid_t tid, TaskFiles* held = nullptr);

// Where a blocked thread stopped: the system call number (-1 when it is
// blocked outside any system call, in a page fault for instance) and its
// user-space stack pointer and program counter.
struct BlockedPoint {
  long syscall = -1;
  uint64_t sp = 0;
  uint64_t pc = 0;
};

// Reads /proc/self/task/TID/syscall into `out`. False when the thread is
// running, gone, or the file does not parse. Not for the signal handler:
// opens a file.
bool read_blocked_point(pid_t tid, BlockedPoint* out, TaskFiles* held = nullptr);

// The parser behind read_blocked_point, on the file's text: "running", or
// "-1 SP PC", or "NR ARG1 .. ARG6 SP PC" with every value but NR in 0x-hex,
// fields separated by single spaces. A zero SP or PC counts as not parsed:
// there is nothing to walk from. Not for the signal handler: kept with its
// caller, which opens a file.
bool parse_blocked_point(std::string_view text, BlockedPoint* out);

// Opens libunwind's remote unwinder (libunwind-x86_64.so.8) privately, as
// unwinder.h does the local one, notes its code range (in_blocked_walker)
// before its first call, creates our address space, and registers a fork
// handler (see walk_blocked_thread). False when process_vm_readv may
// not read our own memory (a seccomp filter can forbid it; dlerror() then
// says nothing), when the library is missing, or when a symbol is. Idempotent;
// call it from one thread at a time. Not for the signal handler: dlopen.
bool blocked_walk_load();

// Whether `address` is code of the libunwind-x86_64.so.8 that
// blocked_walk_load opened (false before). Like in_unwinder (unwinder.h), for
// the interposed pipe2 and sigprocmask to recognise libunwind's own calls:
// its first use opens a pipe, and its cache lock blocks every signal.
// Handler-safe: two relaxed atomic loads.
bool in_blocked_walker(const void* address);

// Walks the user stack of a blocked thread of this process from `at`, into
// at most `max` PCs, leaf first: the leaf PC exact, every caller's return
// address minus 1 (as unwind_into in core/handler.cc; a frame interrupted by
// a signal is exact again). Returns the depth. When the walk stops on an
// error rather than at the outermost frame the last entry is
// kPcUnwindFailed; when it reaches `max` the last entry is kPcTruncated
// (core/thread_slots.h). Never faults, whatever the stack holds. Before
// blocked_walk_load has succeeded: the leaf and kPcUnwindFailed.
//
// RBP is asked for only when a frame's rule needs the value it had at the
// blocked point, i.e. no frame below saved it. It is then guessed as that
// frame's own frame record: scanning upward from the frame's SP, the first
// 8-aligned word W such that W+8 holds a return address, meaning an address
// inside a loaded object right after a call instruction that is either a
// direct call to the frame's function (or to a PLT stub whose GOT slot holds
// it; to any PLT stub when the frame has no unwind information) or an
// indirect call. If no such word lies within 64 KiB, the first
// one after a direct call to another function is taken (the frame may have
// been entered by a tail call). Known limits: a local of that frame holding
// a code pointer that follows a call instruction is taken for the record and
// the walk goes wrong from there, usually ending in kPcUnwindFailed; a frame
// entered by a tail call may lose its caller; a frame with more than 64 KiB
// of locals below its record ends the walk.
//
// Walks are serialized by a mutex, which fork() also takes (pthread_atfork)
// so that no child inherits libunwind's cache mutex locked by a walk in
// progress; a fork waits for that walk. Like the handler's unwinder,
// libunwind keeps the unwind rules it parsed, keyed by address, after a
// library is unloaded; a library loaded later at the same address may be
// walked with stale rules. Not for the signal handler: system calls, locks,
// allocation in libunwind.
uint32_t walk_blocked_thread(const BlockedPoint& at, uint64_t* pcs, uint32_t max);

}  // namespace profpre
