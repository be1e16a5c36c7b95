"""Tests of `profpre flame` in a real browser: headless chromium opens the
file offline, the page's script lays it out, and the DOM it leaves (and a
screenshot) must show what the ground truth says."""

import os
import xml.etree.ElementTree as ElementTree

from cli_support import (HOT_FUNCTIONS, chromium, flat_cum, png_pixels, process_name, profpre,
                         raw_profile, recorded_hot, recorded_make, render_page, session_dir)
from pprof_helpers import binomial_tolerance, expect

WIDTH = 1200.0


def _flame(output, *inputs):
    r = profpre("flame", "-o", output, *inputs)
    expect(r.status == 0 and os.path.isfile(output), f"expected flame to write {output}, saw:\n"
           f"{r.describe()}")
    return output


def _frame(page, name):
    frames = [f for f in page.frames if f.name == name]
    expect(len(frames) == 1, f"expected one frame named {name}, saw {len(frames)}")
    return frames[0]


def _check_hot_page(page, truth, n):
    expect(page.rendered > 0, "expected the script to lay out frames (data-rendered)")
    hottest = max(truth, key=truth.get)
    expect("drive" in page.hot_path, f"expected drive on the hottest path, saw {page.hot_path}")
    widest = page.hot_path[page.hot_path.index("drive") + 1]
    print(f"  hottest path: {' > '.join(page.hot_path)}")
    expect(widest == hottest, f"expected the widest frame above drive to be {hottest} (ground "
           f"truth {truth}), saw {widest}")
    widths = {f: _frame(page, f).width for f in HOT_FUNCTIONS}
    for f in HOT_FUNCTIONS:
        p = truth[f] / sum(truth.values())
        share = widths[f] / sum(widths.values())
        tol = binomial_tolerance(p, n)
        expect(abs(share - p) <= tol, f"{f}: expected a width share of {p:.4f} +- {tol:.4f}, saw "
               f"{share:.4f} (widths {widths})")
    root = page.frames[0]
    expect(root.name == "all" and abs(root.width - WIDTH) < 0.01, f"expected the root frame "
           f"across the page, saw {root}")


def test_flame_shows_the_ground_truth_in_a_browser():
    out, path, truth = recorded_hot()
    html = _flame(os.path.join(session_dir(), "hot.html"), out)
    n = raw_profile(path).profile.total_count()
    _check_hot_page(render_page(html), truth, n)

    # A screenshot: the page really paints, in the fixture's library colour.
    color = _frame(render_page(html), "hot_large").fill
    png = os.path.join(session_dir(), "hot.png")
    chromium(f"--screenshot={png}", "--window-size=1200,600", "file://" + html)
    width, height, rows = png_pixels(png)
    want = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    painted = sum(1 for row in rows for px in row if max(abs(a - b) for a, b in zip(px, want)) <= 2)
    print(f"  screenshot {width}x{height}: {painted} pixels of {color}")
    expect(width == 1200 and painted > 5000, f"expected the screenshot to show frames in "
           f"{color}, saw {painted} such pixels")


def test_flame_zooms_and_searches():
    out, path, truth = recorded_hot()
    html = _flame(os.path.join(session_dir(), "zoom.html"), out)
    page = render_page(html, "#zoom=hot_small")
    small = _frame(page, "hot_small")
    expect(page.hot_path[0] == "hot_small" and abs(small.width - WIDTH) < 0.01,
           f"expected hot_small zoomed to the full width, saw {small} and {page.hot_path}")
    expect(_frame(page, "hot_large").hidden and not _frame(page, "drive").hidden,
           "expected hot_large hidden and the ancestor drive shown after the zoom")

    page = render_page(html, "#search=hot_(small|medium)")
    flat, cum, total = flat_cum([raw_profile(path)])
    want = sum(v for (name, _), v in cum.items() if name in ("hot_small", "hot_medium")) / total
    expect(page.matched_share != "" and abs(float(page.matched_share) - want) < 1e-9,
           f"expected a matched share of {want}, saw {page.matched_share!r} "
           f"({page.matched_text!r})")
    marked = {f.name for f in page.frames if f.fill == "#d21fd9"}
    expect(marked == {"hot_small", "hot_medium"}, f"expected the two matches marked, saw {marked}")


def test_flame_writes_a_standalone_svg():
    out, path, truth = recorded_hot()
    svg = _flame(os.path.join(session_dir(), "hot.svg"), out)
    root = ElementTree.parse(svg).getroot()  # well-formed XML
    expect(root.tag == "{http://www.w3.org/2000/svg}svg", f"expected an <svg> root, saw {root.tag}")
    _check_hot_page(render_page(svg), truth, raw_profile(path).profile.total_count())


def test_flame_of_a_build():
    _, out, _, _ = recorded_make()
    html = _flame(os.path.join(session_dir(), "build.html"), out)
    page = render_page(html)
    per_process = {}
    for f in sorted(os.listdir(out)):
        raw = raw_profile(os.path.join(out, f))
        name = process_name(raw)
        per_process[name] = per_process.get(name, 0) + raw.profile.total_cpu_ns()
    top = max(per_process, key=per_process.get)
    print(f"  hottest path: {' > '.join(page.hot_path[:8])} > ...")
    expect(page.hot_path[:2] == ["all", top], f"expected the widest process frame to be {top} "
           f"({per_process}), saw {page.hot_path}")
    processes = {f.name for f in page.frames if f.depth == 1}
    drawn = {n for n, v in per_process.items() if v / sum(per_process.values()) > 1e-4}
    expect(processes == drawn, f"expected a frame per process name with CPU, {drawn}, saw "
           f"{processes}")


def test_flame_usage():
    r = profpre("flame")
    expect(r.status == 2 and "no profiles given" in r.stderr, f"expected status 2, saw:\n"
           f"{r.describe()}")
    r = profpre("flame", "--help")
    expect(r.status == 0 and r.stdout.startswith("Usage: profpre flame"),
           f"expected help, saw:\n{r.describe()}")
    r = profpre("flame", "-o", "/nonexistent/dir/x.html", recorded_hot()[0])
    expect(r.status == 1 and "profpre: flame: " in r.stderr and "/nonexistent/dir" in r.stderr,
           f"expected an unwritable output to fail clearly, saw:\n{r.describe()}")


TESTS = [
    test_flame_shows_the_ground_truth_in_a_browser,
    test_flame_zooms_and_searches,
    test_flame_writes_a_standalone_svg,
    test_flame_of_a_build,
    test_flame_usage,
]
