#!/usr/bin/env python3
"""e2e-stats: PROF_STATS=1 prints one `profpre: stats:` line whose samples=
agrees with the profile's sample count."""

import re
import tempfile

from pprof_helpers import expect, fixture, profile_run, run_tests


def test_stats_line_matches_profile():
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("burn"), "1.0"], tmp, hz=250,
                                   env={"PROF_STATS": "1"})
    lines = run.profpre_lines()
    expect(len(lines) == 1 and lines[0].startswith("profpre: stats: "),
           f"expected exactly one profpre: line, the stats, saw {lines}")
    m = re.match(r"profpre: stats: samples=(\d+) lost=(\d+) overruns=(\d+) ", lines[0])
    expect(m is not None, f"expected 'profpre: stats: samples=N lost=N overruns=N ...', "
           f"saw {lines[0]!r}")
    stated = int(m.group(1))
    count = profile.total_count()
    print(f"  {lines[0]}\n  profile: {count} samples")
    expect(abs(stated - count) <= 0.2 * count,
           f"expected stats samples= within 20% of the profile's {count} samples, saw {stated}")


if __name__ == "__main__":
    run_tests(test_stats_line_matches_profile)
