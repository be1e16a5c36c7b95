#!/usr/bin/env python3
"""e2e-ratio: one thread spends CPU in ratio_one, ratio_two and ratio_three
in the ratio 1:2:3; the profile's shares must match the shares the fixture
measured with its thread CPU clock."""

import tempfile

from pprof_helpers import binomial_tolerance, expect, fixture, numbers, profile_run, run_tests

HZ = 250
FUNCTIONS = ["ratio_one", "ratio_two", "ratio_three"]


def leaf_most(profile, sample, names):
    """The first of `names` met walking the sample's stack from the leaf."""
    return next((f for f in profile.functions(sample) if f in names), None)


def test_shares_match_measured_cpu():
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("ratio")], tmp, hz=HZ)
    truth = numbers(run.stderr)
    measured = {f: truth[f + "_ns"] for f in FUNCTIONS}
    counts = dict.fromkeys(FUNCTIONS, 0)
    for s in profile.samples:
        f = leaf_most(profile, s, FUNCTIONS)
        if f is not None:
            counts[f] += s.count
    # The names must be demangled: fx::ratio_one(long long), not _ZN2fx...
    full = {l.function for s in profile.samples for l in profile.frames(s) if l.name in FUNCTIONS}
    seen = sorted({repr(l.function) for s in profile.samples for l in profile.frames(s)})
    expect(full and all(name.startswith("fx::ratio_") for name in full),
           f"expected frames named fx::ratio_one(long long) etc. (demangled), saw "
           f"{sorted(full)}; all function names in the profile: {', '.join(seen[:20])}")
    n = sum(counts.values())
    cpu_s = sum(measured.values()) / 1e9
    expected_n = cpu_s * HZ
    print(f"  measured ns {measured}; samples {counts}; n={n}, expected ~{expected_n:.0f}")
    expect(n >= 0.7 * expected_n,
           f"expected at least 70% of {cpu_s:.2f} s * {HZ} Hz = {expected_n:.0f} samples "
           f"in the three functions, saw {n}")
    for f in FUNCTIONS:
        p = measured[f] / sum(measured.values())
        share = counts[f] / n
        tol = binomial_tolerance(p, n)
        print(f"  {f}: profile share {share:.4f}, measured {p:.4f}, tolerance {tol:.4f}")
        expect(abs(share - p) <= tol,
               f"{f}: expected a share of {p:.4f} +- {tol:.4f}, saw {share:.4f} "
               f"({counts[f]} of {n} samples)")


if __name__ == "__main__":
    run_tests(test_shares_match_measured_cpu)
