"""Processes: every process image writes its own profile, named by the rule
in preload/naming.h, and no profile holds another process's samples."""

import os
import tempfile

from pprof_helpers import expect, fixture, numbers, read_profile, run, run_tests


def profiles_of(mode, expect_status=0):
    """Runs the procs fixture in `mode` with PROF_OUT=<tmp>/prof.pb.gz and
    returns ({file name: Profile}, Run)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = run([fixture("procs"), mode], env={"PROF_OUT": os.path.join(tmp, "prof.pb.gz")},
                cwd=tmp, preload=True)
        expect(r.status == expect_status, f"{mode}: expected status {expect_status}, saw:\n"
               f"{r.describe()}")
        expect(r.stderr == "", f"{mode}: expected no stderr, saw {r.stderr!r}")
        files = sorted(f for f in os.listdir(tmp))
        expect(all(f.endswith(".pb.gz") for f in files), f"{mode}: stray files {files}")
        return {f: read_profile(os.path.join(tmp, f), need_samples=False) for f in files}, r


def phases(profile):
    names = {"parent_phase", "child_phase", "before_exec_phase", "after_exec_phase",
             "after_failed_exec_phase"}
    return {n for s in profile.samples for n in profile.functions(s) if n in names}


def test_a_forked_child_writes_its_own_profile():
    profiles, r = profiles_of("fork")
    child = numbers(r.stdout)["child"]
    expect(set(profiles) == {"prof.pb.gz", f"prof.{child}.pb.gz"},
           f"expected prof.pb.gz and prof.{child}.pb.gz, saw {sorted(profiles)}")
    expect(phases(profiles["prof.pb.gz"]) == {"parent_phase"},
           f"expected only the parent's CPU in prof.pb.gz, saw {phases(profiles['prof.pb.gz'])}")
    expect(phases(profiles[f"prof.{child}.pb.gz"]) == {"child_phase"},
           f"expected only the child's CPU in its profile, saw "
           f"{phases(profiles[f'prof.{child}.pb.gz'])}")
    parent_cpu = profiles["prof.pb.gz"].total_cpu_ns()
    expect(0.3e9 <= parent_cpu <= 0.5e9,
           f"expected ~0.4 s of parent CPU (2 x 0.2 s), saw {parent_cpu / 1e9:.3f} s")


def test_each_image_of_an_exec_chain_keeps_its_profile():
    profiles, _ = profiles_of("exec")
    expect(set(profiles) == {"prof.pb.gz", "prof.1.pb.gz"},
           f"expected prof.pb.gz and prof.1.pb.gz, saw {sorted(profiles)}")
    expect(phases(profiles["prof.pb.gz"]) == {"before_exec_phase"},
           f"expected the first image's CPU in prof.pb.gz, saw {phases(profiles['prof.pb.gz'])}")
    expect(phases(profiles["prof.1.pb.gz"]) == {"after_exec_phase"},
           f"expected the second image's CPU in prof.1.pb.gz, saw "
           f"{phases(profiles['prof.1.pb.gz'])}")


def test_profiling_resumes_after_a_failed_exec():
    profiles, _ = profiles_of("exec-fail")
    expect(set(profiles) == {"prof.pb.gz", "prof.1.pb.gz"},
           f"expected prof.pb.gz and prof.1.pb.gz, saw {sorted(profiles)}")
    expect(phases(profiles["prof.1.pb.gz"]) == {"after_failed_exec_phase"},
           f"expected the CPU after the failed exec in prof.1.pb.gz, saw "
           f"{phases(profiles['prof.1.pb.gz'])}")


def test_underscore_exit_writes_the_profile():
    profiles, _ = profiles_of("underscore-exit", expect_status=3)
    expect(list(profiles) == ["prof.pb.gz"] and phases(profiles["prof.pb.gz"]) == {"parent_phase"},
           f"expected prof.pb.gz with parent_phase, saw {sorted(profiles)}")


def test_spawned_children_write_their_own_profiles():
    profiles, r = profiles_of("spawn")
    child = numbers(r.stdout)["child"]
    expect(f"prof.{child}.pb.gz" in profiles,
           f"expected the posix_spawn child's prof.{child}.pb.gz, saw {sorted(profiles)}")
    with_child = [f for f, p in profiles.items() if "child_phase" in phases(p)]
    # posix_spawn's child, and system()'s shell exec'ing into the fixture.
    expect(len(with_child) == 2, f"expected two profiles holding child_phase, saw {with_child}")
    expect("child_phase" not in phases(profiles["prof.pb.gz"]),
           "expected no child CPU in the parent's profile")


def test_exit_from_another_thread_writes_the_profile():
    profiles, _ = profiles_of("thread-exit", expect_status=4)
    expect(list(profiles) == ["prof.pb.gz"], f"expected prof.pb.gz, saw {sorted(profiles)}")
    cpu = profiles["prof.pb.gz"].total_cpu_ns()
    expect(cpu >= 0.15e9, f"expected the exiting thread's 0.2 s in the profile, saw {cpu / 1e9} s")


if __name__ == "__main__":
    run_tests(test_a_forked_child_writes_its_own_profile,
              test_each_image_of_an_exec_chain_keeps_its_profile,
              test_profiling_resumes_after_a_failed_exec,
              test_underscore_exit_writes_the_profile,
              test_spawned_children_write_their_own_profiles,
              test_exit_from_another_thread_writes_the_profile)
