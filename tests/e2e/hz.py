#!/usr/bin/env python3
"""e2e-hz: at PROF_HZ=100 and PROF_HZ=1000 the profile's CPU total must match
the CPU the program used; 1000 Hz, above the 250 Hz kernel tick, must give
more samples (each weighted by 1 + timer overruns)."""

import tempfile

from pprof_helpers import expect, fixture, numbers, profile_run, run_tests

SECONDS = "1.5"


def profile_at(hz):
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("burn"), SECONDS], tmp, hz=hz)
    truth = numbers(run.stderr)
    total = profile.total_cpu_ns()
    count = profile.total_count()
    print(f"  {hz} Hz: {count} samples, profile cpu {total / 1e9:.3f} s, main thread cpu "
          f"{truth['thread_cpu_ns'] / 1e9:.3f} s, process cpu "
          f"{truth['process_cpu_ns'] / 1e9:.3f} s")
    expect(profile.period == 10**9 // hz,
           f"{hz} Hz: expected period {10**9 // hz} ns, saw {profile.period}")
    cpu = truth["thread_cpu_ns"]
    expect(abs(total - cpu) <= 0.1 * cpu,
           f"{hz} Hz: expected the profile's cpu total within 10% of the measured "
           f"{cpu / 1e9:.3f} s, saw {total / 1e9:.3f} s")
    return count


def test_cpu_total_matches_at_both_rates():
    low = profile_at(100)
    high = profile_at(1000)
    expect(high >= 2 * low,
           f"expected at least twice as many samples at 1000 Hz as at 100 Hz ({low}), "
           f"saw {high}")


if __name__ == "__main__":
    run_tests(test_cpu_total_matches_at_both_rates)
