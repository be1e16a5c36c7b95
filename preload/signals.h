// Signals: what we take over, and how the program keeps its own view.
//
// We install handlers for the sampling signal, for the dump signal if one is
// configured (PROF_DUMP_SIGNAL: ask the collector for a dump, nothing else),
// for the termination signals
// whose action is the default (SIGTERM, SIGINT, SIGHUP, SIGQUIT: write the
// profile, then die by the same signal) and for the crash signals (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGABRT: write what can be written in a short,
// bounded time, then die exactly as the program would have, core dump
// included; a fault inside our own stack walk ends that walk instead).
//
// sigaction and signal are interposed. For a signal we manage they report
// and record what the program asked for, so the program sees its own
// handlers. A program that installs its own termination handler gets the
// signal back outright; its own SIGPROF or crash handler is kept and called
// from ours for every signal that is not ours. Masks that block the sampling
// signal have it removed, unless the program handles that signal itself, and
// the program is told the mask it asked for.
#pragma once

#include <signal.h>
#include <ucontext.h>

namespace profpre {

// How long a dying process waits for its profile to be written.
inline constexpr int kTerminationWriteTimeoutMs = 10000;
inline constexpr int kCrashWriteTimeoutMs = 2000;

// Takes over the signals above. `sampling_signo` already has the sampling
// handler (core/handler.cc); its previous action is `previous`. A nonzero
// `dump_signo` (named `dump_text` in messages) gets the dump handler, unless
// it already has an action other than the default: then it is refused with
// one line. A program that later sets its own action for it gets the signal
// back, and dumps end, with one line.
// Not for the signal handler: calls sigaction.
void signals_install(int sampling_signo, const struct sigaction& previous, int dump_signo,
                     const char* dump_text);

// True when the program handles the sampling signal itself.
// Handler-safe: reads one atomic.
bool program_handles_sampling_signal();

// Gives a signal that is not one of our timer's to the program: its handler,
// or its default action, except that a SIGPROF that would kill the program
// is ignored. Handler-safe: calls only the program's handler and system
// calls.
void forward_to_program(int signo, siginfo_t* info, void* ucontext);

// Says once on stderr that the program arms a timer of its own for `signo`,
// when that is our sampling signal. Not for the signal handler: logs.
void report_program_timer(int signo);

// sigprocmask as the program sees it: the sampling signal kept unblocked
// (see above). Not for the signal handler: may call dlsym.
int program_sigprocmask(int how, const sigset_t* set, sigset_t* old);

// libc's sigprocmask, unfiltered. Not for the signal handler: may call dlsym.
int real_sigprocmask(int how, const sigset_t* set, sigset_t* old);

// Unblocks the sampling signal in the calling thread unless the program
// handles it. Not for the signal handler: calls pthread_sigmask.
void unblock_sampling_signal();

// Whether the program believes the calling thread blocks the sampling
// signal (it asked to, and we did not let it). Set by the thread start
// trampoline from the creating thread's belief.
bool thread_believes_sampling_blocked();
void set_thread_believes_sampling_blocked(bool blocked);

}  // namespace profpre
