"""Signals: the program sees its own dispositions, dies the way it would have
died, and its profile is written on the way out.

Every case runs the signals fixture with and without the profiler and
compares what the program printed and how it ended.
"""

import os
import select
import signal
import subprocess
import tempfile
import time

from pprof_helpers import (LIB, child_env, expect, fixture, numbers, read_profile, run,
                           run_tests)


def default_dispositions():
    """In the child: the signals under test start at their default action,
    whatever the test runner inherited (nohup and background jobs ignore
    SIGHUP, SIGINT and SIGQUIT)."""
    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(signo, signal.SIG_DFL)


def start(mode, env=None, preload=False):
    """Starts the fixture in `mode`; returns the process once it said ready."""
    child = child_env(env)
    if preload:
        child["LD_PRELOAD"] = LIB
    p = subprocess.Popen([fixture("signals"), mode], env=child, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=default_dispositions)
    ready, _, _ = select.select([p.stdout], [], [], 30)
    expect(ready and p.stdout.readline() == "ready\n", f"{mode}: expected 'ready' from the fixture")
    return p


def killed_run(mode, signo, env=None, preload=False):
    p = start(mode, env, preload)
    time.sleep(0.4)  # some CPU for the profile
    p.send_signal(signo)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_termination_signals_write_the_profile_and_kill_as_before():
    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        plain = killed_run("spin", signo)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prof.pb.gz")
            profiled = killed_run("spin", signo, {"PROF_OUT": out}, preload=True)
            expect(profiled[0] == plain[0] == -signo,
                   f"{signo.name}: expected death by the signal ({-signo}) with and without "
                   f"the profiler, saw {profiled[0]} and {plain[0]}")
            expect(profiled[2] == plain[2] == "", f"{signo.name}: expected no stderr, saw "
                   f"{profiled[2]!r}")
            p = read_profile(out)
            expect(p.with_function("signal_spin"),
                   f"{signo.name}: expected signal_spin in the profile written on the way out")


def test_a_handler_of_the_program_keeps_its_signal():
    plain = killed_run("handler", signal.SIGTERM)
    with tempfile.TemporaryDirectory() as tmp:
        profiled = killed_run("handler", signal.SIGTERM,
                              {"PROF_OUT": os.path.join(tmp, "p.pb.gz")}, preload=True)
    expect(plain == profiled == (5, "handled\n", ""),
           f"expected the program's SIGTERM handler to run (status 5, 'handled'), saw "
           f"{profiled} with the profiler and {plain} without")


def test_the_program_sees_its_own_dispositions():
    plain = run([fixture("signals"), "query"])
    with tempfile.TemporaryDirectory() as tmp:
        profiled = run([fixture("signals"), "query"], env={"PROF_OUT": f"{tmp}/p.pb.gz"},
                       preload=True)
    expect(numbers(plain.stdout) == {"term_default": 1, "hup_previous_default": 1,
                                     "hup_ignored": 1, "segv_default": 1},
           f"fixture: unexpected view without the profiler: {plain.stdout!r}")
    expect(profiled.stdout == plain.stdout and profiled.status == plain.status,
           f"expected the same dispositions as without the profiler:\n{plain.stdout}"
           f"saw:\n{profiled.stdout}")


def test_crashes_die_the_same_way():
    for mode, signo in (("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)):
        plain = run([fixture("signals"), mode])
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prof.pb.gz")
            profiled = run([fixture("signals"), mode], env={"PROF_OUT": out}, preload=True)
            expect(profiled.status == plain.status == -signo,
                   f"{mode}: expected death by {signo.name} with and without the profiler, saw "
                   f"{profiled.status} and {plain.status}")
            expect(profiled.stderr == plain.stderr, f"{mode}: stderr differs: {profiled.stderr!r}")
            p = read_profile(out)
            expect(p.with_function("signal_burn"),
                   f"{mode}: expected the CPU before the crash in the profile")


def test_the_programs_own_sigprof_keeps_working():
    plain = run([fixture("signals"), "own-sigprof"])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        profiled = run([fixture("signals"), "own-sigprof"], env={"PROF_OUT": out}, preload=True)
        p = read_profile(out)
    own, own_plain = numbers(profiled.stdout)["own_sigprof"], numbers(plain.stdout)["own_sigprof"]
    # 1 s of CPU in 5 ms steps, limited by the 4 ms tick: 100 to 200 signals.
    expect(own_plain >= 100, f"fixture: expected >= 100 SIGPROFs without us, saw {own_plain}")
    expect(own >= 0.8 * own_plain,
           f"expected the program's handler to see as many SIGPROFs as without the profiler "
           f"({own_plain}), saw {own}")
    lines = [l for l in profiled.stderr.splitlines() if l.startswith("profpre:")]
    expect(len(lines) == 1 and "own timer" in lines[0],
           f"expected one profpre: line reporting the program's own timer, saw {lines}")
    burn = sum(s.count for s in p.with_function("signal_burn"))
    expect(burn >= 50, f"expected our own samples of signal_burn (~100), saw {burn}")


def test_threads_that_block_every_signal_are_sampled():
    plain = run([fixture("signals"), "blocked"])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        profiled = run([fixture("signals"), "blocked"], env={"PROF_OUT": out}, preload=True)
        p = read_profile(out)
    expect(profiled.stdout == plain.stdout == "worker_sees_prof_blocked=1\n" * 2,
           f"expected each worker to see SIGPROF blocked, as without us; saw "
           f"{profiled.stdout!r} (without: {plain.stdout!r})")
    samples = sum(s.count for s in p.with_function("blocked_worker"))
    # Two workers, 0.5 s of CPU each, at 100 Hz.
    expect(samples >= 70, f"expected ~100 samples in blocked_worker, saw {samples}")


def test_system_calls_are_restarted():
    with tempfile.TemporaryDirectory() as tmp:
        r = run([fixture("signals"), "syscalls"],
                env={"PROF_OUT": os.path.join(tmp, "p.pb.gz"), "PROF_HZ": "1000"}, preload=True)
        p = read_profile(os.path.join(tmp, "p.pb.gz"))
    got = numbers(r.stdout)
    expect(got == {"bytes": 20000 * 512, "bad": 0, "eintr": 0},
           f"expected every byte read back intact and no EINTR, saw {r.stdout!r}")
    expect(p.total_count() >= 20, f"expected the reading thread sampled, saw {p.total_count()}")


if __name__ == "__main__":
    run_tests(test_termination_signals_write_the_profile_and_kill_as_before,
              test_a_handler_of_the_program_keeps_its_signal,
              test_the_program_sees_its_own_dispositions,
              test_crashes_die_the_same_way,
              test_the_programs_own_sigprof_keeps_working,
              test_threads_that_block_every_signal_are_sampled,
              test_system_calls_are_restarted)
