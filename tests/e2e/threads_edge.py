"""Threads at the edges: thousands of short ones, one started before the
library's constructor, one started with raw clone(2), one that leaves with
pthread_exit mid-loop, one on a minimal stack, and a program that recovers
from faults on its own alternate signal stack."""

import os
import tempfile

from pprof_helpers import (LIB, binomial_tolerance, expect, fixture, numbers, read_profile,
                           run, run_tests)

EARLY_LIB = os.environ.get("FX_EARLY_LIB", "")


def profiled(mode, hz=None, preload=None, extra_args=(), need_samples=True):
    """Runs `threads_edge mode` under the profiler; expects status 0 and no
    stderr; returns (numbers, Profile)."""
    argv = [fixture("threads_edge"), mode, *extra_args]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "prof.pb.gz")
        env = {"PROF_OUT": out, "LD_PRELOAD": preload or LIB}
        if hz is not None:
            env["PROF_HZ"] = str(hz)
        r = run(argv, env=env, cwd=tmp, timeout=90)
        expect(r.status == 0 and r.stderr == "",
               f"{mode}: expected status 0 and no stderr, saw:\n{r.describe()}")
        return numbers(r.stdout), read_profile(out, argv[0], need_samples=need_samples)


def cpu_in(p, function):
    return sum(s.cpu_ns for s in p.with_function(function))


def labels_of(p, function):
    return {(s.labels.get("tid"), s.labels.get("thread_name")) for s in p.with_function(function)}


def test_a_swarm_of_short_threads_leaks_nothing():
    got, p = profiled("swarm", hz=1000)
    growth = got["rss_end_kib"] - got["rss_start_kib"]
    print(f"  {got['threads']} threads: POSIX timers {got['timers_start']} before, "
          f"{got['timers_end']} after; VmRSS {got['rss_start_kib']} KiB -> "
          f"{got['rss_end_kib']} KiB (+{growth} KiB); profile {p.total_cpu_ns() / 1e9:.3f} s "
          f"of {got['process_cpu_ns'] / 1e9:.3f} s CPU (swarm threads "
          f"{got['swarm_cpu_ns'] / 1e9:.3f} s), {p.total_count()} samples")
    expect(got["threads"] == 3000, f"fixture: expected 3000 threads, saw {got}")
    # The main thread's timer; no worker's may outlive its thread.
    expect(got["timers_end"] <= 2,
           f"expected at most 2 POSIX timers once every worker has joined, saw "
           f"{got['timers_end']} (leaked timers)")
    expect(growth < 16 * 1024,
           f"expected VmRSS to grow by less than 16 MiB over 3000 threads (8 alive at a "
           f"time), saw +{growth / 1024:.1f} MiB ({got['rss_start_kib']} -> "
           f"{got['rss_end_kib']} KiB)")
    expect(p.with_function("swarm_worker"), "expected samples in swarm_worker")


def test_a_thread_started_before_the_constructor_is_sampled():
    # The order in LD_PRELOAD decides whose constructor runs first; measured:
    # "early_lib libprofpre" runs libprofpre's first, "libprofpre early_lib"
    # runs early_lib's first. Both orders are run; one must be "before".
    seen = {}
    for order in ((EARLY_LIB, LIB), (LIB, EARLY_LIB)):
        got, p = profiled("early", preload=" ".join(order))
        name = " ".join(os.path.basename(o) for o in order)
        cpu = cpu_in(p, "early_thread_burn")
        labels = labels_of(p, "early_thread_burn")
        seen[name] = got["profpre_ran_first"]
        print(f"  LD_PRELOAD={name}: profpre_ran_first={got['profpre_ran_first']}, "
              f"early_thread_burn {cpu / 1e9:.3f} s of {got['early_cpu_ns'] / 1e9:.3f} s, "
              f"labels {labels}")
        truth = got["early_cpu_ns"]
        tolerance = binomial_tolerance(0.5, truth / 1e7) + 0.05
        expect(abs(cpu - truth) <= tolerance * truth,
               f"LD_PRELOAD={name}: expected the early thread's {truth / 1e9:.3f} s in "
               f"early_thread_burn (within {tolerance:.0%}), saw {cpu / 1e9:.3f} s")
        expect(labels == {(str(got["early_tid"]), "early")},
               f"LD_PRELOAD={name}: expected its samples labelled tid={got['early_tid']} "
               f"thread_name=early, saw {labels}")
    expect(0 in seen.values(),
           f"expected one order of LD_PRELOAD to run the early library's constructor before "
           f"libprofpre's, saw {seen}")


def test_a_thread_started_with_raw_clone_runs_unharmed():
    # A raw clone without CLONE_SETTLS shares its creator's thread-local
    # storage, where our handler (and libunwind's cache) keep per-thread
    # state: sampling it safely is not possible (a README limitation). What
    # must hold is that the program runs as without us.
    plain_run = run([fixture("threads_edge"), "clone"], timeout=60)
    got, p = profiled("clone", need_samples=False)
    expect(plain_run.status == 0 and "clone_cpu_ns" in got,
           f"expected the clone fixture to finish with and without us, saw {got}")
    print(f"  clone_burn: {cpu_in(p, 'clone_burn') / 1e9:.3f} s in the profile of "
          f"{got['clone_cpu_ns'] / 1e9:.3f} s (not sampled: shared TLS)")


def test_pthread_exit_in_the_middle_of_a_loop():
    got, p = profiled("exit")
    exiter = cpu_in(p, "exiter_burn")
    keepers = cpu_in(p, "keeper_burn")
    labels = labels_of(p, "exiter_burn")
    print(f"  exiter_burn {exiter / 1e9:.3f} s of {got['exiter_cpu_ns'] / 1e9:.3f} s, "
          f"labels {labels}; keeper_burn {keepers / 1e9:.3f} s of "
          f"{got['keeper_cpu_ns'] / 1e9:.3f} s")
    for function, cpu, truth in (("exiter_burn", exiter, got["exiter_cpu_ns"]),
                                 ("keeper_burn", keepers, got["keeper_cpu_ns"])):
        tolerance = binomial_tolerance(0.5, truth / 1e7) + 0.05
        expect(abs(cpu - truth) <= tolerance * truth,
               f"expected {truth / 1e9:.3f} s in {function} within {tolerance:.0%}, saw "
               f"{cpu / 1e9:.3f} s")
    expect(labels == {(str(got["exiter_tid"]), "exiter")},
           f"expected exiter_burn's samples labelled tid={got['exiter_tid']} "
           f"thread_name=exiter, saw {labels}")
    stacks = {tuple(p.functions(s)[p.functions(s).index("exiter_burn"):][:3])
              for s in p.with_function("exiter_burn")}
    expect(stacks == {("exiter_burn", "exiter_level2", "exiter_level1")},
           f"expected exiter_burn called from exiter_level2 and exiter_level1, saw {stacks}")


def test_a_minimal_stack_is_enough():
    got, p = profiled("tinystack", hz=1000)
    cpu = cpu_in(p, "tiny_burn")
    labels = labels_of(p, "tiny_burn")
    print(f"  stack {got['stack_size']} bytes: tiny_burn {cpu / 1e9:.3f} s of "
          f"{got['tiny_cpu_ns'] / 1e9:.3f} s, labels {labels}")
    expect(abs(cpu - got["tiny_cpu_ns"]) <= 0.1 * got["tiny_cpu_ns"],
           f"expected the tiny thread's {got['tiny_cpu_ns'] / 1e9:.3f} s in tiny_burn within "
           f"10%, saw {cpu / 1e9:.3f} s")
    expect({name for _, name in labels} == {"tiny"},
           f"expected tiny_burn's samples labelled thread_name=tiny, saw {labels}")


def test_faults_recovered_on_an_alternate_stack():
    argv = [fixture("threads_edge"), "altstack"]
    plain = run(argv, timeout=90)
    expect(plain.status == 0 and plain.stdout == "recovered=200 overflows=30\n",
           f"fixture: expected every fault recovered without the profiler, saw:\n"
           f"{plain.describe()}")
    for i in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "prof.pb.gz")
            r = run(argv, env={"PROF_OUT": out, "PROF_HZ": "1000"}, cwd=tmp, preload=True,
                    timeout=90)
            expect((r.status, r.stdout, r.stderr) == (plain.status, plain.stdout, plain.stderr),
                   f"run {i + 1} at PROF_HZ=1000: expected the same status, stdout and stderr "
                   f"as without the profiler:\n{plain.describe()}\nsaw:\n{r.describe()}")
            p = read_profile(out, argv[0])
            deep = cpu_in(p, "recurse")
            print(f"  run {i + 1}: {r.stdout.strip()}; {p.total_count()} samples, "
                  f"{deep / 1e9:.3f} s in recurse")
            expect(deep > 0, f"run {i + 1}: expected samples in recurse")


if __name__ == "__main__":
    run_tests(test_a_swarm_of_short_threads_leaks_nothing,
              test_a_thread_started_before_the_constructor_is_sampled,
              test_a_thread_started_with_raw_clone_runs_unharmed,
              test_pthread_exit_in_the_middle_of_a_loop,
              test_a_minimal_stack_is_enough,
              test_faults_recovered_on_an_alternate_stack)
