"""A library unloaded before exit keeps its samples' names and lines."""

import os
import tempfile

from pprof_helpers import expect, fixture, marker_line, numbers, profile_run, run_tests

LIBRARY = os.environ.get("FX_UNLOADED_LIB", "")


def test_samples_in_an_unloaded_library_keep_their_lines():
    with tempfile.TemporaryDirectory() as tmp:
        r, p = profile_run([fixture("dlclose"), LIBRARY], tmp)
    expect(numbers(r.stdout).get("unmapped") == 1,
           f"fixture: expected the library unmapped before exit, saw {r.stdout!r}")
    hot = marker_line("unloaded_lib.cc", "UNLOADED_HOT_LINE")
    samples = [s for s in p.samples if p.frames(s) and "unloaded_burn" in p.functions(s)]
    count = sum(s.count for s in samples)
    # 0.4 s at 100 Hz.
    expect(count >= 30, f"expected ~40 samples named unloaded_burn, saw {count}; functions "
           f"{sorted({f for s in p.samples for f in p.functions(s)})}")
    lines = {line.line for s in samples for line in p.frames(s) if line.name == "unloaded_burn"}
    expect(hot in lines, f"expected unloaded_burn's hot line {hot} among {sorted(lines)}")
    files = {m.file for m in p.mappings.values()}
    expect(os.path.realpath(LIBRARY) in files,
           f"expected a mapping for {LIBRARY}, saw {sorted(files)}")


if __name__ == "__main__":
    run_tests(test_samples_in_an_unloaded_library_keep_their_lines)
