"""Tests of `profpre merge`: pprof reads the result, and -tagfocus on the
process label gives back each process's own samples."""

import os
import re

from cli_support import (go_runtime_profiles, gperftools_profile, process_name, profpre,
                         raw_profile, recorded_hot, recorded_make, session_dir)
from pprof_helpers import expect, pprof


def _merge(output, *inputs):
    r = profpre("merge", "-o", output, *inputs)
    expect(r.status == 0 and os.path.isfile(output), f"expected merge to write {output}, saw:\n"
           f"{r.describe()}")
    return r


def _totals(raw):
    return raw.profile.total_count(), raw.profile.total_cpu_ns()


def test_merge_of_a_build_splits_by_process():
    _, out, _, _ = recorded_make()
    merged = os.path.join(session_dir(), "build.pb.gz")
    _merge(merged, out)
    whole = raw_profile(merged)
    labels = [s.labels.get("process") for s in whole.profile.samples]
    expect(labels and all(labels), "expected a process label on every sample")
    sources = [raw_profile(os.path.join(out, f)) for f in sorted(os.listdir(out))]
    want_total = (sum(_totals(s)[0] for s in sources), sum(_totals(s)[1] for s in sources))
    expect(_totals(whole) == want_total, f"expected the merged totals {want_total}, saw "
           f"{_totals(whole)}")

    # Each process comes back whole through -tagfocus, by name[pid] and by name.
    cc1_total = [0, 0]
    for source in sources:
        if not source.profile.samples:
            continue
        label = f"{process_name(source)}[{source.comment('pid')}]"
        focused = raw_profile(merged, f"-tagfocus=process=^{re.escape(label)}$")
        expect(_totals(focused) == _totals(source),
               f"expected -tagfocus=process={label} to give {_totals(source)}, saw "
               f"{_totals(focused)}")
        if process_name(source) == "cc1":
            cc1_total = [a + b for a, b in zip(cc1_total, _totals(source))]
    focused = raw_profile(merged, r"-tagfocus=process=^cc1\[")
    expect(list(_totals(focused)) == cc1_total, f"expected all cc1 samples, {cc1_total}, saw "
           f"{_totals(focused)}")
    tags = pprof("-tags", merged)
    expect("process:" in tags and "cc1[" in tags,
           f"expected pprof -tags to list processes:\n{tags}")


def test_merge_of_other_producers():
    ours, _, _ = recorded_hot()
    gperf, _ = gperftools_profile()
    cpu, heap = go_runtime_profiles()
    merged = os.path.join(session_dir(), "producers.pb.gz")
    _merge(merged, ours, gperf, cpu)
    whole = raw_profile(merged)
    parts = [raw_profile(p) for p in (os.path.join(ours, os.listdir(ours)[0]), gperf, cpu)]
    expect(_totals(whole) == tuple(map(sum, zip(*(_totals(p) for p in parts)))),
           "expected the merged totals to be the sum of the three")
    for pattern, part in ((r"^profpre_fx_hot\[", parts[0]), (r"^profpre_fx_hot$", parts[1]),
                          (r"^goprog$", parts[2])):
        focused = raw_profile(merged, f"-tagfocus=process={pattern}")
        expect(_totals(focused) == _totals(part), f"expected -tagfocus=process={pattern} to give "
               f"{_totals(part)}, saw {_totals(focused)}")
    functions = {l.function for s in whole.profile.samples for l in whole.profile.frames(s)}
    expect({"hot_large", "main.hotLoop"} <= functions, f"expected both producers' functions, "
           f"saw {sorted(functions)[:40]}")

    # Merging a merge keeps the labels; merging different kinds is refused.
    again = os.path.join(session_dir(), "again.pb.gz")
    _merge(again, merged)
    relabelled = {s.labels["process"] for s in raw_profile(again).profile.samples}
    expect(relabelled == {s.labels["process"] for s in whole.profile.samples},
           f"expected the process labels to survive a second merge, saw {relabelled}")
    r = profpre("merge", "-o", os.path.join(session_dir(), "mixed.pb.gz"), cpu, heap)
    expect(r.status == 1 and "measures inuse_space/bytes" in r.stderr and
           not os.path.exists(os.path.join(session_dir(), "mixed.pb.gz")),
           f"expected a CPU and a heap profile to be refused, saw:\n{r.describe()}")


def test_merge_usage():
    for args, message in (([], "say where to write"), (["-o", "x.pb.gz"], "no profiles given")):
        r = profpre("merge", *args)
        expect(r.status == 2 and message in r.stderr, f"expected status 2 and {message!r}, "
               f"saw:\n{r.describe()}")
    r = profpre("merge", "--help")
    expect(r.status == 0 and r.stdout.startswith("Usage: profpre merge"),
           f"expected help, saw:\n{r.describe()}")


TESTS = [
    test_merge_of_a_build_splits_by_process,
    test_merge_of_other_producers,
    test_merge_usage,
]
