#!/usr/bin/env python3
"""e2e-interval: PROF_INTERVAL=SECONDS writes one profile per window of the
run, prof.w0001.pb.gz, prof.w0002.pb.gz, ..., the last partial window at
exit, and no prof.pb.gz. The windows tile the run (each starts where the one
before ended), every sample lands in exactly one of them (their CPU adds up
to the CPU of the whole run), each holds what ran in it (the service
fixture burns in fx::phase_a, then in fx::phase_b), and memory does not grow
from window to window. A bad value warns once and gives one profile at exit.

The fixture is paced by wall time (as windows are); the CPU it actually got,
per thread and per phase, is its ground truth."""

import math
import os
import re
import tempfile
import time

from pprof_helpers import (Child, cpu_tolerance, expect, expect_run_cpu, fixture, numbers,
                           profile_times, read_profile, run, run_tests)

WINDOW_RE = re.compile(r"^prof\.w(\d{4,})\.pb\.gz$")


def worker_truth(stderr):
    """{worker index: {phase_a_cpu_ns, phase_b_cpu_ns, cpu_ns, tid}} from the fixture."""
    rows = re.findall(r"^worker=(\d+) (.*)$", stderr, re.M)
    return {int(i): numbers(rest) for i, rest in rows}


def window_files(directory):
    """The window numbers found in `directory`, sorted; fails on any other file."""
    names = sorted(os.listdir(directory))
    others = [n for n in names if not WINDOW_RE.match(n)]
    expect(not others, f"expected only prof.wNNNN.pb.gz files, saw also {others} in {names}")
    return sorted(int(WINDOW_RE.match(n).group(1)) for n in names)


def window_path(directory, number):
    return os.path.join(directory, f"prof.w{number:04d}.pb.gz")


def phase_cpu(profile, function):
    return sum(s.cpu_ns for s in profile.with_function(function))


def test_windows_tile_the_run_and_hold_what_ran_in_them():
    interval_ns = 10**9
    seconds, phase_a = 7.0, 3.5
    exe = fixture("service")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PROF_OUT": os.path.join(tmp, "prof.pb.gz"), "PROF_INTERVAL": "1",
               "PROF_VERBOSE": "1"}
        with Child([exe, "--workers", "2", "--phase-a", str(phase_a), "--seconds", str(seconds)],
                   env=env, cwd=tmp, preload=True) as child:
            r = child.finish(timeout=120)
        ended_ns = time.time_ns()
        started_ns = child.started_ns
        expect(r.status == 0, f"expected status 0, saw:\n{r.describe()}")
        truth = numbers(r.stderr)
        workers = worker_truth(r.stderr)
        expect(len(workers) == 2, f"fixture: expected 2 worker lines, saw:\n{r.stderr}")
        numbers_seen = window_files(tmp)
        n = len(numbers_seen)
        wall = (ended_ns - started_ns) / 1e9
        fixture_wall = (truth["end_realtime_ns"] - truth["start_realtime_ns"]) / 1e9
        print(f"  {n} windows over {wall:.2f} s of wall time (the fixture ran "
              f"{fixture_wall:.2f} s)")
        expect(numbers_seen == list(range(1, n + 1)),
               f"expected windows numbered 1..{n} without a gap, saw {numbers_seen}")
        # One window closes every second of the process's life, which
        # covers the fixture's own run; the last one is partial.
        low, high = math.floor(fixture_wall), math.ceil(wall) + 1
        expect(low <= n <= high,
               f"expected {low} to {high} windows for a {wall:.2f} s run, saw {n}")
        wrote = sorted(re.findall(r"^profpre: wrote (.*)$", r.stderr, re.M))
        expect(wrote == sorted(window_path(tmp, k) for k in numbers_seen),
               f"expected one 'profpre: wrote' line per window file, saw {wrote}")

        times = [profile_times(window_path(tmp, k)) for k in numbers_seen]
        profiles = [read_profile(window_path(tmp, k), exe, need_samples=k < n)
                    for k in numbers_seen]

    # Time and Duration: each window starts where the one before ended.
    gaps = [times[k + 1][0] - (times[k][0] + times[k][1]) for k in range(n - 1)]
    print(f"  durations (s): {' '.join(f'{d / 1e9:.4f}' for _, d in times)}")
    print(f"  start of each window minus the end of the one before (ns): {gaps}")
    expect(all(abs(g) <= 2000 for g in gaps),
           f"expected each window to start where the one before ended (within 2 us), saw "
           f"gaps {gaps} ns")
    first_start = times[0][0]
    last_end = times[-1][0] + times[-1][1]
    print(f"  first window starts {(first_start - started_ns) / 1e6:.1f} ms after the test "
          f"started the process, {(truth['start_realtime_ns'] - first_start) / 1e6:.1f} ms "
          f"before main; the last ends {(ended_ns - last_end) / 1e6:.1f} ms before the test "
          f"saw the exit")
    expect(started_ns - 10**7 <= first_start <= truth["start_realtime_ns"],
           f"expected the first window to start between the process's start "
           f"({started_ns}) and main's ({truth['start_realtime_ns']}), saw {first_start}")
    expect(truth["end_realtime_ns"] <= last_end <= ended_ns + 10**7,
           f"expected the last window to end after the fixture stopped "
           f"({truth['end_realtime_ns']}) and before the test saw the exit ({ended_ns}), saw "
           f"{last_end}")
    # Every window but the last is one interval long, give or take how late
    # the collector wakes up (generous: a loaded machine); none drifts from
    # the schedule of one window per interval from the start.
    for k, (start, duration) in enumerate(times[:-1]):
        drift = start + duration - (first_start + (k + 1) * interval_ns)
        expect(0.75 * interval_ns <= duration <= 1.25 * interval_ns and
               -10**6 <= drift <= 0.25 * interval_ns,
               f"window {k + 1}: expected about {interval_ns / 1e9} s, ending on schedule, saw "
               f"{duration / 1e9:.4f} s ending {drift / 1e6:.1f} ms after the schedule")
    expect(0 < times[-1][1] <= 1.25 * interval_ns,
           f"expected the last window to be partial, saw {times[-1][1] / 1e9:.4f} s")

    # CPU: the windows add up to the whole run, phase by phase.
    period = profiles[0].period
    samples = sum(p.total_count() for p in profiles)
    for what, seen, real in (
            ("all", sum(p.total_cpu_ns() for p in profiles), truth["total_thread_cpu_ns"]),
            ("phase_a", sum(phase_cpu(p, "phase_a") for p in profiles),
             sum(w["phase_a_cpu_ns"] for w in workers.values())),
            ("phase_b", sum(phase_cpu(p, "phase_b") for p in profiles),
             sum(w["phase_b_cpu_ns"] for w in workers.values()))):
        tolerance = cpu_tolerance(samples, period, real)
        print(f"  {what}: windows {seen / 1e9:.3f} s, fixture {real / 1e9:.3f} s, off by "
              f"{(seen - real) / 1e9:+.3f} s (tolerance {tolerance / 1e9:.3f} s, {samples} "
              f"samples)")
        expect(abs(seen - real) <= tolerance,
               f"{what}: expected the windows' CPU to add up to the fixture's "
               f"{real / 1e9:.3f} s within {tolerance / 1e9:.3f} s, saw {seen / 1e9:.3f} s")

    # Each window holds what ran in it: before the switch only phase_a,
    # after it only phase_b (50 ms of margin for the workers' own switch).
    switch = truth["switch_realtime_ns"]
    margin = 50 * 10**6
    pure = {"phase_a": 0, "phase_b": 0}
    for k, ((start, duration), p) in enumerate(zip(times, profiles)):
        a, b, total = phase_cpu(p, "phase_a"), phase_cpu(p, "phase_b"), p.total_cpu_ns()
        print(f"  window {k + 1}: {(start - first_start) / 1e9:5.2f} s + {duration / 1e9:.2f} s, "
              f"phase_a {a / 1e6:5.0f} ms, phase_b {b / 1e6:5.0f} ms, all {total / 1e6:5.0f} ms")
        if start + duration <= switch - margin:
            expected, other, value, other_value = "phase_a", "phase_b", a, b
        elif start >= switch + margin:
            expected, other, value, other_value = "phase_b", "phase_a", b, a
        else:
            continue
        # At least 90% of a window's CPU is in its phase (the rest: main,
        # and what threads settle at their end) once it holds 20 periods.
        expect(other_value == 0 and (total < 20 * p.period or value >= 0.9 * total),
               f"window {k + 1} ({(start - first_start) / 1e9:.2f} s to "
               f"{(start + duration - first_start) / 1e9:.2f} s, phase_b from "
               f"{(switch - first_start) / 1e9:.2f} s): expected {expected} only, saw "
               f"{expected} {value / 1e6:.0f} ms, {other} {other_value / 1e6:.0f} ms of "
               f"{total / 1e6:.0f} ms")
        if value > 0:
            pure[expected] += 1
    expect(pure["phase_a"] >= 2 and pure["phase_b"] >= 2,
           f"expected at least 2 windows wholly in phase_a and 2 in phase_b, saw {pure}")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


# glibc's malloc keeps freed memory when its thresholds adapt to the sizes
# it has seen (a first symbolization raises them for good, and the RSS then
# steps up by ~10 MiB at the next one and stays, and swings by the trim
# threshold). Fixed thresholds make the RSS follow the memory in use, which
# is what must not grow.
FIXED_MALLOC = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072:"
                                  "glibc.malloc.trim_threshold=131072"}


def rss_over_windows(interval, seconds, extra_args, env):
    """Runs the fixture with PROF_INTERVAL=interval, reading its VmRSS every
    0.1 s, and checks that its resting level does not grow; returns the Run
    and the windows' profiles."""
    exe = fixture("service")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PROF_OUT": os.path.join(tmp, "prof.pb.gz"), "PROF_INTERVAL": str(interval),
               **FIXED_MALLOC, **env}
        series = []
        with Child([exe, "--workers", "2", "--phase-a", str(seconds / 2), "--seconds",
                    str(seconds), "--stacks", "24", *extra_args],
                   env=env, cwd=tmp, preload=True) as child:
            t0 = time.monotonic()
            while child.running():
                kib = rss_kib(child.pid)
                if kib is not None and child.running():
                    series.append((time.monotonic() - t0, kib))
                time.sleep(0.1)
            r = child.finish(timeout=120)
        expect(r.status == 0, f"expected status 0, saw:\n{r.describe()}")
        windows = window_files(tmp)
        profiles = [read_profile(window_path(tmp, k), exe, need_samples=False) for k in windows]
    print("  VmRSS (MiB) every 0.1 s: " +
          " ".join(f"{t:.1f}s:{kib / 1024:.1f}" for t, kib in series))
    expect(len(windows) >= seconds / interval * 0.8,
           f"expected about {seconds / interval:.0f} windows of {interval} s, saw {len(windows)}")
    # The resting level, between window builds: the lowest reading of a
    # stretch of time, early (1.5 to 2.5 s) and late (the last third).
    early = [kib for t, kib in series if 1.5 <= t <= 2.5]
    late = [kib for t, kib in series if seconds * 2 / 3 <= t <= seconds]
    expect(len(early) >= 4 and len(late) >= 10,
           f"expected at least 4 RSS readings from 1.5 to 2.5 s and 10 in the last third, saw "
           f"{series}")
    growth, bound_kib = min(late) - min(early), 2048
    print(f"  {len(windows)} windows; resting RSS {min(early) / 1024:.2f} MiB at about 2 s, "
          f"{min(late) / 1024:.2f} MiB in the last third: grew {growth} KiB (bound "
          f"{bound_kib} KiB); highest {max(kib for _, kib in series) / 1024:.2f} MiB")
    expect(growth <= bound_kib,
           f"expected the resting RSS of the last third within {bound_kib} KiB of the one at "
           f"about 2 s ({min(early)} KiB), saw {min(late)} KiB")
    truth = numbers(r.stderr)
    print(f"  CPU: the program's threads {truth['total_thread_cpu_ns'] / 1e9:.3f} s, the "
          f"whole process {truth['process_cpu_ns'] / 1e9:.3f} s")
    return r, profiles


def test_memory_does_not_grow_from_window_to_window():
    """0.2 s windows of the same stacks: after the first, windows mostly
    find their addresses in the symbol cache."""
    r, profiles = rss_over_windows(0.2, 10.0, [], {"PROF_STATS": "1"})
    lines = r.profpre_lines()
    expect(len(lines) == 1 and lines[0].startswith("profpre: stats: "),
           f"expected one profpre: line, the stats, saw {lines}")
    fields = numbers(lines[0])
    print(f"  {lines[0]}")
    expect(fields.get("buffers_peak_kib", 0) > 0,
           f"expected buffers_peak_kib=N (N > 0) in the stats line, saw {lines[0]!r}")
    # The statistics are of the whole run: every window's samples.
    counted = sum(p.total_count() for p in profiles)
    expect(abs(fields.get("samples", -1) - counted) <= 0.02 * counted + 2,
           f"expected stats samples= to be the windows' {counted} samples (within 2%), saw "
           f"{lines[0]!r}")


def test_memory_does_not_grow_when_every_window_symbolizes_afresh():
    """Every window meets addresses no window before it had (the fixture
    formats numbers with snprintf: ever new addresses in libc), so every
    window opens the symbolizer again and reads libc's debug information."""
    rss_over_windows(0.5, 10.0, ["--libc"], {})


def test_a_bad_interval_warns_once_and_writes_one_profile():
    exe = fixture("service")
    argv = [exe, "--workers", "2", "--phase-a", "0.3", "--seconds", "0.6"]
    plain = run(argv)
    expect(plain.status == 0, f"fixture failed:\n{plain.describe()}")
    for value in ("0", "abc", "0.01", "86401", "-1", "0.05"):
        with tempfile.TemporaryDirectory() as tmp:
            r = run(argv, env={"PROF_OUT": os.path.join(tmp, "prof.pb.gz"),
                               "PROF_INTERVAL": value}, cwd=tmp, preload=True)
            files = sorted(os.listdir(tmp))
            p = read_profile(os.path.join(tmp, "prof.pb.gz"), exe) if files == ["prof.pb.gz"] \
                else None
        lines = r.profpre_lines()
        print(f"  PROF_INTERVAL={value!r}: status {r.status}, files {files}, {lines}")
        expect(len(lines) == 1 and lines[0].startswith(f"profpre: PROF_INTERVAL={value}"),
               f"PROF_INTERVAL={value!r}: expected exactly one 'profpre: PROF_INTERVAL=' line, "
               f"saw:\n{r.describe()}")
        expect(r.status == 0 and r.stdout == plain.stdout,
               f"PROF_INTERVAL={value!r}: expected status 0 and the output without the "
               f"profiler ({plain.stdout!r}), saw:\n{r.describe()}")
        expect(files == ["prof.pb.gz"],
               f"PROF_INTERVAL={value!r}: expected one profile, prof.pb.gz, saw {files}")
        expect_run_cpu(p, r.stderr, f"PROF_INTERVAL={value!r}")


def test_the_longest_interval_gives_one_window_at_exit():
    exe = fixture("service")
    with tempfile.TemporaryDirectory() as tmp:
        with Child([exe, "--workers", "2", "--phase-a", "0.3", "--seconds", "0.8"],
                   env={"PROF_OUT": os.path.join(tmp, "prof.pb.gz"), "PROF_INTERVAL": "86400"},
                   cwd=tmp, preload=True) as child:
            r = child.finish(timeout=120)
        ended_ns = time.time_ns()
        expect(r.status == 0 and r.profpre_lines() == [],
               f"expected status 0 and no profpre: line, saw:\n{r.describe()}")
        expect(window_files(tmp) == [1], f"expected prof.w0001.pb.gz alone, saw "
               f"{os.listdir(tmp)}")
        start, duration = profile_times(window_path(tmp, 1))
        p = read_profile(window_path(tmp, 1), exe)
    truth = numbers(r.stderr)
    print(f"  one window of {duration / 1e9:.3f} s, {p.total_cpu_ns() / 1e9:.3f} s CPU "
          f"(fixture {truth['total_thread_cpu_ns'] / 1e9:.3f} s)")
    expect(child.started_ns - 10**7 <= start <= truth["start_realtime_ns"] and
           truth["end_realtime_ns"] <= start + duration <= ended_ns + 10**7,
           f"expected the window to cover the whole run, saw {start} + {duration} ns for a "
           f"process from {child.started_ns} to {ended_ns}")
    tolerance = cpu_tolerance(p.total_count(), p.period, truth["total_thread_cpu_ns"])
    expect(abs(p.total_cpu_ns() - truth["total_thread_cpu_ns"]) <= tolerance,
           f"expected the window's CPU within {tolerance / 1e9:.3f} s of the fixture's, saw "
           f"{p.total_cpu_ns() / 1e9:.3f} s")


def test_output_is_the_same_with_and_without_the_profiler():
    exe = fixture("service")
    argv = [exe, "--workers", "2", "--phase-a", "0.5", "--seconds", "1.5"]
    plain = run(argv)
    with tempfile.TemporaryDirectory() as tmp:
        profiled = run(argv, env={"PROF_OUT": os.path.join(tmp, "prof.pb.gz"),
                                  "PROF_INTERVAL": "0.3", "PROF_DUMP_SIGNAL": "USR2"},
                       cwd=tmp, preload=True)
        windows = window_files(tmp)
    print(f"  stdout {profiled.stdout!r}, status {profiled.status}, {len(windows)} windows")
    expect(plain.status == profiled.status == 0 and plain.stdout == profiled.stdout,
           f"expected the same stdout and status 0 with and without the profiler; without:\n"
           f"{plain.describe()}\nwith:\n{profiled.describe()}")
    expect(profiled.profpre_lines() == [], f"expected no profpre: line, saw:\n"
           f"{profiled.describe()}")
    keys = lambda text: sorted(re.findall(r"(\w+)=", text))  # noqa: E731
    expect(keys(plain.stderr) == keys(profiled.stderr),
           f"expected the same report on stderr (values aside), saw {profiled.stderr!r} and, "
           f"without the profiler, {plain.stderr!r}")
    expect(len(windows) >= 4, f"expected 1.5 s / 0.3 s windows, saw {windows}")


if __name__ == "__main__":
    run_tests(test_windows_tile_the_run_and_hold_what_ran_in_them,
              test_memory_does_not_grow_from_window_to_window,
              test_memory_does_not_grow_when_every_window_symbolizes_afresh,
              test_a_bad_interval_warns_once_and_writes_one_profile,
              test_the_longest_interval_gives_one_window_at_exit,
              test_output_is_the_same_with_and_without_the_profiler)
