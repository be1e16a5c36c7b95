"""Tests of `profpre report`: its numbers against ground truth and against an
independent computation from `go tool pprof -raw`, a make -j2 tree, profiles
of other producers, and strict reading of broken files."""

import gzip
import os
import shutil

from cli_support import (HOT_FUNCTIONS, flat_cum, go_runtime_profiles, gperftools_profile,
                         process_name, profpre, raw_profile, recorded_hot, recorded_make,
                         report_tables, session_dir, total_seconds)
from pprof_helpers import binomial_tolerance, expect


def _report(*args):
    r = profpre("report", *args)
    expect(r.status == 0 and r.stderr == "", f"expected report to succeed quietly, saw:\n"
           f"{r.describe()}")
    return report_tables(r.stdout), r.stdout


def _check_rows_against_pprof(rows, raws, what):
    """Every row's flat% and cum% equal the ones computed from pprof -raw."""
    flat, cum, total = flat_cum(raws)
    for row in rows:
        key = (row.name, row.library)
        expect(key in cum, f"{what}: report names {key}, which pprof -raw does not show; "
               f"pprof's functions: {sorted(cum)[:30]}")
        want = (round(100 * flat.get(key, 0) / total, 1), round(100 * cum[key] / total, 1))
        close = abs(row.flat_pct - want[0]) <= 0.05 + 1e-9 and \
            abs(row.cum_pct - want[1]) <= 0.05 + 1e-9
        expect(close,
               f"{what}: {key}: expected flat/cum {want[0]}%/{want[1]}% (from pprof -raw), saw "
               f"{row.flat_pct}%/{row.cum_pct}%")
    return flat, cum, total


def test_report_matches_the_ground_truth():
    out, path, truth = recorded_hot()
    (header, rows, processes), text = _report("--top", "50", out)
    print("  " + "\n  ".join(text.splitlines()[:10]))
    raw = raw_profile(path)
    flat, cum, total = _check_rows_against_pprof(rows, [raw], "fx_hot")
    expect(abs(total_seconds(header) - total / 1e9) <= 0.006,
           f"expected the header's total to be {total / 1e9:.3f} s, saw {header!r}")
    expect(rows[0].name == "hot_large", f"expected hot_large on top of the flat table, saw "
           f"{rows[0]}")
    by_name = {r.name: r for r in rows}
    n = total / 1e9 * 250
    measured = sum(truth.values())
    share_sum = sum(by_name[f].cum_pct for f in HOT_FUNCTIONS)
    for f in HOT_FUNCTIONS:
        p = truth[f] / measured
        share = by_name[f].cum_pct / share_sum
        tol = binomial_tolerance(p, n)
        print(f"  {f}: cum share {share:.4f}, measured {p:.4f}, tolerance {tol:.4f}")
        expect(abs(share - p) <= tol, f"{f}: expected a cum share of {p:.4f} +- {tol:.4f}, "
               f"saw {share:.4f}")
    expect(by_name["drive"].flat_pct < 2 and by_name["drive"].cum_pct > 90,
           f"expected drive to have little flat and almost all cum CPU, saw {by_name['drive']}")
    expect(len(processes) == 1 and processes[0][2] == "profpre_fx_hot" and
           processes[0][3] == "hot_large [profpre_fx_hot]",
           f"expected one process whose hottest function is hot_large, saw {processes}")


def test_report_names_the_compilers_hottest_functions():
    _, out, _, sources = recorded_make()
    (header, rows, processes), text = _report("--top", "15", out)
    print("  " + "\n  ".join(text.splitlines()))
    raws = [raw_profile(os.path.join(out, f)) for f in sorted(os.listdir(out))]
    flat, _, total = _check_rows_against_pprof(rows, raws, "make -j2")
    expect(abs(total_seconds(header) - total / 1e9) <= 0.006,
           f"expected the header's total to be {total / 1e9:.3f} s, saw {header!r}")

    # Ground truth from pprof: the process name with the most CPU, and its
    # hottest function.
    per_process, cc1_flat = {}, {}
    for raw in raws:
        name = process_name(raw)
        per_process[name] = per_process.get(name, 0) + raw.profile.total_cpu_ns()
        if name == "cc1":
            f, _, _ = flat_cum([raw])
            for k, v in f.items():
                cc1_flat[k] = cc1_flat.get(k, 0) + v
    top_process = max(per_process, key=per_process.get)
    expect(top_process == "cc1", f"expected cc1 to use the most CPU of the build, pprof says "
           f"{per_process}")
    cc1 = next((p for p in processes if p[2] == "cc1"), None)
    expect(processes[0][2] == "cc1" and cc1[1] == sources,
           f"expected cc1 first with {sources} profiles, saw {processes}")
    best = max(cc1_flat.values())
    hottest = {f"{n} [{lib}]" for (n, lib), v in cc1_flat.items() if v == best}
    expect(cc1[3] in hottest, f"expected cc1's hottest function to be one of {hottest}, saw "
           f"{cc1[3]}")
    cc1_rows = [r for r in rows if r.library == "cc1" and r.flat_pct > 0]
    expect(len(cc1_rows) >= 3, f"expected cc1's functions among the hottest, saw {rows}")


def test_report_reads_profiles_of_other_producers():
    gperf, truth = gperftools_profile()
    (header, rows, processes), text = _report(gperf)
    print("  gperftools:\n  " + "\n  ".join(text.splitlines()[:8]))
    _check_rows_against_pprof(rows, [raw_profile(gperf)], "gperftools")
    expect(rows[0].name == "hot_large", f"expected hot_large on top, saw {rows[0]}")
    expect(processes[0][2] == "profpre_fx_hot", f"expected the process named by mapping 1, saw "
           f"{processes}")

    cpu, heap = go_runtime_profiles()
    (header, rows, processes), text = _report(cpu)
    print("  go runtime:\n  " + "\n  ".join(text.splitlines()[:8]))
    _check_rows_against_pprof(rows, [raw_profile(cpu)], "go runtime")
    expect(rows[0].name == "main.hotLoop" and rows[0].flat_pct > 80,
           f"expected main.hotLoop on top, saw {rows[0]}")

    # A heap profile: no cpu value, so the last sample type, inuse_space/bytes.
    r = profpre("report", heap)
    expect(r.status == 0 and "of inuse_space/bytes" in r.stdout.splitlines()[0],
           f"expected a report of inuse_space, saw:\n{r.describe()}")
    r = profpre("report", cpu, heap)
    expect(r.status == 1 and r.stdout == "" and f"{heap}: measures inuse_space/bytes, but {cpu} "
           f"measures cpu/nanoseconds" in r.stderr,
           f"expected profiles of different kinds to be refused, saw:\n{r.describe()}")

    # All producers at once.
    out, _, _ = recorded_hot()
    (header, rows, processes), _ = _report(out, gperf, cpu)
    expect(sorted(p[2] for p in processes) == ["goprog", "profpre_fx_hot"] and
           [p[1] for p in processes if p[2] == "profpre_fx_hot"] == [2],
           f"expected two fx_hot profiles and one Go profile, saw {processes}")


def _broken_files():
    """(path, expected reason) of broken copies of a good profile."""
    _, good, _ = recorded_hot()
    d = os.path.join(session_dir(), "broken")
    os.makedirs(d, exist_ok=True)
    data = open(good, "rb").read()
    raw = gzip.decompress(data)
    cases = {
        "truncated.pb.gz": (data[:len(data) // 2], "bad gzip data"),
        "corrupt.pb.gz": (data[:len(data) // 2] + bytes(b ^ 0x55 for b in data[len(data) // 2:
                                                                               len(data) // 2 + 8])
                          + data[len(data) // 2 + 8:], "bad gzip data"),
        "cut-proto.pb.gz": (gzip.compress(raw[:len(raw) - 5]), "not a valid profile"),
        "cut-proto.pb": (raw[:len(raw) // 3], "not a valid profile"),
        "empty.pb.gz": (b"", "empty file"),
        "text.pb.gz": (b"this is not a profile\n", "not a valid profile"),
    }
    out = []
    for name, (content, reason) in cases.items():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(content)
        out.append((path, reason))
    return out


def test_broken_files_are_refused_by_name():
    _, good, _ = recorded_hot()
    for path, reason in _broken_files():
        for command, extra in (("report", []), ("flame", ["-o", path + ".html"]),
                               ("merge", ["-o", path + ".merged.pb.gz"])):
            r = profpre(command, *extra, good, path)
            want = f"profpre: {command}: {path}: {reason}"
            expect(r.status == 1 and r.stdout == "" and r.stderr.startswith(want) and
                   r.stderr.count("\n") == 1,
                   f"expected exit 1 and one line starting {want!r}, saw:\n{r.describe()}")
            expect(not os.path.exists(path + ".html") and
                   not os.path.exists(path + ".merged.pb.gz"),
                   f"expected {command} to write nothing after {path}")
    # One bad file in a directory of good ones.
    d = os.path.join(session_dir(), "one-bad")
    os.makedirs(d)
    shutil.copy(good, os.path.join(d, "prof.1.pb.gz"))
    shutil.copy(_broken_files()[0][0], os.path.join(d, "prof.2.pb.gz"))
    r = profpre("report", d)
    expect(r.status == 1 and r.stdout == "" and
           r.stderr.startswith(f"profpre: report: {d}/prof.2.pb.gz: bad gzip data"),
           f"expected the bad file of the directory to be named, saw:\n{r.describe()}")


def test_report_usage_and_missing_files():
    cases = [([], 2, "no profiles given"), (["--top", "x", "a"], 2, "--top needs a whole number"),
             (["--sort", "x", "a"], 2, "--sort takes flat or cum"),
             (["/nonexistent.pb.gz"], 1, "/nonexistent.pb.gz: No such file or directory"),
             ([session_dir() + "/gohome"], 1, "no profiles in this directory")]
    go_runtime_profiles()  # makes gohome
    for args, status, message in cases:
        r = profpre("report", *args)
        expect(r.status == status and message in r.stderr and r.stdout == "",
               f"expected status {status} and {message!r}, saw:\n{r.describe()}")
    r = profpre("report", "--help")
    expect(r.status == 0 and r.stdout.startswith("Usage: profpre report"),
           f"expected help, saw:\n{r.describe()}")
    r = profpre("report", "--sort", "cum", "--top", "3", recorded_hot()[0])
    _, rows, _ = report_tables(r.stdout)
    expect(r.status == 0 and len(rows) == 3 and rows[0].cum_pct >= rows[1].cum_pct >= 99,
           f"expected 3 rows by cum, saw:\n{r.stdout}")


TESTS = [
    test_report_matches_the_ground_truth,
    test_report_names_the_compilers_hottest_functions,
    test_report_reads_profiles_of_other_producers,
    test_broken_files_are_refused_by_name,
    test_report_usage_and_missing_files,
]
