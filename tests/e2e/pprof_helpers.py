"""Shared helpers of the end-to-end tests.

- run() starts a fixture, with libprofpre preloaded or not, and captures
  its status, stdout and stderr.
- read_profile() decodes a profile with `go tool pprof -raw` (any error from
  pprof fails the test) into Profile / Sample / Location / Line objects.
- run_tests() is the tiny runner every test file ends with.

The environment (set by tests/e2e/meson.build): PROFPRE_LIB is the library,
FX_<NAME> the fixture built from tests/fixtures/<name>.cc.
"""

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field

LIB = os.environ.get("PROFPRE_LIB", "")
SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
FIXTURE_SOURCES = os.path.join(SOURCE_DIR, "..", "fixtures")


class TestFailure(AssertionError):
    pass


def expect(condition, message):
    """Fails the current test with `message` (say what was expected and seen)."""
    if not condition:
        raise TestFailure(message)


def fixture(name):
    path = os.environ.get("FX_" + name.upper(), "")
    expect(os.path.isfile(path), f"fixture {name}: expected a program in $FX_{name.upper()}, "
           f"saw {path!r}")
    return path


def marker_line(source, marker):
    """The 1-based line of tests/fixtures/<source> that contains `marker`."""
    with open(os.path.join(FIXTURE_SOURCES, source)) as f:
        hits = [n for n, text in enumerate(f, 1) if marker in text]
    expect(len(hits) == 1, f"{source}: expected one line with {marker}, saw lines {hits}")
    return hits[0]


def numbers(text):
    """All key=integer pairs of a fixture's report, as a dict."""
    return {k: int(v) for k, v in re.findall(r"([\w-]+)=(-?\d+)", text)}


# ---------------------------------------------------------------- running


@dataclass
class Run:
    argv: list
    status: int
    stdout: str
    stderr: str

    def profpre_lines(self):
        return [l for l in self.stderr.splitlines() if l.startswith("profpre:")]

    def describe(self):
        return (f"{' '.join(self.argv)}: status {self.status}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}---")


def child_env(extra=None):
    """The test's environment without any preload or PROF_* setting."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("PROF_")}
    env.update(extra or {})
    return env


def run(argv, env=None, cwd=None, preload=False, timeout=120):
    """Runs argv; env adds variables (PROF_OUT, PROF_HZ, ...); preload=True
    puts libprofpre in LD_PRELOAD."""
    env = child_env(env)
    if preload:
        expect(os.path.isfile(LIB), f"expected the library in $PROFPRE_LIB, saw {LIB!r}")
        env["LD_PRELOAD"] = LIB
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    return Run(list(argv), p.returncode, p.stdout, p.stderr)


def profile_run(argv, directory, hz=None, env=None, name="prof.pb.gz"):
    """Runs argv under the profiler with PROF_OUT=<directory>/<name>; expects
    status 0 and no profpre: line on stderr; returns (Run, Profile)."""
    out = os.path.join(directory, name)
    extra = {"PROF_OUT": out}
    if hz is not None:
        extra["PROF_HZ"] = str(hz)
    extra.update(env or {})
    r = run(argv, env=extra, cwd=directory, preload=True)
    expect(r.status == 0, f"expected status 0, saw:\n{r.describe()}")
    if "PROF_STATS" not in extra and "PROF_VERBOSE" not in extra:
        expect(r.profpre_lines() == [], f"expected no profpre: line, saw:\n{r.describe()}")
    return r, read_profile(out, argv[0])


class Child:
    """A program started in the background, like run() but without waiting:
    its stdout is read line by line as it comes (wait_line), its stdin is a
    pipe when stdin=True (send), and finish() waits for the end and returns a
    Run. A context manager: leaving the block kills the program if it still
    runs, so that a failed check leaves nothing behind."""

    def __init__(self, argv, env=None, cwd=None, preload=False, stdin=False, preexec_fn=None):
        import time
        env = child_env(env)
        if preload:
            expect(os.path.isfile(LIB), f"expected the library in $PROFPRE_LIB, saw {LIB!r}")
            env["LD_PRELOAD"] = LIB
        self.argv = list(argv)
        self.started_ns = time.time_ns()  # CLOCK_REALTIME, just before the start
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, bufsize=0,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self.lines = []  # complete stdout lines so far, without their newline
        self._partial = b""
        self._next = 0  # wait_line looks at lines from here on
        self._eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        return False

    def running(self):
        return self.proc.poll() is None

    def _read(self, timeout):
        import select
        if self._eof:
            return
        ready, _, _ = select.select([self.proc.stdout], [], [], max(timeout, 0))
        if not ready:
            return
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            self._eof = True
            return
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self.lines += [line.decode(errors="replace") for line in complete]

    def wait_line(self, pattern, timeout):
        """The re.match of `pattern` on the first stdout line not yet
        returned that matches it, waiting up to timeout seconds; None if no
        such line came. Lines before the match are passed over."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self._next, len(self.lines)):
                m = re.match(pattern, self.lines[i])
                if m:
                    self._next = i + 1
                    return m
            left = deadline - time.monotonic()
            if left <= 0 or self._eof:
                return None
            self._read(min(left, 0.1))

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        """Closes stdin, waits for the end; the Run has every stdout line."""
        out, err = self.proc.communicate(timeout=timeout)
        text = self._partial + (out or b"")
        stdout = "".join(line + "\n" for line in self.lines) + text.decode(errors="replace")
        return Run(self.argv, self.proc.returncode, stdout, err.decode(errors="replace"))


# ---------------------------------------------------------------- pprof

_go_home = None


def go_env():
    """An environment in which `go tool pprof` needs no home, cache or
    network: everything points into one temporary directory."""
    global _go_home
    if _go_home is None:
        _go_home = tempfile.mkdtemp(prefix="profpre-e2e-go-")
    env = child_env()
    for var in ("HOME", "GOCACHE", "GOPATH", "PPROF_TMPDIR", "PPROF_BINARY_PATH"):
        env[var] = _go_home
    env["GOFLAGS"] = ""
    env["GOPROXY"] = "off"
    return env


def pprof(*args):
    """Output of `go tool pprof ARGS`; fails on a non-zero status or any
    stderr output."""
    go = shutil.which("go")
    expect(go is not None, "`go` is not on PATH: the e2e tests read profiles with "
           "`go tool pprof` (Debian: apt-get install golang-go)")
    p = subprocess.run([go, "tool", "pprof", *args], env=go_env(), capture_output=True,
                       text=True, timeout=120)
    expect(p.returncode == 0 and p.stderr.strip() == "",
           f"expected `go tool pprof {' '.join(args)}` to succeed silently, saw status "
           f"{p.returncode}, stderr:\n{p.stderr}")
    return p.stdout


def short_name(function):
    """A demangled C++ name without its scope and parameters:
    "fx::ratio_one(long long)" -> "ratio_one". Other names are kept."""
    if function.startswith("["):  # profpre's pseudo-frames
        return function
    return function.split("(", 1)[0].rsplit("::", 1)[-1]


@dataclass
class Line:
    function: str  # as in the profile; "??" when the Line has no function
    file: str
    line: int

    @property
    def name(self):
        return short_name(self.function)


@dataclass
class Location:
    id: int
    address: int
    mapping: int  # 0: none
    lines: list = field(default_factory=list)  # innermost (inlined) first


@dataclass
class Sample:
    count: int
    cpu_ns: int
    location_ids: list
    labels: dict = field(default_factory=dict)  # key -> value text


@dataclass
class Mapping:
    id: int
    file: str
    build_id: str
    flags: str  # e.g. "[FN][FL][LN][IN]"


@dataclass
class Profile:
    text: str
    period_type: str = ""
    period: int = 0
    sample_types: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    locations: dict = field(default_factory=dict)
    mappings: dict = field(default_factory=dict)

    def frames(self, sample):
        """The sample's stack as Lines, leaf first, inlined frames expanded."""
        return [line for lid in sample.location_ids for line in self.locations[lid].lines]

    def functions(self, sample):
        """The sample's stack as short function names, leaf first."""
        return [line.name for line in self.frames(sample)]

    def total_count(self):
        return sum(s.count for s in self.samples)

    def total_cpu_ns(self):
        return sum(s.cpu_ns for s in self.samples)

    def with_function(self, name):
        return [s for s in self.samples if name in self.functions(s)]


_LINE_RE = re.compile(r"^(.*) (\S*):(-?\d+) s=(-?\d+)(?:\(.*\))?$")
_LOCATION_RE = re.compile(r"^\s*(\d+): 0x([0-9a-f]+) (?:M=(\d+) )?(?:\[F\] )?(.*)$")
_MAPPING_RE = re.compile(r"^(\d+): 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ (.*)$")
_SAMPLE_RE = re.compile(r"^\s*(\d+(?:\s+\d+)*): ((?:\d+ )*)$")
_LABEL_RE = re.compile(r"(\S+?):\[([^\]]*)\]")


def _line(text):
    if text == "??":
        return Line("??", "", 0)
    m = _LINE_RE.match(text)
    expect(m is not None, f"pprof -raw: cannot parse location line {text!r}")
    return Line(m.group(1), m.group(2), int(m.group(3)))


def parse_raw(text):
    """Parses the output of `go tool pprof -raw`."""
    p = Profile(text)
    section = "header"
    for raw in text.splitlines():
        if raw in ("Samples:", "Locations", "Mappings"):
            section = raw.rstrip(":")
            continue
        if section == "header":
            if raw.startswith("PeriodType: "):
                p.period_type = raw[len("PeriodType: "):]
            elif raw.startswith("Period: "):
                p.period = int(raw[len("Period: "):])
        elif section == "Samples":
            m = _SAMPLE_RE.match(raw)
            if m:
                values = [int(v) for v in m.group(1).split()]
                expect(len(values) == 2, f"pprof -raw: expected 2 values, saw {raw!r}")
                p.samples.append(Sample(values[0], values[1],
                                        [int(i) for i in m.group(2).split()]))
            elif not p.sample_types:
                p.sample_types = raw.split()
            else:
                labels = _LABEL_RE.findall(raw)
                expect(labels and p.samples, f"pprof -raw: unexpected sample line {raw!r}")
                p.samples[-1].labels.update(labels)
        elif section == "Locations":
            m = _LOCATION_RE.match(raw)
            if m:
                loc = Location(int(m.group(1)), int(m.group(2), 16), int(m.group(3) or 0))
                if m.group(4):
                    loc.lines.append(_line(m.group(4)))
                p.locations[loc.id] = loc
            else:
                expect(raw.startswith(" " * 13) and p.locations,
                       f"pprof -raw: unexpected location line {raw!r}")
                p.locations[max(p.locations)].lines.append(_line(raw.strip()))
        elif section == "Mappings" and raw.strip():
            m = _MAPPING_RE.match(raw)
            expect(m is not None, f"pprof -raw: cannot parse mapping {raw!r}")
            file, build_id, flags = m.group(2).rsplit(" ", 2)
            p.mappings[int(m.group(1))] = Mapping(int(m.group(1)), file, build_id, flags)
    return p


def read_profile(path, executable=None, need_samples=True, kind="cpu"):
    """Reads a profile through `go tool pprof -raw` and checks what every
    profile must satisfy; with `executable`, that it is mapping 1. (Whether
    mapping 1 claims to be symbolized is a test of its own, in inline.py.)"""
    expect(os.path.isfile(path), f"expected a profile at {path}, saw none")
    p = parse_raw(pprof("-raw", path))
    expect(p.sample_types == ["samples/count", f"{kind}/nanoseconds"],
           f"expected sample types samples/count {kind}/nanoseconds, saw {p.sample_types}")
    expect(p.period_type == f"{kind} nanoseconds",
           f"expected period type {kind} nanoseconds, saw {p.period_type!r}")
    expect(p.samples or not need_samples, f"expected samples in {path}, saw none:\n{p.text}")
    for s in p.samples:
        for lid in s.location_ids:
            expect(lid in p.locations, f"sample refers to missing location {lid}")
        pseudo = all(f.startswith("[profpre]") for f in p.functions(s))
        expect(pseudo or ("tid" in s.labels and "thread_name" in s.labels),
               f"expected tid and thread_name labels on every sample, saw {s.labels} on "
               f"{s.count} samples in {p.functions(s)}")
        # cpu = (1 + overruns) * period, and overruns are never negative.
        expect(s.cpu_ns % p.period == 0 and s.cpu_ns >= s.count * p.period,
               f"expected cpu/nanoseconds a multiple of the period {p.period} and at least "
               f"count * period, saw count {s.count} cpu {s.cpu_ns}")
    if executable is not None:
        main = p.mappings.get(1)
        expect(main is not None and main.file == os.path.realpath(executable),
               f"expected mapping 1 to be {os.path.realpath(executable)}, saw {main}")
        if p.samples and "[FN]" not in main.flags:
            print(f"  note: mapping 1 of {os.path.basename(path)} is not flagged as symbolized "
                  f"({main.flags!r}): pprof may have re-symbolized it with its own tools")
    return p


def _varint(data, pos):
    value = shift = 0
    while True:
        expect(pos < len(data), "protobuf: truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def proto_fields(data):
    """The top-level fields of an encoded protobuf message, in order, as
    (field number, value): an int for varint and fixed-size fields (signed
    varints are left as the unsigned 64-bit number), bytes for
    length-delimited ones."""
    pos, fields = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            expect(pos + size <= len(data), "protobuf: truncated fixed-size field")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            expect(pos + size <= len(data), "protobuf: truncated length-delimited field")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise TestFailure(f"protobuf: unexpected wire type {wire} of field {number}")
        fields.append((number, value))
    return fields


def profile_times(path):
    """(time_nanos, duration_nanos) of a gzip'd pprof profile, read from the
    file itself: fields 9 and 10 of perftools.profiles.Profile (pprof -raw
    prints them only rounded)."""
    import gzip
    with gzip.open(path, "rb") as f:
        fields = dict(proto_fields(f.read()))
    return fields.get(9, 0), fields.get(10, 0)


def wait_for(condition, timeout, step=0.02):
    """Polls condition() until it is true (returns True) or timeout seconds
    have passed (returns False)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def cpu_tolerance(samples, period, truth):
    """What a CPU total measured with `samples` samples of `period` ns may be
    off by: 4 sigma of a Poisson count, + 2% of the truth."""
    return 4 * math.sqrt(max(samples, 1)) * period + 0.02 * truth


def expect_run_cpu(profile, stderr, what):
    """Expects `profile` to hold the CPU the fixture measured in all its
    threads (`total_thread_cpu_ns=` on its stderr), within cpu_tolerance."""
    truth = numbers(stderr)["total_thread_cpu_ns"]
    tolerance = cpu_tolerance(profile.total_count(), profile.period, truth)
    expect(abs(profile.total_cpu_ns() - truth) <= tolerance,
           f"{what}: expected the run's CPU, {truth / 1e9:.3f} s, within "
           f"{tolerance / 1e9:.3f} s, saw {profile.total_cpu_ns() / 1e9:.3f} s")


def binomial_tolerance(p, n):
    """4 standard deviations of a share p measured over n samples, + 1%."""
    return 4 * math.sqrt(p * (1 - p) / n) + 0.01 if n > 0 else 1.0


# ---------------------------------------------------------------- runner


def run_tests(*tests):
    """Runs each test function, prints PASS/FAIL lines and `N passed, N
    failed`, and exits with status 1 on any failure."""
    passed = failed = 0
    if shutil.which("go") is None:
        print("FAIL: `go` is not on PATH; the e2e tests read profiles with `go tool pprof` "
              "(Debian: apt-get install golang-go)")
        print(f"0 passed, {len(tests)} failed")
        sys.exit(1)
    for test in tests:
        try:
            test()
        except Exception as e:  # one failing test must not hide the others
            failed += 1
            if isinstance(e, TestFailure):
                print(f"FAIL {test.__name__}: {e}")
            else:
                print(f"FAIL {test.__name__}: unexpected error")
                traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"PASS {test.__name__}")
        sys.stdout.flush()
    if _go_home is not None:
        shutil.rmtree(_go_home, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
