"""Helpers of the profpre command's end-to-end test (cli.py).

- profpre() runs the command built by meson ($PROFPRE_CMD).
- make_c_project() writes a small C project (a few generated .c files and a
  Makefile) whose build keeps cc1 busy for a while.
- recorded() runs a recording once and caches it for every test that reads it.
- raw_profile() reads a profile with `go tool pprof -raw -symbolize=none`
  and adds what pprof_helpers does not keep (comments, mapping ranges).
- flat_cum() is an independent computation of report's numbers from that.
- Report rows, the DOM a headless chromium dumps, and PNG pixels are parsed
  here too, with the standard library only.
"""

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field

from pprof_helpers import Run, child_env, expect, parse_raw, pprof

PROFPRE = os.environ.get("PROFPRE_CMD", "")
FX_HOT = os.environ.get("FX_HOT", "")
HOT_FUNCTIONS = ["hot_small", "hot_medium", "hot_large"]

_session_dir = None
_cache = {}


def session_dir():
    """One temporary directory for the whole run, removed by cleanup()."""
    global _session_dir
    if _session_dir is None:
        _session_dir = tempfile.mkdtemp(prefix="profpre-e2e-cli-")
    return _session_dir


def cleanup():
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)


def profpre(*args, cwd=None, env=None, timeout=300):
    """Runs `profpre ARGS` with the test's environment (no preload, no PROF_*)."""
    expect(os.path.isfile(PROFPRE), f"expected the profpre command in $PROFPRE_CMD, saw "
           f"{PROFPRE!r}")
    p = subprocess.run([PROFPRE, *args], cwd=cwd, env=child_env(env), capture_output=True,
                       text=True, timeout=timeout)
    return Run(["profpre", *args], p.returncode, p.stdout, p.stderr)


def summary_line(run):
    """(count, where, seconds) from record's closing `profpre: N profiles in
    DIR, S s CPU` line (`s wall` in wall mode)."""
    m = re.search(r"^profpre: (\d+) profiles? in (\S+), ([\d.]+) s (?:CPU|wall)", run.stderr,
                  re.M)
    expect(m is not None, f"expected record's summary line on stderr, saw:\n{run.describe()}")
    return int(m.group(1)), m.group(2), float(m.group(3))


def numbers(text):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}


# ---------------------------------------------------------------- fixtures


def hot_fixture():
    expect(os.path.isfile(FX_HOT), f"expected the fixture in $FX_HOT, saw {FX_HOT!r}")
    return FX_HOT


def recorded_hot(hz=250, unit="0.4"):
    """Records `fx_hot burn UNIT` once: (directory, profile path, ground truth)."""
    key = ("hot", hz, unit)
    if key not in _cache:
        out = os.path.join(session_dir(), "hot")
        r = profpre("record", "-o", out + "/", "--hz", str(hz), "--", hot_fixture(), "burn", unit)
        expect(r.status == 0, f"expected record of fx_hot to succeed, saw:\n{r.describe()}")
        files = sorted(os.listdir(out))
        expect(len(files) == 1, f"expected one profile from fx_hot, saw {files}")
        truth = {f: numbers(r.stderr)[f + "_ns"] for f in HOT_FUNCTIONS}
        _cache[key] = (out, os.path.join(out, files[0]), truth)
    return _cache[key]


_C_FUNCTION = """
int {name}(int n) {{
  int acc = {seed};
  for (int i = 0; i < n; i++) {{
    switch ((acc ^ i) & 7) {{
      case 0: acc += i * {a}; break;
      case 1: acc ^= (acc << 3) + {b}; break;
      case 2: acc -= i / ({a} + 1); break;
      case 3: acc = acc * 31 + {b}; break;
      default: acc += (i & {a}) ? {b} : -{a};
    }}
    if (acc > {limit}) acc %= {a} + 7;
  }}
  return acc;
}}
"""


def make_c_project(directory, sources=4, functions=120):
    """A C project of `sources` generated files plus main.c, built by make:
    `prog` runs and prints the sum of its functions. Returns the number of
    compiler invocations (one per .c file, plus the link)."""
    os.makedirs(directory, exist_ok=True)
    names = []
    for s in range(sources):
        body = []
        for f in range(functions):
            name = f"f_{s}_{f}"
            names.append(name)
            body.append(_C_FUNCTION.format(name=name, seed=s * 1000 + f, a=f % 13 + 2,
                                           b=(f * 7) % 101, limit=1000000 + f))
        with open(os.path.join(directory, f"unit{s}.c"), "w") as out:
            out.write("".join(body))
    with open(os.path.join(directory, "main.c"), "w") as out:
        out.write("#include <stdio.h>\n")
        out.write("".join(f"int {n}(int);\n" for n in names))
        out.write("int main(void) {\n  long sum = 0;\n")
        out.write("".join(f"  sum += {n}(3);\n" for n in names))
        out.write('  printf("sum=%ld\\n", sum);\n  return 0;\n}\n')
    objects = " ".join(f"unit{s}.o" for s in range(sources)) + " main.o"
    # Recipes without shell syntax: make runs the compiler itself, no sh.
    with open(os.path.join(directory, "Makefile"), "w") as out:
        out.write(f"CC = gcc\nCFLAGS = -O2\nOBJECTS = {objects}\n\n"
                  "prog: $(OBJECTS)\n\t$(CC) -o $@ $(OBJECTS)\n\n"
                  "%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\n"
                  "clean:\n\trm -f prog $(OBJECTS)\n")
    return sources + 2


def recorded_make():
    """Records `make -j2` of the C project once: (project dir, out dir, Run,
    number of .c files)."""
    if "make" not in _cache:
        project = os.path.join(session_dir(), "project")
        sources = make_c_project(project) - 1
        r = profpre("record", "-o", "out/", "--hz", "1000", "--", "make", "-j2", cwd=project)
        expect(r.status == 0, f"expected `profpre record -- make -j2` to succeed, saw:\n"
               f"{r.describe()}")
        _cache["make"] = (project, os.path.join(project, "out"), r, sources)
    return _cache["make"]


# ---------------------------------------------------------------- reading profiles


@dataclass
class RawProfile:
    path: str
    profile: object  # pprof_helpers.Profile
    comments: list
    mapping_ranges: dict = field(default_factory=dict)  # id -> (start, offset)

    def comment(self, key):
        for c in self.comments:
            if c.startswith(key + "="):
                return c[len(key) + 1:]
        return None


_MAPPING_RANGE_RE = re.compile(r"^(\d+): 0x([0-9a-f]+)/0x([0-9a-f]+)/0x([0-9a-f]+) ", re.M)


def raw_profile(path, *extra):
    """`go tool pprof -raw` of one file, unsymbolized by pprof (so names are
    the producer's own)."""
    text = pprof("-raw", "-symbolize=none", *extra, path)
    comments = [l[len("Comment: "):] for l in text.splitlines() if l.startswith("Comment: ")]
    ranges = {int(m.group(1)): (int(m.group(2), 16), int(m.group(4), 16))
              for m in _MAPPING_RANGE_RE.finditer(text.split("Mappings", 1)[-1])}
    return RawProfile(path, parse_raw(text), comments, ranges)


def frame_keys(raw, sample):
    """A sample's frames as (name, library) leaf first, named as report names
    them: the function of each Line, or the address's offset in its file."""
    p = raw.profile
    keys = []
    for lid in sample.location_ids:
        loc = p.locations[lid]
        mapping = p.mappings.get(loc.mapping)
        library = os.path.basename(mapping.file) if mapping else ""
        if loc.lines and not all(l.function == "??" for l in loc.lines):
            keys.extend((l.function, library) for l in loc.lines)
        else:
            start, offset = raw.mapping_ranges.get(loc.mapping, (0, 0))
            keys.append((hex(loc.address - start + offset), library))
    return keys


def flat_cum(raws):
    """Independent flat and cum per (function, library), and the total."""
    flat, cum, total = {}, {}, 0
    for raw in raws:
        for s in raw.profile.samples:
            total += s.cpu_ns
            keys = frame_keys(raw, s)
            if not keys:
                continue
            flat[keys[0]] = flat.get(keys[0], 0) + s.cpu_ns
            for k in set(keys):
                cum[k] = cum.get(k, 0) + s.cpu_ns
    return flat, cum, total


def process_name(raw):
    exe = raw.comment("exe")
    if exe is None:
        exe = raw.profile.mappings[1].file if 1 in raw.profile.mappings else raw.path
    return os.path.basename(exe)


# ---------------------------------------------------------------- report output


@dataclass
class ReportRow:
    flat_pct: float
    cum_pct: float
    name: str
    library: str


_ROW_RE = re.compile(r"^\s*\S+\s+([\d.]+)%\s+\S+\s+([\d.]+)%\s+(.*?)(?: \[(.*)\])?$")
_PROCESS_RE = re.compile(r"^\s*\S+\s+([\d.]+)%\s+(\d+)\s+(\S+)\s+(.*)$")


def report_tables(text):
    """(header line, function rows, process rows as (pct, profiles, name, hottest))."""
    lines = text.splitlines()
    expect(lines and lines[0].startswith("profpre: "), f"expected report's header, saw:\n{text}")
    functions, processes, section = [], [], None
    for line in lines[1:]:
        if line.startswith("Functions:"):
            section = "functions"
        elif line.startswith("Processes by name:"):
            section = "processes"
        elif not line.strip() or line.lstrip().startswith(("flat", "cpu", "value")):
            continue
        elif section == "functions":
            m = _ROW_RE.match(line)
            expect(m is not None, f"cannot parse report row {line!r}")
            functions.append(ReportRow(float(m.group(1)), float(m.group(2)), m.group(3),
                                       m.group(4) or ""))
        elif section == "processes":
            m = _PROCESS_RE.match(line)
            expect(m is not None, f"cannot parse process row {line!r}")
            processes.append((float(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
    return lines[0], functions, processes


def total_seconds(header):
    m = re.search(r"([\d.]+) s of ", header)
    expect(m is not None, f"expected a total in seconds in {header!r}")
    return float(m.group(1))


# ---------------------------------------------------------------- headless chromium

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def chromium(*args):
    """Runs Debian's chromium headless on a fresh profile; returns its stdout."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    expect(browser is not None, "chromium is not installed; the flame graph is checked in a real "
           "browser (scripts/install-deps.sh installs it: apt-get install chromium)")
    profile_dir = tempfile.mkdtemp(prefix="chromium-", dir=session_dir())
    p = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args],
                       capture_output=True, text=True, timeout=120,
                       env=child_env({"HOME": profile_dir}))
    expect(p.returncode == 0, f"expected chromium to succeed, saw status {p.returncode}:\n"
           f"{p.stderr[-3000:]}")
    return p.stdout


@dataclass
class DomFrame:
    name: str
    depth: int
    value: int
    hidden: bool
    x: float = 0.0
    width: float = 0.0
    fill: str = ""


class _DomParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.frames = []
        self.attrs_by_id = {}
        self.text_by_id = {}
        self._text_for = None
        self.rendered = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "data-rendered" in a:
            self.rendered = int(a["data-rendered"])
        if "id" in a:
            self.attrs_by_id[a["id"]] = a
            self._text_for = a["id"]
            self.text_by_id[a["id"]] = ""
        if tag == "g" and a.get("class") == "f":
            hidden = "display: none" in a.get("style", "")
            self.frames.append(DomFrame(a["data-n"], int(a["data-d"]), int(a["data-v"]), hidden))
        elif tag == "rect" and self.frames and self.frames[-1].fill == "":
            self.frames[-1].x = float(a["x"])
            self.frames[-1].width = float(a["width"])
            self.frames[-1].fill = a["fill"]

    def handle_data(self, data):
        if self._text_for is not None:
            self.text_by_id[self._text_for] += data

    def handle_endtag(self, tag):
        self._text_for = None


@dataclass
class Page:
    frames: list
    rendered: int
    hot_path: list
    matched_share: str
    matched_text: str


def render_page(path, fragment=""):
    """Opens the file in headless chromium and reads back the DOM its script
    left: frames with their rendered geometry, the hottest path, the search."""
    dom = chromium("--dump-dom", "file://" + os.path.abspath(path) + fragment)
    parser = _DomParser()
    parser.feed(dom)
    hot = parser.attrs_by_id.get("hotpath", {})
    expect("data-path" in hot, f"expected the page's script to write #hotpath, saw DOM:\n"
           f"{dom[:3000]}")
    matched = parser.attrs_by_id.get("matched", {})
    return Page(parser.frames, parser.rendered or 0, json.loads(hot["data-path"]),
                matched.get("data-share", ""), parser.text_by_id.get("matched", ""))


def png_pixels(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        data = f.read()
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    expect(depth == 8 and color in (2, 6) and interlace == 0,
           f"unexpected PNG format depth={depth} color={color} interlace={interlace}")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xff
            elif kind == 2:
                line[i] = (line[i] + b) & 0xff
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xff
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        previous = line
    return width, height, rows


# ---------------------------------------------------------------- other producers


def go_tool_env():
    """Go with its home, caches and module path in the session directory and no network."""
    home = os.path.join(session_dir(), "gohome")
    os.makedirs(home, exist_ok=True)
    return child_env({"HOME": home, "GOCACHE": os.path.join(home, "cache"),
                      "GOPATH": os.path.join(home, "path"), "GOFLAGS": "", "GOPROXY": "off",
                      "GO111MODULE": "off", "CGO_ENABLED": "0", "PPROF_TMPDIR": home,
                      "PPROF_BINARY_PATH": home})


_GO_PROGRAM = """package main

import (
	"os"
	"runtime/pprof"
	"time"
)

var sink uint64
var keep [][]byte

//go:noinline
func hotLoop(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 200000; i++ {
			sink += uint64(i) * 3
		}
	}
}

func main() {
	cpu, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		panic(err)
	}
	hotLoop(400 * time.Millisecond)
	pprof.StopCPUProfile()
	cpu.Close()
	for i := 0; i < 1000; i++ {
		keep = append(keep, make([]byte, 4096))
	}
	heap, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	pprof.WriteHeapProfile(heap)
	heap.Close()
}
"""


def go_runtime_profiles():
    """A CPU profile and a heap profile written by Go's own runtime/pprof
    (a program built here, offline, from the standard library only)."""
    if "go" not in _cache:
        d = os.path.join(session_dir(), "goprog")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "main.go"), "w") as f:
            f.write(_GO_PROGRAM)
        env = go_tool_env()
        b = subprocess.run(["go", "build", "-o", "goprog", "main.go"], cwd=d, env=env,
                           capture_output=True, text=True, timeout=300)
        expect(b.returncode == 0, f"expected `go build` to succeed, saw:\n{b.stderr}")
        cpu, heap = os.path.join(d, "cpu.pb.gz"), os.path.join(d, "heap.pb.gz")
        r = subprocess.run(["./goprog", cpu, heap], cwd=d, env=env, capture_output=True,
                           text=True, timeout=120)
        expect(r.returncode == 0, f"expected the Go program to succeed, saw:\n{r.stderr}")
        _cache["go"] = (cpu, heap)
    return _cache["go"]


GPERFTOOLS = "/usr/lib/x86_64-linux-gnu/libprofiler.so"


def gperftools_profile():
    """fx_hot profiled by gperftools' libprofiler, converted with
    `go tool pprof -proto`: (converted path, fixture's ground truth)."""
    if "gperf" not in _cache:
        expect(os.path.isfile(GPERFTOOLS), f"expected gperftools' {GPERFTOOLS} "
               "(Debian: apt-get install libgoogle-perftools-dev)")
        d = os.path.join(session_dir(), "gperf")
        os.makedirs(d, exist_ok=True)
        native = os.path.join(d, "fx.prof")
        r = subprocess.run([hot_fixture(), "burn", "0.3"], capture_output=True, text=True,
                           timeout=120, env=child_env({"LD_PRELOAD": GPERFTOOLS,
                                                       "CPUPROFILE": native,
                                                       "CPUPROFILE_FREQUENCY": "250"}))
        expect(r.returncode == 0 and os.path.getsize(native) > 0,
               f"expected a gperftools profile, saw status {r.returncode}:\n{r.stderr}")
        converted = os.path.join(d, "fx.pb.gz")
        with open(converted, "wb") as out:
            c = subprocess.run(["go", "tool", "pprof", "-proto", hot_fixture(), native],
                               stdout=out, stderr=subprocess.PIPE, env=go_tool_env(),
                               timeout=120)
        expect(c.returncode == 0, f"expected `go tool pprof -proto` to convert {native}, saw:\n"
               f"{c.stderr.decode(errors='replace')}")
        truth = {f: numbers(r.stderr)[f + "_ns"] for f in HOT_FUNCTIONS}
        _cache["gperf"] = (converted, truth)
    return _cache["gperf"]
