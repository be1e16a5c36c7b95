#!/usr/bin/env python3
"""e2e-deep: every sample in deep_leaf, at the bottom of a 150-frame
recursion, must show all 150 deep_recurse frames and main beyond them."""

import tempfile

from pprof_helpers import expect, fixture, numbers, profile_run, run_tests

DEPTH = 150
HZ = 250


def test_deep_stacks_are_complete():
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("deep"), str(DEPTH), "0.8"], tmp, hz=HZ)
    truth = numbers(run.stderr)
    expect(truth.get("depth") == DEPTH, f"expected the fixture to report depth={DEPTH}, "
           f"saw {run.stderr!r}")
    samples = profile.with_function("deep_leaf")
    n = sum(s.count for s in samples)
    expected_n = truth["cpu_ns"] / 1e9 * HZ
    print(f"  {n} samples in deep_leaf, expected ~{expected_n:.0f}")
    expect(n >= 0.7 * expected_n, f"expected at least 70% of ~{expected_n:.0f} samples in "
           f"deep_leaf, saw {n}")
    depths = set()
    for s in samples:
        functions = profile.functions(s)
        recursion = [i for i, f in enumerate(functions) if f == "deep_recurse"]
        depths.add(len(recursion))
        expect(len(recursion) >= DEPTH,
               f"expected at least {DEPTH} deep_recurse frames under deep_leaf, saw "
               f"{len(recursion)} in {functions}")
        expect("main" in functions[recursion[-1]:],
               f"expected main beyond the last deep_recurse frame, saw {functions}")
        pseudo = [f for f in functions if f.startswith("[profpre]")]
        expect(not pseudo, f"expected no pseudo-frame, saw {pseudo} in {functions}")
    print(f"  deep_recurse frames per stack: {sorted(depths)}")


if __name__ == "__main__":
    run_tests(test_deep_stacks_are_complete)
