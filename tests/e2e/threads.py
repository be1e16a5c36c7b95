#!/usr/bin/env python3
"""e2e-threads: four named threads each burn CPU in their own function; each
function's samples must carry that thread's tid and name, and the profile's
CPU total must match the process CPU from getrusage."""

import re
import tempfile

from pprof_helpers import expect, fixture, numbers, profile_run, run_tests

WORKERS = 4


def test_threads_are_told_apart():
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("threads")], tmp)
    tids = {int(i): int(t) for i, t in re.findall(r"worker-(\d+) tid=(\d+)", run.stderr)}
    expect(len(tids) == WORKERS, f"expected {WORKERS} worker tids from the fixture, saw "
           f"{run.stderr!r}")
    seen_tids = set()
    for i in range(WORKERS):
        function, name = f"worker_fn_{i}", f"worker-{i}"
        samples = profile.with_function(function)
        expect(samples, f"expected samples in {function}, saw functions "
               f"{sorted({f for s in profile.samples for f in profile.functions(s)})}")
        labels = {(s.labels.get("tid"), s.labels.get("thread_name")) for s in samples}
        print(f"  {function}: {sum(s.count for s in samples)} samples, labels {labels}")
        expect(labels == {(str(tids[i]), name)},
               f"{function}: expected every sample labelled tid={tids[i]} "
               f"thread_name={name}, saw {labels}")
        seen_tids.add(tids[i])
    expect(len(seen_tids) == WORKERS, f"expected {WORKERS} distinct tids, saw {seen_tids}")

    rusage = numbers(run.stderr)["rusage_cpu_ns"]
    total = profile.total_cpu_ns()
    print(f"  profile cpu {total / 1e9:.3f} s, getrusage {rusage / 1e9:.3f} s")
    expect(abs(total - rusage) <= 0.1 * rusage,
           f"expected the profile's cpu total within 10% of getrusage's "
           f"{rusage / 1e9:.3f} s, saw {total / 1e9:.3f} s")


if __name__ == "__main__":
    run_tests(test_threads_are_told_apart)
