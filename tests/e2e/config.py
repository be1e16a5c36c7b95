#!/usr/bin/env python3
"""e2e-config: the environment variables PROF_OUT, PROF_HZ and PROF_VERBOSE:
warnings, silence, %p, relative paths and unwritable outputs."""

import os
import tempfile

from pprof_helpers import expect, fixture, read_profile, run, run_tests

STATUS = 5  # the cfg fixture's exit status


def program():
    return fixture("cfg")


def plain_run(*args):
    with tempfile.TemporaryDirectory() as tmp:
        r = run([program(), *args], cwd=tmp)
    expect(r.status == STATUS and r.profpre_lines() == [],
           f"expected the fixture alone to exit {STATUS} silently, saw:\n{r.describe()}")
    return r


def expect_same_program_output(profiled, plain):
    """Same status and stdout; stderr the same once profpre: lines are removed."""
    own_stderr = [l for l in profiled.stderr.splitlines() if not l.startswith("profpre:")]
    expect(profiled.status == plain.status and profiled.stdout == plain.stdout and
           own_stderr == plain.stderr.splitlines(),
           f"expected the program's own output and status:\n{plain.describe()}\nsaw:\n"
           f"{profiled.describe()}")


def test_bad_hz_warns_once_and_uses_100():
    plain = plain_run()
    for bad in ("abc", "0", "10001"):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "p.pb.gz")
            r = run([program()], env={"PROF_OUT": out, "PROF_HZ": bad}, cwd=tmp, preload=True)
            lines = r.profpre_lines()
            expect(len(lines) == 1 and "PROF_HZ" in lines[0],
                   f"PROF_HZ={bad}: expected one profpre: line naming PROF_HZ, saw {lines}")
            expect_same_program_output(r, plain)
            profile = read_profile(out, program())
            expect(profile.period == 10**7,
                   f"PROF_HZ={bad}: expected the default 100 Hz (period 10000000 ns), saw "
                   f"period {profile.period}")
            print(f"  PROF_HZ={bad}: {lines[0]!r}; profile period {profile.period}")


def test_hz_limits_accepted_silently():
    for hz in ("1", "10000"):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "p.pb.gz")
            r = run([program()], env={"PROF_OUT": out, "PROF_HZ": hz}, cwd=tmp, preload=True)
            expect(r.profpre_lines() == [], f"PROF_HZ={hz}: expected no profpre: line, saw "
                   f"{r.profpre_lines()}")
            # At 1 Hz a 0.1 s run may well have no sample: still a valid profile.
            period = read_profile(out, program(), need_samples=False).period
            expect(period == 10**9 // int(hz),
                   f"PROF_HZ={hz}: expected period {10**9 // int(hz)}, saw {period}")


def test_empty_out_warns_and_writes_nothing():
    plain = plain_run()
    with tempfile.TemporaryDirectory() as tmp:
        r = run([program()], env={"PROF_OUT": ""}, cwd=tmp, preload=True)
        left = os.listdir(tmp)
    expect(len(r.profpre_lines()) == 1,
           f"PROF_OUT='': expected one profpre: line, saw {r.profpre_lines()}")
    expect_same_program_output(r, plain)
    expect(left == [], f"PROF_OUT='': expected no file written, saw {left}")
    print(f"  PROF_OUT='': {r.profpre_lines()[0]!r}")


def test_unset_out_is_silent():
    plain = plain_run()
    with tempfile.TemporaryDirectory() as tmp:
        r = run([program()], env={"PROF_HZ": "abc"}, cwd=tmp, preload=True)
        left = os.listdir(tmp)
    expect((r.status, r.stdout, r.stderr) == (plain.status, plain.stdout, plain.stderr),
           f"PROF_OUT unset: expected exactly the program's own output:\n{plain.describe()}\n"
           f"saw:\n{r.describe()}")
    expect(left == [], f"PROF_OUT unset: expected no file written, saw {left}")


def test_pid_and_percent_expand():
    with tempfile.TemporaryDirectory() as tmp:
        r = run([program(), "pid"], env={"PROF_OUT": "prof.%p.100%%.pb.gz"}, cwd=tmp,
                preload=True)
        expect(r.status == STATUS and r.profpre_lines() == [],
               f"expected status {STATUS} and no profpre: line, saw:\n{r.describe()}")
        pid = [l[len("pid="):] for l in r.stdout.splitlines() if l.startswith("pid=")]
        expect(len(pid) == 1, f"expected the fixture to print its pid, saw {r.stdout!r}")
        name = f"prof.{pid[0]}.100%.pb.gz"
        left = os.listdir(tmp)
        expect(left == [name], f"expected only {name} to be written, saw {left}")
        read_profile(os.path.join(tmp, name), program())
    print(f"  prof.%p.100%%.pb.gz -> {name}")


def test_relative_out_is_resolved_at_start():
    with tempfile.TemporaryDirectory() as start, tempfile.TemporaryDirectory() as later:
        r = run([program(), f"chdir={later}"], env={"PROF_OUT": "p.pb.gz"}, cwd=start,
                preload=True)
        expect(r.status == STATUS and r.profpre_lines() == [],
               f"expected status {STATUS} and no profpre: line, saw:\n{r.describe()}")
        in_start, in_later = os.listdir(start), os.listdir(later)
        expect(in_start == ["p.pb.gz"] and in_later == [],
               f"expected p.pb.gz in the starting directory only, saw start {in_start}, "
               f"later {in_later}")
        read_profile(os.path.join(start, "p.pb.gz"), program())


def test_unwritable_out_reports_and_keeps_status():
    plain = plain_run()
    # A missing directory fails at once; a directory in the way fails only at
    # the final rename, after the temporary file has been written.
    for case in ("missing/p.pb.gz", "a-directory"):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "a-directory"))
            out = os.path.join(tmp, case)
            r = run([program()], env={"PROF_OUT": out}, cwd=tmp, preload=True)
            left = sorted(os.listdir(tmp)) + os.listdir(os.path.join(tmp, "a-directory"))
        lines = r.profpre_lines()
        expect(len(lines) == 1 and lines[0].startswith("profpre: cannot write the profile: "),
               f"PROF_OUT={case}: expected one 'profpre: cannot write the profile: ...' line, "
               f"saw {lines}")
        expect_same_program_output(r, plain)
        expect(left == ["a-directory"],
               f"PROF_OUT={case}: expected no file left behind, saw {left}")
        print(f"  PROF_OUT={case}: {lines[0]!r}")


def test_verbose_says_a_few_lines():
    plain = plain_run()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.pb.gz")
        r = run([program()], env={"PROF_OUT": out, "PROF_VERBOSE": "1"}, cwd=tmp, preload=True)
        lines = r.profpre_lines()
        expect(1 <= len(lines) <= 5, f"PROF_VERBOSE=1: expected 1 to 5 profpre: lines, saw "
               f"{lines}")
        expect_same_program_output(r, plain)
        read_profile(out, program())
    print(f"  PROF_VERBOSE=1: {lines}")


if __name__ == "__main__":
    run_tests(test_bad_hz_warns_once_and_uses_100, test_hz_limits_accepted_silently,
              test_empty_out_warns_and_writes_nothing, test_unset_out_is_silent,
              test_pid_and_percent_expand, test_relative_out_is_resolved_at_start,
              test_unwritable_out_reports_and_keeps_status, test_verbose_says_a_few_lines)
