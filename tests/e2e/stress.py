"""Deadlock and crash proofing of the handler: the known ways a SIGPROF
profiler hangs or crashes, each reproduced by the stress fixture on four
threads at PROF_HZ=1000, three runs each. Every run must end (a hang is a
failure: the test then prints the hung threads' stacks), exit 0, say nothing
on stderr, write a valid profile, and that profile must hold the process's
CPU: a bad frame ends a stack, it does not drop the sample.

The C++ unwinder: a program that does not link libgcc_s.so.1 itself (a C
program with a C++ library, or C++ with no cleanups, like this fixture) gets
the first _Unwind_RaiseException in the search order. A preloaded library
that puts libunwind.so.8, which defines one too, in the global search order
ahead of libgcc_s.so.1 swaps the program's unwinder (checked by
test_the_programs_unwinder_is_not_replaced), and then the program and the
handler walk stacks with the same libunwind. The exception cases run both
ways: as the fixture is, and with libgcc_s.so.1 preloaded first, as in a
program that links it. test_libunwind_used_by_the_program has the program
call libunwind itself, as programs that log their own stacks do.
"""

import os
import shutil
import signal
import subprocess
import tempfile

from pprof_helpers import (LIB, Run, binomial_tolerance, child_env, expect, fixture, numbers,
                           read_profile, run, run_tests)

HZ = 1000
SECONDS = "2"  # CPU of the whole fixture, shared by its four threads
RUNS = 3
HANG_TIMEOUT = 60  # a run takes 1 to 5 s on a loaded 2-core machine
IDLE_LIMIT = 5  # seconds without CPU: deadlocked

STRESS_LIB = os.environ.get("FX_STRESS_LIB", "")
THROW_LIB = os.environ.get("FX_THROW_LIB", "")
GCC_FIRST = "libgcc_s.so.1"  # preloaded before libprofpre: the usual C++ program


def hung_stacks(pid):
    """The stacks of a hung process, a few frames per thread, via eu-stack."""
    tool = shutil.which("eu-stack")
    if tool is None:
        return "(eu-stack not found: no stacks)"
    p = subprocess.run([tool, "-p", str(pid)], capture_output=True, text=True, timeout=60)
    lines, frames = [], 0
    for line in p.stdout.splitlines():
        if line.startswith("TID"):
            lines.append(line)
            frames = 0
        elif line.startswith("#") and frames < 14:
            lines.append("  " + " ".join(line.split()[1:])[:110])
            frames += 1
    return "\n".join(lines) or p.stderr


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def guarded_run(argv, env, cwd, preload):
    """Runs argv with LD_PRELOAD=`preload`. The fixture burns CPU without a
    pause, so a run that uses no CPU for IDLE_LIMIT s (a deadlock), or that
    is still going after HANG_TIMEOUT s, fails the test with its stacks."""
    full_env = child_env(env)
    full_env["LD_PRELOAD"] = preload
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(argv, env=full_env, cwd=cwd, stdout=out, stderr=err, text=True)
        last, idle, waited = None, 0, 0
        while p.poll() is None:
            try:
                p.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                waited += 1
            ticks = cpu_ticks(p.pid)
            idle = idle + 1 if ticks is not None and ticks == last else 0
            last = ticks
            if idle >= IDLE_LIMIT or waited >= HANG_TIMEOUT:
                why = (f"no CPU used for {idle} s" if idle >= IDLE_LIMIT else
                       f"still running after {waited} s")
                stacks = hung_stacks(p.pid)
                p.send_signal(signal.SIGKILL)
                p.wait()
                expect(False, f"{' '.join(argv)} (LD_PRELOAD={preload}, PROF_HZ={HZ}): "
                       f"expected it to end, saw it hang ({why}); its threads:\n{stacks}")
        out.seek(0)
        err.seek(0)
        return Run(list(argv), p.returncode, out.read(), err.read())


def stress_runs(mode, library="", preload=None, runs=RUNS):
    """Runs `stress mode` `runs` times under the profiler; checks each run;
    returns [(numbers, Profile)]."""
    preload = preload or LIB
    argv = [fixture("stress"), mode, SECONDS] + ([library] if library else [])
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prof.pb.gz")
            r = guarded_run(argv, {"PROF_OUT": out, "PROF_HZ": str(HZ)}, tmp, preload)
            label = f"{mode} run {i + 1} (LD_PRELOAD={preload})"
            expect(r.status == 0 and r.stderr == "",
                   f"{label}: expected status 0 and no stderr, saw:\n{r.describe()}")
            got = numbers(r.stdout)
            expect(got.get("failures") == 0 and got.get("ops", 0) > 0,
                   f"{label}: expected the loops to run without failure, saw {r.stdout!r}")
            p = read_profile(out, argv[0])
            cpu, truth = p.total_cpu_ns(), got["process_cpu_ns"]
            periods = truth / (1e9 / HZ)
            tolerance = max(0.1, binomial_tolerance(0.5, periods))
            print(f"  {label}: {got['ops']} ops, profile {cpu / 1e9:.3f} s of "
                  f"{truth / 1e9:.3f} s CPU, {p.total_count()} samples")
            expect(abs(cpu - truth) <= tolerance * truth,
                   f"{label}: expected the profile's CPU within {tolerance:.0%} of the "
                   f"process's {truth / 1e9:.3f} s, saw {cpu / 1e9:.3f} s")
            results.append((got, p))
    return results


def test_exceptions_through_libgcc_unwinder():
    stress_runs("exceptions", THROW_LIB, preload=f"{GCC_FIRST} {LIB}")


def test_exceptions_in_a_program_without_libgcc_s():
    # libstdc++'s throw binds to the first _Unwind_RaiseException in the
    # search order (see test_the_programs_unwinder_is_not_replaced).
    stress_runs("exceptions", THROW_LIB)


def test_the_programs_unwinder_is_not_replaced():
    argv = [fixture("stress"), "exceptions", "0.02", THROW_LIB]
    plain = run(argv, timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        profiled = guarded_run(argv, {"PROF_OUT": os.path.join(tmp, "p.pb.gz")}, tmp, LIB)
    unwinder = [l for l in plain.stdout.splitlines() if l.startswith("unwinder=")]
    seen = [l for l in profiled.stdout.splitlines() if l.startswith("unwinder=")]
    print(f"  without the profiler: {unwinder}; with: {seen}")
    expect(plain.status == 0 and unwinder == ["unwinder=libgcc_s.so.1"],
           f"fixture: expected libgcc_s.so.1's unwinder without the profiler, saw "
           f"{plain.describe()}")
    expect(seen == unwinder,
           f"expected the program's C++ exceptions to go through the same unwinder with the "
           f"profiler as without ({unwinder}), saw {seen}: libprofpre's libunwind.so.8 comes "
           f"before libgcc_s.so.1 in the search order")


def test_libunwind_used_by_the_program():
    stress_runs("libunwind")


def test_dlopen_dlclose_in_a_loop():
    results = stress_runs("dlopen", STRESS_LIB)
    # Samples in the library, loaded and unloaded hundreds of times, keep
    # their functions.
    for i, (got, p) in enumerate(results):
        in_lib = sum(s.cpu_ns for s in p.samples
                     if {"stresslib_leaf", "stresslib_middle", "fx_stresslib_spin"} &
                     set(p.functions(s)))
        truth = got["stresslib_cpu_ns"]
        print(f"  dlopen run {i + 1}: {got['ops']} load/call/unload, "
              f"{in_lib / 1e9:.3f} s named in the library of {truth / 1e9:.3f} s spent there")
        tolerance = max(0.25, binomial_tolerance(0.5, truth / (1e9 / HZ)))
        expect(abs(in_lib - truth) <= tolerance * truth,
               f"dlopen run {i + 1}: expected the CPU spent in the unloaded library "
               f"({truth / 1e9:.3f} s) within {tolerance:.0%} under its functions "
               f"(stresslib_leaf, stresslib_middle, fx_stresslib_spin), saw "
               f"{in_lib / 1e9:.3f} s")


def test_malloc_free_of_random_sizes():
    stress_runs("malloc")


def jit_samples(p):
    """Samples whose leaf lies in no mapping: the code written at run time."""
    def in_jit(location):
        return location.mapping == 0 and not any(l.function.startswith("[profpre]")
                                                 for l in location.lines)
    return [s for s in p.samples if s.location_ids and in_jit(p.locations[s.location_ids[0]])]


def test_code_without_unwind_information():
    for i, (got, p) in enumerate(stress_runs("jit")):
        jit = jit_samples(p)
        jit_cpu = sum(s.cpu_ns for s in jit)
        marked = sum(s.cpu_ns for s in jit if "[profpre] unwind failed" in p.functions(s))
        depths = sorted({len(s.location_ids) for s in jit})
        print(f"  jit run {i + 1}: {jit_cpu / 1e9:.3f} s with an anonymous leaf, of which "
              f"{marked / 1e9:.3f} s marked [profpre] unwind failed; stack depths {depths}")
        # The JIT loop is nearly all of the workers' CPU (the rest is the
        # clock reads between calls).
        expect(jit_cpu >= 0.5 * got["process_cpu_ns"],
               f"jit run {i + 1}: expected most of the CPU "
               f"({got['process_cpu_ns'] / 1e9:.3f} s) at an anonymous leaf address, saw "
               f"{jit_cpu / 1e9:.3f} s")


def test_jit_samples_say_the_walk_failed():
    # README: frames in code with no unwind information end the walk, and the
    # sample "is counted under `[profpre] unwind failed`"; a stack that just
    # stops looks like a thread whose whole stack is that one frame.
    (got, p), = stress_runs("jit", runs=1)
    jit = jit_samples(p)
    unmarked = [s for s in jit if "[profpre] unwind failed" not in p.functions(s)]
    share = sum(s.cpu_ns for s in unmarked) / max(1, sum(s.cpu_ns for s in jit))
    expect(jit and not unmarked,
           f"expected every sample at an anonymous leaf (code without unwind information) "
           f"marked [profpre] unwind failed, saw {share:.0%} of their CPU unmarked, e.g. "
           f"stack {[hex(p.locations[l].address) for l in unmarked[0].location_ids]}"
           if unmarked else f"expected JIT samples, saw none")


if __name__ == "__main__":
    run_tests(test_exceptions_through_libgcc_unwinder,
              test_exceptions_in_a_program_without_libgcc_s,
              test_the_programs_unwinder_is_not_replaced,
              test_libunwind_used_by_the_program,
              test_dlopen_dlclose_in_a_loop,
              test_malloc_free_of_random_sizes,
              test_code_without_unwind_information,
              test_jit_samples_say_the_walk_failed)
