#!/usr/bin/env python3
"""e2e-dump: PROF_DUMP_SIGNAL=SIGNAL writes the profile so far,
prof.dump0001.pb.gz, prof.dump0002.pb.gz, ..., each time the signal comes,
while the program runs on; the normal profile is still written at exit. With
PROF_INTERVAL a dump covers the current window only. A program that sets its
own action for the signal gets it back (one `profpre: PROF_DUMP_SIGNAL=`
line) and sees its own view of it all along; a signal that is ignored at
start, or one that cannot be the dump signal, gives one line and no dumps.

The service fixture runs until the test writes "stop" on its stdin: the test
can look at a dump while the program still runs. What the program's threads
have burned at a given moment is read from /proc/PID/task/*/schedstat."""

import os
import re
import signal
import tempfile
import time

from pprof_helpers import (Child, cpu_tolerance, expect, expect_run_cpu, fixture, numbers,
                           profile_times, read_profile, run, run_tests, wait_for)

FILE_TIMEOUT = 30  # seconds to wait for a dump file: generous, on a loaded machine
LINE_TIMEOUT = 30
TICK_NS = 4 * 10**6  # the kernel tick: CPU timers fire on it (250 Hz or faster)


def default_usr2():
    """In the child: SIGUSR2 at its default action, whatever the runner left."""
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def ignored_usr2():
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def start(tmp, env, preload=True, preexec_fn=default_usr2, phase_a=1.0):
    """The service fixture under our control, with its stdout at 'ready'."""
    full = {"PROF_OUT": os.path.join(tmp, "prof.pb.gz"), **env} if preload else dict(env)
    child = Child([fixture("service"), "--workers", "2", "--phase-a", str(phase_a),
                   "--seconds", "0", "--control"],
                  env=full, cwd=tmp, preload=preload, stdin=True, preexec_fn=preexec_fn)
    expect(child.wait_line(r"^ready$", LINE_TIMEOUT) is not None,
           f"expected 'ready' from the fixture, saw {child.lines}")
    return child


def program_cpu_ns(pid):
    """The CPU used so far by the program's own threads (main and svc-*; not
    profpre's), from /proc: schedstat in ns, else stat in clock ticks."""
    total = 0
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/comm") as f:
                comm = f.read().strip()
            if int(tid) != pid and not comm.startswith("svc-"):
                continue
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                with open(f"{task_dir}/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")
        except OSError:
            continue  # a thread that has just ended
    return total


def dump_path(tmp, n):
    return os.path.join(tmp, f"prof.dump{n:04d}.pb.gz")


def dump_now(child, tmp, n, signo=signal.SIGUSR2):
    """Sends the signal, waits for dump number n; returns what the program
    had burned just before the signal and just after the file appeared, and
    when (CLOCK_REALTIME) the signal went and the file was seen."""
    before_cpu = program_cpu_ns(child.pid)
    sent_ns = time.time_ns()
    os.kill(child.pid, signo)
    appeared = wait_for(lambda: os.path.exists(dump_path(tmp, n)), FILE_TIMEOUT, 0.005)
    seen_ns = time.time_ns()
    after_cpu = program_cpu_ns(child.pid) if child.running() else None
    expect(appeared, f"expected {os.path.basename(dump_path(tmp, n))} within {FILE_TIMEOUT} s "
           f"of the signal, saw {sorted(os.listdir(tmp))}")
    print(f"  dump {n}: appeared {(seen_ns - sent_ns) / 1e6:.0f} ms after the signal")
    expect(after_cpu is not None and child.running(),
           f"expected the program to run on after dump {n}, saw it end with "
           f"{child.proc.returncode}")
    return before_cpu, after_cpu, sent_ns, seen_ns


def check_dump_cpu(name, profile, low_ns, high_ns, threads=3):
    """The dump's CPU lies between what the program had burned before the
    signal and after the file appeared, give or take what sampling leaves
    out (up to a period and a tick per thread) and its noise."""
    cpu, n, period = profile.total_cpu_ns(), profile.total_count(), profile.period
    slack = threads * (period + TICK_NS) + cpu_tolerance(n, period, high_ns)
    print(f"  {name}: {n} samples, {cpu / 1e9:.3f} s CPU; the program had burned "
          f"{low_ns / 1e9:.3f} s at the signal and {high_ns / 1e9:.3f} s when the file appeared "
          f"(slack {slack / 1e9:.3f} s)")
    expect(low_ns - slack <= cpu <= high_ns + slack,
           f"{name}: expected {low_ns / 1e9:.3f} to {high_ns / 1e9:.3f} s of CPU (slack "
           f"{slack / 1e9:.3f} s), saw {cpu / 1e9:.3f} s")
    in_workers = sum(s.cpu_ns for s in profile.samples
                     if {"phase_a", "phase_b"} & set(profile.functions(s)))
    expect(in_workers >= 0.9 * cpu,
           f"{name}: expected at least 90% of the CPU in phase_a and phase_b, saw "
           f"{in_workers / 1e9:.3f} of {cpu / 1e9:.3f} s")
    return cpu


def cpu_in(profile, function):
    return sum(s.cpu_ns for s in profile.with_function(function))


def finish(child):
    child.send("stop\n")
    r = child.finish(timeout=120)
    expect(r.status == 0, f"expected status 0, saw:\n{r.describe()}")
    return r


def test_dumps_while_running_then_the_whole_profile_at_exit():
    exe = fixture("service")
    with tempfile.TemporaryDirectory() as tmp:
        with start(tmp, {"PROF_DUMP_SIGNAL": "USR2"}) as child:
            time.sleep(1.5)
            c0, c1, sent1, seen1 = dump_now(child, tmp, 1)
            # The program is still running and answering, and its view of
            # SIGUSR2 is its own: the default action.
            child.send("query\n")
            m = child.wait_line(r"^usr2=(\w+)$", LINE_TIMEOUT)
            expect(m is not None and m.group(1) == "default",
                   f"expected the program to answer usr2=default after a dump, saw {child.lines}")
            time.sleep(1.0)
            c2, c3, sent2, seen2 = dump_now(child, tmp, 2)
            expect(not os.path.exists(dump_path(tmp, 3)), "expected no third dump")
            r = finish(child)
        files = sorted(os.listdir(tmp))
        expect(files == ["prof.dump0001.pb.gz", "prof.dump0002.pb.gz", "prof.pb.gz"],
               f"expected two dumps and prof.pb.gz, saw {files}")
        dumps = [read_profile(dump_path(tmp, n), exe) for n in (1, 2)]
        final = read_profile(os.path.join(tmp, "prof.pb.gz"), exe)
        times = [profile_times(dump_path(tmp, n)) for n in (1, 2)]
        final_time = profile_times(os.path.join(tmp, "prof.pb.gz"))
    expect(r.profpre_lines() == [], f"expected no profpre: line, saw:\n{r.describe()}")
    # The program never saw the signals: its handler count is 0, its view of
    # SIGUSR2 the default.
    expect(r.stdout == "usr2_at_start=default\nready\nusr2=default\n"
                       "done workers=2 usr2_handled=0\n",
           f"expected the program's usual output, saw {r.stdout!r}")

    d1 = check_dump_cpu("dump 1", dumps[0], c0, c1)
    d2 = check_dump_cpu("dump 2", dumps[1], c2, c3)
    expect(d2 > d1, f"expected dump 2 (cumulative) to hold more CPU than dump 1 "
           f"({d1 / 1e9:.3f} s), saw {d2 / 1e9:.3f} s")
    expect(cpu_in(dumps[0], "phase_a") > 0 and cpu_in(dumps[1], "phase_a") > 0,
           "expected phase_a, the first second of the run, in both dumps")
    expect(cpu_in(dumps[1], "phase_b") > cpu_in(dumps[0], "phase_b"),
           f"expected more phase_b in dump 2 than in dump 1, saw "
           f"{cpu_in(dumps[1], 'phase_b')} and {cpu_in(dumps[0], 'phase_b')} ns")

    truth = numbers(r.stderr)["total_thread_cpu_ns"]
    total, n, period = final.total_cpu_ns(), final.total_count(), final.period
    tolerance = cpu_tolerance(n, period, truth)
    print(f"  final: {n} samples, {total / 1e9:.3f} s CPU; the fixture measured "
          f"{truth / 1e9:.3f} s (tolerance {tolerance / 1e9:.3f} s)")
    expect(abs(total - truth) <= tolerance,
           f"expected the final profile's CPU within {tolerance / 1e9:.3f} s of the fixture's "
           f"{truth / 1e9:.3f} s, saw {total / 1e9:.3f} s")
    expect(total >= d2 and final.total_count() >= dumps[1].total_count(),
           f"expected the final profile to hold at least what dump 2 held "
           f"({d2 / 1e9:.3f} s), saw {total / 1e9:.3f} s")

    # Time and Duration: every profile starts at the process's start; a dump
    # ends between the signal and its file, and before the final one ends.
    starts = [t for t, _ in times] + [final_time[0]]
    ends = [t + d for t, d in times] + [sum(final_time)]
    print(f"  starts differ by up to {max(starts) - min(starts)} ns; durations (s): "
          f"{' '.join(f'{d / 1e9:.3f}' for _, d in times)} {final_time[1] / 1e9:.3f}; dump ends "
          f"{(ends[0] - sent1) / 1e6:.1f} and {(ends[1] - sent2) / 1e6:.1f} ms after the signals")
    expect(max(starts) - min(starts) <= 10**6,
           f"expected the dumps and the final profile to start together (the process's "
           f"start), saw time_nanos {starts}")
    expect(sent1 - 10**6 <= ends[0] <= seen1 and sent2 - 10**6 <= ends[1] <= seen2,
           f"expected each dump to end between its signal and its file: dump 1 "
           f"{ends[0] - sent1} ns after the signal, {seen1 - ends[0]} ns before the file; dump 2 "
           f"{ends[1] - sent2} ns, {seen2 - ends[1]} ns")
    expect(times[0][1] < times[1][1] < final_time[1],
           f"expected durations dump 1 < dump 2 < final, saw {times[0][1]}, {times[1][1]}, "
           f"{final_time[1]}")


def test_a_dump_in_interval_mode_covers_the_current_window():
    exe = fixture("service")
    interval_ns = 10**9
    with tempfile.TemporaryDirectory() as tmp:
        with start(tmp, {"PROF_DUMP_SIGNAL": "USR2", "PROF_INTERVAL": "1",
                         "PROF_VERBOSE": "1"}) as child:
            time.sleep(2.5)
            c0, c1, sent, seen = dump_now(child, tmp, 1)
            time.sleep(1.0)
            r = finish(child)
        files = sorted(os.listdir(tmp))
        windows = sorted(int(m.group(1)) for m in
                         (re.match(r"^prof\.w(\d{4,})\.pb\.gz$", f) for f in files) if m)
        expect(files == ["prof.dump0001.pb.gz"] + [f"prof.w{k:04d}.pb.gz" for k in windows] and
               windows == list(range(1, len(windows) + 1)),
               f"expected the dump and windows w0001.. (no prof.pb.gz), saw {files}")
        dump = read_profile(dump_path(tmp, 1), exe)
        dump_time = profile_times(dump_path(tmp, 1))
        window_profiles = {k: read_profile(os.path.join(tmp, f"prof.w{k:04d}.pb.gz"), exe,
                                           need_samples=False) for k in windows}
        window_times = {k: profile_times(os.path.join(tmp, f"prof.w{k:04d}.pb.gz"))
                        for k in windows}
    # PROF_VERBOSE: one line at the start, one 'wrote' line per file.
    wrote = sorted(os.path.basename(l.split(" ", 2)[2]) for l in r.profpre_lines()
                   if l.startswith("profpre: wrote "))
    others = [l for l in r.profpre_lines()
              if not l.startswith(("profpre: wrote ", "profpre: profiling at "))]
    expect(wrote == files and not others,
           f"expected a 'profpre: wrote' line for each file and nothing else but the start "
           f"line, saw:\n{r.describe()}")
    cpu = dump.total_cpu_ns()
    # The dump is the window it was taken in, so far: same start, shorter
    # or as long, no more CPU (one aggregate, copied earlier).
    same = [k for k, (t, _) in window_times.items() if abs(t - dump_time[0]) <= 1000]
    expect(len(same) == 1 and same[0] >= 2,
           f"expected the dump to start with a window after the first, saw the dump at "
           f"{dump_time[0]} and the windows at {[t for t, _ in window_times.values()]}")
    k = same[0]
    window_cpu = window_profiles[k].total_cpu_ns()
    before = sum(window_profiles[j].total_cpu_ns() for j in windows if j < k)
    print(f"  dump: {dump.total_count()} samples, {cpu / 1e9:.3f} s CPU over "
          f"{dump_time[1] / 1e9:.3f} s, taken in window {k} ({window_cpu / 1e9:.3f} s CPU over "
          f"{window_times[k][1] / 1e9:.3f} s); the program had burned {c0 / 1e9:.3f} s at the "
          f"signal, the windows before {before / 1e9:.3f} s")
    expect(dump_time[1] <= window_times[k][1] and cpu <= window_cpu,
           f"expected the dump to be a part of window {k}: saw {dump_time[1]} ns and "
           f"{cpu} ns CPU against {window_times[k][1]} ns and {window_cpu} ns")
    expect(sent - 10**6 <= sum(dump_time) <= seen,
           f"expected the dump to end between the signal and its file, saw it end "
           f"{(sum(dump_time) - sent) / 1e6:.1f} ms after the signal")
    # What the program burned in this window so far: all it had burned at
    # the signal and when the file appeared, less what the windows before
    # held; and surely no more than its three threads can burn in one
    # interval.
    n, period = dump.total_count(), dump.period
    slack = 3 * (period + TICK_NS) + cpu_tolerance(n, period, cpu)
    low, high = c0 - before, c1 - before
    expect(low - slack <= cpu <= high + slack and cpu <= 3 * interval_ns + slack,
           f"expected the dump to hold what was burned in window {k} until the signal, "
           f"{low / 1e9:.3f} to {high / 1e9:.3f} s (slack {slack / 1e9:.3f} s), and at most "
           f"{3 * interval_ns / 1e9:.1f} s, saw {cpu / 1e9:.3f} s")
    # The dump took nothing away: the windows still add up to the whole run.
    truth = numbers(r.stderr)["total_thread_cpu_ns"]
    total = sum(p.total_cpu_ns() for p in window_profiles.values())
    samples = sum(p.total_count() for p in window_profiles.values())
    tolerance = cpu_tolerance(samples, period, truth)
    print(f"  windows: {len(windows)}, {total / 1e9:.3f} s CPU; the fixture measured "
          f"{truth / 1e9:.3f} s (tolerance {tolerance / 1e9:.3f} s)")
    expect(abs(total - truth) <= tolerance,
           f"expected the windows' CPU to add up to the fixture's {truth / 1e9:.3f} s within "
           f"{tolerance / 1e9:.3f} s, saw {total / 1e9:.3f} s")


def hand_back(api):
    """The program sets its own SIGUSR2 handler with `api` (sigaction or
    signal) after a first dump; returns the Run and the files left."""
    with tempfile.TemporaryDirectory() as tmp:
        with start(tmp, {"PROF_DUMP_SIGNAL": "USR2"}) as child:
            time.sleep(0.3)
            dump_now(child, tmp, 1)
            child.send(f"install-{api}\n")
            m = child.wait_line(r"^installed api=(\w+) previous=(\w+)$", LINE_TIMEOUT)
            expect(m is not None and m.group(2) == "default",
                   f"{api}: expected the program to see SIG_DFL as the previous action, saw "
                   f"{child.lines}")
            child.send("query\n")
            m = child.wait_line(r"^usr2=(\w+)$", LINE_TIMEOUT)
            expect(m is not None and m.group(1) == "handler",
                   f"{api}: expected sigaction to report the program's handler, saw "
                   f"{child.lines}")
            for n in (1, 2):
                os.kill(child.pid, signal.SIGUSR2)
                m = child.wait_line(r"^program_handler_ran=(\d+)$", LINE_TIMEOUT)
                expect(m is not None and int(m.group(1)) == n,
                       f"{api}: expected the program's handler to run for SIGUSR2 number {n} "
                       f"after it set it, saw {child.lines}")
            time.sleep(1.0)  # time enough for a dump, if one were (wrongly) coming
            expect(child.running(), f"{api}: expected the program to run on")
            r = finish(child)
        files = sorted(os.listdir(tmp))
        final = read_profile(os.path.join(tmp, "prof.pb.gz"), fixture("service"))
    return r, files, final


def test_a_program_that_sets_its_own_handler_gets_the_signal_back():
    for api in ("sigaction", "signal"):
        r, files, final = hand_back(api)
        lines = r.profpre_lines()
        print(f"  {api}: {lines}; files {files}; stdout {r.stdout.splitlines()[-1]!r}")
        expect(len(lines) == 1 and lines[0].startswith("profpre: PROF_DUMP_SIGNAL="),
               f"{api}: expected exactly one 'profpre: PROF_DUMP_SIGNAL=' line, saw {lines}")
        expect(files == ["prof.dump0001.pb.gz", "prof.pb.gz"],
               f"{api}: expected the one dump from before the handler and prof.pb.gz, saw "
               f"{files}")
        expect(r.stdout.endswith("done workers=2 usr2_handled=2\n"),
               f"{api}: expected the program to have handled 2 SIGUSR2, saw {r.stdout!r}")
        expect_run_cpu(final, r.stderr, f"{api}, the final profile")


def test_a_program_that_ignores_the_signal_survives_it():
    with tempfile.TemporaryDirectory() as tmp:
        with start(tmp, {"PROF_DUMP_SIGNAL": "USR2"}) as child:
            child.send("ignore\n")
            m = child.wait_line(r"^ignored previous=(\w+)$", LINE_TIMEOUT)
            expect(m is not None and m.group(1) == "default",
                   f"expected the program to see SIG_DFL as the previous action, saw "
                   f"{child.lines}")
            os.kill(child.pid, signal.SIGUSR2)
            time.sleep(1.0)
            expect(child.running(), "expected the program that ignores SIGUSR2 to survive it")
            r = finish(child)
        files = sorted(os.listdir(tmp))
    print(f"  {r.profpre_lines()}; files {files}")
    expect("prof.pb.gz" in files and len(r.profpre_lines()) <= 1,
           f"expected prof.pb.gz and at most one profpre: line, saw {files}, "
           f"{r.profpre_lines()}")


def test_a_signal_ignored_at_start_gives_no_dumps():
    with tempfile.TemporaryDirectory() as tmp:
        plain = start(tmp, {}, preload=False, preexec_fn=ignored_usr2)
        with plain:
            plain_run = finish(plain)
        with start(tmp, {"PROF_DUMP_SIGNAL": "USR2"}, preexec_fn=ignored_usr2) as child:
            os.kill(child.pid, signal.SIGUSR2)
            time.sleep(1.5)
            expect(child.running(), "expected the program to ignore SIGUSR2, as it was told")
            r = finish(child)
        files = sorted(os.listdir(tmp))
        read_profile(os.path.join(tmp, "prof.pb.gz"), fixture("service"))
    lines = r.profpre_lines()
    print(f"  {lines}; files {files}; stdout {r.stdout!r}")
    expect(len(lines) == 1 and lines[0].startswith("profpre: PROF_DUMP_SIGNAL=USR2"),
           f"expected one 'profpre: PROF_DUMP_SIGNAL=USR2' line, saw {lines}")
    expect(files == ["prof.pb.gz"], f"expected prof.pb.gz alone, saw {files}")
    expect(r.stdout == plain_run.stdout and r.stdout.startswith("usr2_at_start=ignore\n"),
           f"expected the program to see SIGUSR2 ignored, as without the profiler "
           f"({plain_run.stdout!r}), saw {r.stdout!r}")


def test_a_signal_that_cannot_be_the_dump_signal_is_refused():
    exe = fixture("service")
    argv = [exe, "--workers", "2", "--phase-a", "0.3", "--seconds", "0.6"]
    plain = run(argv)
    expect(plain.status == 0, f"fixture failed:\n{plain.describe()}")
    # By name and by number: the names of fault signals, SIGKILL and SIGSTOP
    # may not even be known, their numbers are.
    numbered = [str(int(s)) for s in (signal.SIGSEGV, signal.SIGKILL, signal.SIGPROF,
                                      signal.SIGSTOP, signal.SIGBUS)]
    for value in ["SEGV", "KILL", "PROF", "SIGPROF", "STOP", "nonsense", "99", "0", *numbered]:
        with tempfile.TemporaryDirectory() as tmp:
            r = run(argv, env={"PROF_OUT": os.path.join(tmp, "prof.pb.gz"),
                               "PROF_DUMP_SIGNAL": value}, cwd=tmp, preload=True)
            files = sorted(os.listdir(tmp))
            p = read_profile(os.path.join(tmp, "prof.pb.gz"), exe) \
                if files == ["prof.pb.gz"] else None
        lines = r.profpre_lines()
        print(f"  PROF_DUMP_SIGNAL={value}: status {r.status}, files {files}, {lines}")
        expect(len(lines) == 1 and lines[0].startswith(f"profpre: PROF_DUMP_SIGNAL={value}"),
               f"{value}: expected exactly one 'profpre: PROF_DUMP_SIGNAL=' line, saw:\n"
               f"{r.describe()}")
        expect(r.status == 0 and r.stdout == plain.stdout,
               f"{value}: expected status 0 and the output without the profiler "
               f"({plain.stdout!r}), saw:\n{r.describe()}")
        expect(files == ["prof.pb.gz"], f"{value}: expected one profile, saw {files}")
        expect_run_cpu(p, r.stderr, value)


def test_every_spelling_of_a_signal_works():
    for value, signo in (("SIGUSR2", signal.SIGUSR2), (str(int(signal.SIGUSR2)), signal.SIGUSR2),
                         ("USR1", signal.SIGUSR1), ("RTMIN+2", signal.SIGRTMIN + 2)):
        with tempfile.TemporaryDirectory() as tmp:
            with start(tmp, {"PROF_DUMP_SIGNAL": value}) as child:
                time.sleep(0.3)
                dump_now(child, tmp, 1, signo)
                r = finish(child)
            files = sorted(os.listdir(tmp))
            read_profile(dump_path(tmp, 1), fixture("service"))
        print(f"  PROF_DUMP_SIGNAL={value}: files {files}")
        expect(r.profpre_lines() == [] and files == ["prof.dump0001.pb.gz", "prof.pb.gz"],
               f"{value}: expected a dump, prof.pb.gz and no profpre: line, saw {files}, "
               f"{r.profpre_lines()}")


if __name__ == "__main__":
    run_tests(test_dumps_while_running_then_the_whole_profile_at_exit,
              test_a_dump_in_interval_mode_covers_the_current_window,
              test_a_program_that_sets_its_own_handler_gets_the_signal_back,
              test_a_program_that_ignores_the_signal_survives_it,
              test_a_signal_ignored_at_start_gives_no_dumps,
              test_a_signal_that_cannot_be_the_dump_signal_is_refused,
              test_every_spelling_of_a_signal_works)
