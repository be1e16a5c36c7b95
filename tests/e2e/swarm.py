"""Threads shorter than a kernel tick: their CPU is counted, at their stacks.

A CPU timer fires only on a tick at which its thread runs, so 0.25 ms
threads almost never receive their own samples; the profile settles their
undelivered expirations at thread exit (core/accounting.h)."""

import math
import tempfile

from pprof_helpers import expect, fixture, numbers, profile_run, run_tests

HZ = 1000
PERIOD_NS = 1e9 / HZ


def test_short_threads_cpu_is_counted():
    with tempfile.TemporaryDirectory() as tmp:
        r, p = profile_run([fixture("swarm")], tmp, hz=HZ)
    truth = numbers(r.stderr)
    short_cpu = sum(s.cpu_ns for s in p.with_function("swarm_short"))
    long_cpu = sum(s.cpu_ns for s in p.with_function("swarm_long"))
    # Each short thread's count of expirations is one more or less than its
    # CPU in periods, with probability the fraction: a Bernoulli per thread.
    threads = 4000
    fraction = (truth["short_ns"] / threads) / PERIOD_NS % 1
    sigma_ns = math.sqrt(threads * fraction * (1 - fraction)) * PERIOD_NS
    tolerance = 4 * sigma_ns + 0.02 * truth["short_ns"]
    print(f"  short: profile {short_cpu / 1e9:.3f} s, truth {truth['short_ns'] / 1e9:.3f} s, "
          f"tolerance {tolerance / 1e9:.3f} s; long: {long_cpu / 1e9:.3f} s")
    expect(abs(short_cpu - truth["short_ns"]) <= tolerance,
           f"expected swarm_short's CPU within {tolerance / 1e9:.3f} s of "
           f"{truth['short_ns'] / 1e9:.3f} s, saw {short_cpu / 1e9:.3f} s")
    expect(abs(long_cpu - truth["long_ns"]) <= 0.05 * truth["long_ns"],
           f"expected swarm_long's CPU within 5% of {truth['long_ns'] / 1e9:.3f} s, "
           f"saw {long_cpu / 1e9:.3f} s")


if __name__ == "__main__":
    run_tests(test_short_threads_cpu_is_counted)
