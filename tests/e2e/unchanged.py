#!/usr/bin/env python3
"""e2e-unchanged: a program's stdout, stderr and exit status are the same
with and without the profiler."""

import os
import tempfile

from pprof_helpers import expect, fixture, read_profile, run, run_tests

INPUT = ["first line", "  second, indented", "", "fourth after an empty line"]


def test_output_and_status_unchanged():
    program = fixture("unchanged")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "input.txt")
        with open(data, "w") as f:
            f.write("\n".join(INPUT) + "\n")
        argv = [program, data]
        plain = run(argv, cwd=tmp)
        expected_stdout = ("unchanged: start\n" + "".join(f"> {l}\n" for l in INPUT) +
                           f"unchanged: {len(INPUT)} lines\n")
        expected_stderr = f"unchanged: reading {data}\nunchanged: done\n"
        expect((plain.status, plain.stdout, plain.stderr) == (3, expected_stdout, expected_stderr),
               f"expected the fixture alone to exit 3 with known output, saw:\n{plain.describe()}")
        for hz in ("100", "1000"):
            out = os.path.join(tmp, f"prof-{hz}.pb.gz")
            profiled = run(argv, env={"PROF_OUT": out, "PROF_HZ": hz}, cwd=tmp, preload=True)
            for what in ("status", "stdout", "stderr"):
                expect(getattr(profiled, what) == getattr(plain, what),
                       f"PROF_HZ={hz}: expected {what} {getattr(plain, what)!r} as without the "
                       f"profiler, saw {getattr(profiled, what)!r}")
            profile = read_profile(out, program)
            print(f"  PROF_HZ={hz}: identical output and status 3; "
                  f"{profile.total_count()} samples in the profile")
        left = sorted(os.listdir(tmp))
        expect(left == ["input.txt", "prof-100.pb.gz", "prof-1000.pb.gz"],
               f"expected only the input and two profiles in the directory, saw {left}")


if __name__ == "__main__":
    run_tests(test_output_and_status_unchanged)
