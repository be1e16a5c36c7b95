#!/usr/bin/env python3
"""e2e-inline: hot_inline, always inlined into inline_caller, must appear as
its own frame: a Line of the same Location, before (inside) inline_caller's,
at the fixture's marked source lines; pprof must show it as (inline)."""

import tempfile

from pprof_helpers import (expect, fixture, marker_line, numbers, pprof, profile_run, run_tests,
                           short_name)

HZ = 250


def test_inlined_function_is_a_frame():
    hot_line = marker_line("inline.cc", "/* HOT_INLINE_LINE */")
    call_line = marker_line("inline.cc", "/* INLINE_CALL_LINE */")
    with tempfile.TemporaryDirectory() as tmp:
        run, profile = profile_run([fixture("inline")], tmp, hz=HZ)
        traces = pprof("-traces", f"{tmp}/prof.pb.gz")
    caller = profile.with_function("inline_caller")
    n_caller = sum(s.count for s in caller)
    expected_n = numbers(run.stderr)["cpu_ns"] / 1e9 * HZ
    expect(n_caller >= 0.7 * expected_n, f"expected at least 70% of ~{expected_n:.0f} "
           f"samples in inline_caller, saw {n_caller}")

    # The Location (in the main executable) holding hot_inline's Line.
    inlined, at_hot_line, leaves = 0, 0, {}
    for s in caller:
        loc = next(profile.locations[i] for i in s.location_ids
                   if any(l.name == "inline_caller" for l in profile.locations[i].lines))
        names = [(l.function, l.line) for l in loc.lines]
        leaves[tuple(names)] = leaves.get(tuple(names), 0) + s.count
        if loc.lines[0].name != "hot_inline":
            continue
        inlined += s.count
        expect(len(loc.lines) == 2 and loc.lines[1].name == "inline_caller",
               f"expected Lines [hot_inline, inline_caller] in one Location, saw {names}")
        expect(loc.lines[1].line == call_line,
               f"expected inline_caller's Line at the call, line {call_line}, saw {names}")
        if loc.lines[0].line == hot_line:
            at_hot_line += s.count
    common = sorted(leaves.items(), key=lambda kv: -kv[1])[:5]
    print(f"  {n_caller} samples in inline_caller, {inlined} with hot_inline inlined, "
          f"{at_hot_line} at line {hot_line}; commonest Lines: {common}")
    expect(inlined >= 0.5 * n_caller,
           f"expected most of inline_caller's {n_caller} samples inside hot_inline (a Line "
           f"of the same Location), saw {inlined}; commonest Lines: {common}")
    expect(at_hot_line >= 0.9 * inlined,
           f"expected hot_inline's samples at its loop, line {hot_line}, saw {at_hot_line} "
           f"of {inlined}")
    # -traces prints each frame as "%10s   NAME" plus " (inline)" for inlined ones.
    inline_frames = {short_name(line[13:-len(" (inline)")]) for line in traces.splitlines()
                     if line.endswith(" (inline)")}
    expect("hot_inline" in inline_frames,
           f"expected `pprof -traces` to show hot_inline as an (inline) frame, saw inline "
           f"frames {sorted(inline_frames)}")


def test_main_executable_marked_symbolized():
    # has_functions tells pprof the mapping is symbolized already; without it
    # pprof re-symbolizes the executable itself and drops profpre's names.
    # has_filenames/has_line_numbers hold only when every frame has a file
    # and line: _start comes from crt code without debug information, so
    # they may be off while has_functions is on.
    unflagged = []
    for name, args in (("inline", ["0.2"]), ("ratio", ["0.05"]), ("deep", ["150", "0.2"]),
                       ("burn", ["0.2"])):
        with tempfile.TemporaryDirectory() as tmp:
            _, profile = profile_run([fixture(name), *args], tmp, hz=HZ)
        main = profile.mappings[1]
        print(f"  fx_{name}: mapping 1 flags {main.flags!r}")
        if "[FN]" not in main.flags:
            unflagged.append(f"fx_{name} ({main.flags!r})")
    expect(not unflagged, f"expected mapping 1 flagged [FN] in every profile, saw it otherwise "
           f"for {', '.join(unflagged)}")


if __name__ == "__main__":
    run_tests(test_inlined_function_is_a_frame, test_main_executable_marked_symbolized)
