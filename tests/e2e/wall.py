#!/usr/bin/env python3
"""e2e-wall: PROF_MODE=wall samples every thread on wall-clock time, running
or blocked, and never disturbs a blocked system call.

The fixture (tests/fixtures/wall.cc) computes and sleeps in equal halves on
its main thread while other threads wait in poll, sleep, read, waitpid, a
mutex and a condition variable; it measures every lifetime and every wait
itself and reports any wait that failed with EINTR or ended early."""

import os
import tempfile

from pprof_helpers import expect, fixture, numbers, read_profile, run, run_tests

CYCLES = 60      # of HALF_MS computing then HALF_MS sleeping: about 3 s
HALF_MS = 25
IDLE = 20        # threads that only wait
PERIOD_NS = 10**7  # 100 Hz


def wall_run(env=None, args=(CYCLES, HALF_MS, IDLE)):
    """Runs the fixture under the profiler in wall mode; returns (run, truth,
    profile, directory listing)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        extra = {"PROF_OUT": out, "PROF_MODE": "wall"}
        extra.update(env or {})
        r = run([fixture("wall"), *map(str, args)], env=extra, preload=True)
        expect(r.status == 0 and r.stdout == "done\n", f"expected a normal run, saw:\n{r.describe()}")
        expect(r.profpre_lines() == [], f"expected no profpre: line, saw:\n{r.describe()}")
        profile = read_profile(out, fixture("wall"), kind="wall")
        return r, numbers(r.stderr), profile


def by_thread(profile):
    """thread name -> list of samples."""
    threads = {}
    for s in profile.samples:
        threads.setdefault(s.labels.get("thread_name", ""), []).append(s)
    return threads


def wall_in(profile, samples, function=None, state=None):
    """Wall ns of `samples` whose stack holds `function` and whose state
    label is `state` (None: any)."""
    return sum(s.cpu_ns for s in samples
               if (function is None or function in profile.functions(s))
               and (state is None or s.labels.get("state") == state))


def test_blocked_calls_keep_their_meaning():
    """nanosleep, poll, sleep, read, waitpid and a mutex wait all return as
    they would without us: never EINTR, never early. At 100 Hz and at 1000 Hz."""
    plain = run([fixture("wall"), str(CYCLES), str(HALF_MS), str(IDLE)])
    expect(plain.status == 0 and plain.stdout == "done\n", f"the fixture alone:\n{plain.describe()}")
    for hz in (100, 1000):
        r, truth, _ = wall_run({"PROF_HZ": str(hz)})
        print(f"  {hz} Hz: eintr={truth['eintr']} short_waits={truth['short_waits']}, "
              f"fx-poll waited {truth['fx-poll_wall_ns'] / 1e9:.3f} s, "
              f"fx-sleep {truth['fx-sleep_wall_ns'] / 1e9:.3f} s")
        expect(truth["eintr"] == 0 and truth["short_waits"] == 0,
               f"{hz} Hz: expected no wait to fail with EINTR or end early, saw {r.stderr}")
        expect(r.stdout == plain.stdout, f"{hz} Hz: expected the same stdout as without us")


def test_halves_of_sleeping_and_computing():
    """The main thread's profile splits like its time: sleep_half mostly as
    sleeping, compute_half mostly as running; either may also be runnable,
    when the thread waited for a CPU (preempted, or woken from its sleep)."""
    _, truth, profile = wall_run()
    main = by_thread(profile).get("fx-main", [])
    total = wall_in(profile, main)
    computing = wall_in(profile, main, "compute_half")
    life = truth["fx-main_wall_ns"]
    sleep_truth = truth["sleep_wall_ns"]
    compute_truth = truth["compute_wall_ns"]
    print(f"  main: lived {life / 1e9:.3f} s, profile {total / 1e9:.3f} s; sleep_half "
          f"{wall_in(profile, main, 'sleep_half') / 1e9:.3f} s (measured "
          f"{sleep_truth / 1e9:.3f}), compute_half {computing / 1e9:.3f} s (measured "
          f"{compute_truth / 1e9:.3f}), runnable {wall_in(profile, main, state='runnable') / 1e9:.3f} s")
    # Time off the CPU is measured, not sampled, and CPU samples are counted
    # on the thread's CPU clock: the thread's total is exact to a period or
    # two. Between two ticks that straddle a change of phase, the time the
    # thread spent waiting for a CPU cannot be placed before or after the
    # change: that is the "runnable" time, near zero on an idle machine,
    # large on a loaded one. Allow 5% + 5 periods + that time.
    sleeping = wall_in(profile, main, "sleep_half")
    runnable = wall_in(profile, main, state="runnable")
    expect(abs(total - life) <= 0.02 * life + 5 * PERIOD_NS,
           f"expected the main thread's {life / 1e9:.3f} s, saw {total / 1e9:.3f} s")
    for name, seen, want in (("sleep_half", sleeping, sleep_truth),
                             ("compute_half", computing, compute_truth)):
        slack = 0.05 * want + 5 * PERIOD_NS + runnable
        expect(abs(seen - want) <= slack,
               f"expected {name} at {want / 1e9:.3f} s +- {slack / 1e9:.3f} s (5%, 5 periods and "
               f"{runnable / 1e9:.3f} s runnable), saw {seen / 1e9:.3f} s")
    running = wall_in(profile, main, "compute_half", "running")
    asleep = wall_in(profile, main, "sleep_half", "sleeping")
    cpu = truth["fx-main_cpu_ns"]
    print(f"  labelled: compute_half running {running / 1e9:.3f} s (CPU {cpu / 1e9:.3f} s), "
          f"sleep_half sleeping {asleep / 1e9:.3f} s")
    expect(running >= 0.9 * cpu - 5 * PERIOD_NS,
           f"expected compute_half's CPU labelled running, saw {running / 1e9:.3f} s")
    expect(asleep >= 0.5 * sleep_truth,
           f"expected most of sleep_half labelled sleeping, saw {asleep / 1e9:.3f} s")
    states = {s.labels.get("state") for s in main}
    expect(states <= {"running", "runnable", "sleeping", "brief wait"},
           f"expected only running, runnable, sleeping and brief wait on the main thread, "
           f"saw {states}")


def test_every_thread_for_its_whole_life_where_it_waits():
    _, truth, profile = wall_run()
    threads = by_thread(profile)
    waits = {"fx-poll": "poll_wait", "fx-sleep": "sleep_call", "fx-read": "read_wait",
             "fx-child": "child_wait", "fx-lock": "lock_wait"}
    for name, function in waits.items():
        samples = threads.get(name, [])
        total = wall_in(profile, samples)
        waiting = wall_in(profile, samples, function, "sleeping")
        life = truth[f"{name}_wall_ns"]
        print(f"  {name}: lived {life / 1e9:.3f} s, profile {total / 1e9:.3f} s, "
              f"{waiting / 1e9:.3f} s sleeping in {function}")
        # The thread's lifetime is measured by the fixture from inside its
        # start routine: our total also holds its start and end (tens of µs).
        expect(abs(total - life) <= 0.03 * life + 3 * PERIOD_NS,
               f"{name}: expected {life / 1e9:.3f} s of wall time +- 3%, saw {total / 1e9:.3f} s")
        expect(waiting >= 0.9 * life - 3 * PERIOD_NS,
               f"{name}: expected at least 90% sleeping in {function}, saw {waiting / 1e9:.3f} "
               f"of {life / 1e9:.3f} s")
    idle = threads.get("fx-idle", [])
    idle_total = wall_in(profile, idle)
    idle_waiting = wall_in(profile, idle, "idle_wait", "sleeping")
    idle_life = truth["idle_wall_ns"]
    tids = {s.labels.get("tid") for s in idle}
    print(f"  {len(tids)} idle threads: lived {idle_life / 1e9:.3f} s together, profile "
          f"{idle_total / 1e9:.3f} s, {idle_waiting / 1e9:.3f} s in idle_wait")
    expect(len(tids) == IDLE, f"expected {IDLE} idle threads, saw {len(tids)}")
    expect(abs(idle_total - idle_life) <= 0.03 * idle_life + 3 * IDLE * PERIOD_NS,
           f"expected the idle threads' {idle_life / 1e9:.3f} s +- 3%, saw {idle_total / 1e9:.3f} s")
    expect(idle_waiting >= 0.9 * idle_life,
           f"expected the idle threads sleeping in idle_wait, saw {idle_waiting / 1e9:.3f} s")


def test_cpu_mode_shows_no_waiting():
    """The same program in the default mode: only CPU, no state labels."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        r = run([fixture("wall"), "20", str(HALF_MS), "2"], env={"PROF_OUT": out}, preload=True)
        expect(r.status == 0 and r.profpre_lines() == [], f"expected a clean run:\n{r.describe()}")
        profile = read_profile(out, fixture("wall"))
    polled = wall_in(profile, profile.samples, "poll_wait")
    labelled = [s for s in profile.samples if "state" in s.labels]
    print(f"  cpu mode: {profile.total_cpu_ns() / 1e9:.3f} s of CPU, {polled} ns in poll_wait")
    expect(polled <= 2 * PERIOD_NS, f"expected no CPU in poll_wait, saw {polled} ns")
    expect(not labelled, f"expected no state label in cpu mode, saw {len(labelled)} samples")


def test_wall_mode_under_the_stress_fixture():
    """Threads that throw, dlopen and dlclose while our thread walks their
    stacks from outside: no hang, no crash, the program's own results."""
    libraries = {"exceptions": os.environ.get("FX_THROW_LIB", ""),
                 "dlopen": os.environ.get("FX_STRESS_LIB", ""), "jit": ""}
    for mode, library in libraries.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prof.pb.gz")
            argv = [fixture("stress"), mode, "1.0"] + ([library] if library else [])
            r = run(argv, env={"PROF_OUT": out, "PROF_MODE": "wall", "PROF_HZ": "1000"},
                    preload=True, timeout=60)
            found = numbers(r.stdout)
            print(f"  {mode}: status {r.status}, ops={found.get('ops')} "
                  f"failures={found.get('failures')}")
            expect(r.status == 0 and found.get("failures") == 0 and found.get("ops", 0) > 0,
                   f"{mode}: expected a clean run, saw:\n{r.describe()}")
            profile = read_profile(out, fixture("stress"), kind="wall")
            expect(profile.total_cpu_ns() > 0, f"{mode}: expected wall time in the profile")


def test_a_bad_mode_says_so_and_profiles_cpu():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        r = run([fixture("wall"), "4", "10", "0"], env={"PROF_OUT": out, "PROF_MODE": "clock"},
                preload=True)
        lines = r.profpre_lines()
        expect(r.status == 0 and r.stdout == "done\n", f"expected a normal run:\n{r.describe()}")
        expect(len(lines) == 1 and lines[0].startswith("profpre: PROF_MODE=clock"),
               f"expected one profpre: PROF_MODE=clock line, saw {lines}")
        read_profile(out, fixture("wall"))


def test_quiet_threads_are_looked_at_less_often_yet_timed_exactly():
    """A thread blocked for long is looked at every few ticks instead of
    every tick (at most every 8: PROF_STATS' wall_looks), yet its total is
    still its lifetime, and a wait that ends between two looks still shows
    where it was, to within half a gap: fx-steps sleeps 900 ms in each of three
    functions."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        r = run([fixture("wall"), str(CYCLES), str(HALF_MS), str(IDLE)],
                env={"PROF_OUT": out, "PROF_MODE": "wall", "PROF_STATS": "1"}, preload=True)
        expect(r.status == 0 and r.stdout == "done\n", f"expected a normal run:\n{r.describe()}")
        truth = numbers(r.stderr)
        profile = read_profile(out, fixture("wall"), kind="wall")
    ticks, looks = truth["wall_ticks"], truth["wall_looks"]
    # Every tick looks at the main thread and at whichever threads ran; the
    # 20 idle threads, blocked from start to end, every q/8 once quiet for
    # q, and every 8 ticks after 640 ms; everyone at the last tick.
    threads = IDLE + 7
    print(f"  {ticks} ticks, {looks} looks: {looks / ticks:.1f} threads a tick of {threads}")
    expect(looks <= ticks * (7 + IDLE * 0.35),
           f"expected the idle threads looked at less than every tick, saw {looks} looks "
           f"in {ticks} ticks with {threads} threads")
    idle = by_thread(profile).get("fx-idle", [])
    # Twenty threads started at once: each must have got its own slot.
    tids = {s.labels.get("tid") for s in idle}
    expect(len(tids) == IDLE, f"expected {IDLE} idle threads, saw {len(tids)}")
    idle_total, idle_life = wall_in(profile, idle), truth["idle_wall_ns"]
    expect(abs(idle_total - idle_life) <= 0.03 * idle_life + 3 * IDLE * PERIOD_NS,
           f"expected the idle threads' {idle_life / 1e9:.3f} s +- 3%, saw {idle_total / 1e9:.3f} s")
    steps = by_thread(profile).get("fx-steps", [])
    runnable = wall_in(profile, steps, state="runnable")
    for step in ("step_first", "step_second", "step_third"):
        seen, want = wall_in(profile, steps, step), truth[f"{step}_ns"]
        # A wake between two looks puts up to half the gap (8 ticks at most)
        # on the wrong side of the change, at each end of a step; so may the
        # time the thread waited for a CPU once woken.
        slack = 2 * 4 * PERIOD_NS + 2 * PERIOD_NS + runnable
        print(f"  {step}: {seen / 1e9:.3f} s in the profile, {want / 1e9:.3f} s measured")
        expect(abs(seen - want) <= slack,
               f"expected {step} at {want / 1e9:.3f} s +- {slack / 1e9:.3f} s, "
               f"saw {seen / 1e9:.3f} s")


if __name__ == "__main__":
    run_tests(test_blocked_calls_keep_their_meaning,
              test_halves_of_sleeping_and_computing,
              test_every_thread_for_its_whole_life_where_it_waits,
              test_quiet_threads_are_looked_at_less_often_yet_timed_exactly,
              test_cpu_mode_shows_no_waiting,
              test_wall_mode_under_the_stress_fixture,
              test_a_bad_mode_says_so_and_profiles_cpu)
