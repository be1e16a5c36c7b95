#!/usr/bin/env python3
"""Accuracy and cost of profpre against no profiler, a floor and gperftools.

Runs the workloads of scripts/bench (built by scripts/build.sh into
build/scripts/bench) under each mode -- no profiler, the empty-handler floor,
libprofpre.so and gperftools' libprofiler.so, at 100 and 1000 Hz -- for a few
rounds, the modes interleaved within each round, and prints one table of
ratios and accuracy figures with each target marked met or not met.
See README.md beside this file for what every row means.

    scripts/build.sh && python3 scripts/bench/run.py [--rounds N] [--out FILE]
"""

import argparse
import atexit
import dataclasses
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
BENCH = os.path.join(BUILD, "scripts", "bench")
PROFPRE_LIB = os.path.join(BUILD, "libprofpre.so")
FLOOR_LIB = os.path.join(BENCH, "libprofpre_floor.so")
GPERF_LIB = "/usr/lib/x86_64-linux-gnu/libprofiler.so"

DEEP_DEPTH = 150
DEEP_LEAF, DEEP_FRAME, DEEP_INLINE = "bw_deep_leaf", "bw_deep_recurse", "bw_deep_hot"

# ------------------------------------------------------------------ modes


@dataclass(frozen=True)
class Mode:
    kind: str  # none, floor, profpre, gperf
    hz: int = 0

    @property
    def name(self):
        if self.kind == "none":
            return "none"
        return f"{self.kind}@{'1k' if self.hz == 1000 else self.hz}"


NONE = Mode("none")
MODES = [NONE] + [Mode(k, hz) for k in ("floor", "profpre", "gperf") for hz in (100, 1000)]
COLUMNS = [m.name for m in MODES]


def mode_env(mode, tmp):
    """The workload's environment in `mode`, writing profiles under `tmp`."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith(("PROF_", "CPUPROFILE"))}
    if mode.kind == "floor":
        env.update(LD_PRELOAD=FLOOR_LIB, PROF_HZ=str(mode.hz), PROF_STATS="1")
    elif mode.kind == "profpre":
        env.update(LD_PRELOAD=PROFPRE_LIB, PROF_HZ=str(mode.hz), PROF_STATS="1",
                   PROF_OUT=os.path.join(tmp, "profpre.%p.pb.gz"))
    elif mode.kind == "gperf":
        env.update(LD_PRELOAD=GPERF_LIB, CPUPROFILE_FREQUENCY=str(mode.hz),
                   CPUPROFILE=os.path.join(tmp, "gperf.prof"))
    return env


# -------------------------------------------------------------- workloads

# name: (binary, arguments). Budgets are CPU seconds; see each source file.
MAIN_WORKLOADS = {
    "shares": ("bw_shares", ["1.0"]),
    "threads": ("bw_threads", ["2.0"]),
    "swarm": ("bw_swarm", ["0.5", "0.2", "4"]),
    "deep": ("bw_deep", ["1.0", str(DEEP_DEPTH)]),
    "forkexec": ("bw_forkexec", ["0.25", "3"]),
    "stacks": ("bw_stacks", ["0.5", "2"]),
}
SIGNALS_ARGS = ["0.5", "4"]  # bw_signals: CPU seconds, units per signal
ACCURACY_TARGETS = ("shares", "threads", "swarm")      # CPU total within 3%
SHARE_TARGETS = ("shares", "threads", "swarm", "forkexec")  # shares within 2 sigma


@dataclass
class Run:
    workload: str
    mode: Mode
    cpu_s: float = 0.0       # user + system from wait4, children included
    wall_s: float = 0.0
    maxrss_kib: int = 0
    error: str = ""
    truth: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)  # profpre/floor/gperf stderr, summed
    last_stats: dict = field(default_factory=dict)  # the main process's line
    profile: object = None    # Summary
    profile_bytes: int = 0
    exit_external_ms: float = None

    @property
    def units(self):
        return self.truth.get("units", 0)

    @property
    def truth_cpu_s(self):
        return self.truth.get("rusage_cpu_s", 0.0)

    @property
    def inside_s(self):
        """CPU in the workload's own functions."""
        return sum(self.truth.get("functions", {}).values())

    @property
    def outside_s(self):
        """CPU outside them: start-up, threads, the profiler's thread, exit."""
        return self.cpu_s - self.inside_s

    @property
    def exit_cpu_s(self):
        """CPU after the workload's last instruction (its own and its
        children's): the profiler's exit work."""
        return self.cpu_s - self.truth_cpu_s

    @property
    def signals(self):
        return self.stats.get("signals", self.stats.get("samples", 0) +
                              self.stats.get("lost", 0))


def spawn(argv, env, tmp):
    """Runs argv to completion; returns (status, rusage, wall seconds)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.path.join(tmp, "stdout"),
         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, os.path.join(tmp, "stderr"),
         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    return status, usage, time.monotonic() - start


STATS_LINE = re.compile(r"^(?:profpre|floor): stats: (.*)$", re.M)
GPERF_LINE = re.compile(r"^PROFILE: interrupts/evictions/bytes = (\d+)/(\d+)/(\d+)", re.M)


def parse_stats(stderr):
    """Sums the stats lines of every process (a mean handler time weighted by
    samples); returns (sums, the last line, which is the main process's)."""
    lines = [{k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
             for line in STATS_LINE.findall(stderr)]
    sums = {}
    for line in lines:
        for k, v in line.items():
            sums[k] = sums.get(k, 0) + v
    if sums.get("samples"):
        sums["handler_mean_ns"] = sum(l.get("handler_mean_ns", 0) * l.get("samples", 0)
                                      for l in lines) // sums["samples"]
    for interrupts, _, _ in GPERF_LINE.findall(stderr):
        sums["signals"] = sums.get("signals", 0) + int(interrupts)
    return sums, lines[-1] if lines else {}


def run_once(workload, argv, mode, tools):
    run = Run(workload, mode)
    tmp = tempfile.mkdtemp(prefix="bench-")
    try:
        status, usage, run.wall_s = spawn(argv, mode_env(mode, tmp), tmp)
        run.cpu_s = usage.ru_utime + usage.ru_stime
        run.maxrss_kib = usage.ru_maxrss
        with open(os.path.join(tmp, "stdout")) as f:
            out = f.read()
        with open(os.path.join(tmp, "stderr")) as f:
            err = f.read()
        run.stats, run.last_stats = parse_stats(err)
        lines = out.strip().splitlines()
        if status != 0 or not lines:
            run.error = f"status {status}: {err.strip()[-200:]}"
            return run
        run.truth = json.loads(lines[-1])
        read_profiles(run, argv[0], tmp, tools)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        run.error = str(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run


def read_profiles(run, exe, tmp, tools):
    """Reads the run's profiles (one per process) and the exit time."""
    if run.mode.kind not in ("profpre", "gperf"):
        return
    prefix = "profpre." if run.mode.kind == "profpre" else "gperf.prof"
    paths = sorted(os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith(prefix)
                   and not n.endswith(".tmp"))
    if not paths:
        run.error = "no profile written"
        return
    run.profile_bytes = sum(os.path.getsize(p) for p in paths)
    # The main process's profile: gperftools names the children's "_PID".
    main = [p for p in paths if p.endswith(("gperf.prof", f".{run.truth.get('pid', '')}.pb.gz"))]
    main = main[0] if main else max(paths, key=os.path.getmtime)
    run.exit_external_ms = (os.stat(main).st_mtime_ns - run.truth["exit_realtime_ns"]) / 1e6
    if tools.go:
        run.profile = Summary()
        for p in paths:
            run.profile.add(summarize(p, exe, run.mode.kind == "gperf", tools))


# --------------------------------------------------------------- profiles


@dataclass
class Summary:
    """What the accuracy rows need from one run's profiles."""
    cpu_ns: int = 0
    count: int = 0
    fn_cpu: dict = field(default_factory=dict)    # function -> cpu_ns of samples under it
    fn_count: dict = field(default_factory=dict)  # function -> signals under it
    stacks: int = 0       # distinct samples
    addresses: int = 0    # distinct locations
    leaf: int = 0         # signals in the deep leaf
    leaf_full: int = 0    # ... with all DEEP_DEPTH recursion frames (or more)
    leaf_inline: int = 0  # ... with the inlined frame

    def add(self, other):
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, dict):
                for k, v in b.items():
                    a[k] = a.get(k, 0) + v
            else:
                setattr(self, f.name, a + b)


@dataclass
class Tools:
    go: bool
    addr2line: bool


SAMPLE = re.compile(r"^\s+(\d+)\s+(\d+):((?: \d+)+)\s*$")
# A location without a mapping is one of profpre's pseudo-frames.
LOCATION = re.compile(r"^\s+(\d+): 0x([0-9a-f]+)(?: M=(\d+))?\s?(.*)$")
LABELS = re.compile(r"(\w+):\[([^\]]*)\]")
INLINE = re.compile(r"^\s{8,}(\S.*)$")
MAPPING = re.compile(r"^(\d+): 0x([0-9a-f]+)/0x([0-9a-f]+)/0x([0-9a-f]+) (\S+)")
FRAME = re.compile(r"^(.*?)\s+\S*:\d+\s+s=\d+")


def frame_function(text):
    """The function of one pprof -raw frame line ('' when unsymbolized)."""
    m = FRAME.match(text)
    name = (m.group(1) if m else text).strip()
    return name.split("(")[0] if name.startswith("bw_") else name


def parse_raw(text):
    """pprof -raw text -> (samples [(count, value, [loc ids], {label: value})],
    locations {id: (address, mapping id or 0, [functions, innermost first])},
    mappings {id: (start, limit, offset, file)})."""
    samples, locations, mappings = [], {}, {}
    section, last = None, None
    for line in text.splitlines():
        if line.startswith(("Samples:", "Locations", "Mappings")):
            section = line.split()[0].rstrip(":")
            continue
        if section == "Samples":
            m = SAMPLE.match(line)
            if m:
                samples.append((int(m.group(1)), int(m.group(2)),
                                [int(x) for x in m.group(3).split()], {}))
            elif samples and LABELS.search(line):
                samples[-1][3].update(LABELS.findall(line))
        elif section == "Locations":
            m = LOCATION.match(line)
            if m:
                last = [int(m.group(2), 16), int(m.group(3) or 0), []]
                locations[int(m.group(1))] = last
                if m.group(4).strip():
                    last[2].append(frame_function(m.group(4)))
            elif INLINE.match(line) and last is not None:
                last[2].append(frame_function(INLINE.match(line).group(1)))
        elif section == "Mappings":
            m = MAPPING.match(line)
            if m:
                mappings[int(m.group(1))] = (int(m.group(2), 16), int(m.group(3), 16),
                                             int(m.group(4), 16), m.group(5))
    return samples, locations, mappings


def elf_vaddr(path, file_offset, cache={}):
    """The link-time address of `file_offset` in ELF file `path`, or None."""
    if path not in cache:
        with open(path, "rb") as f:
            head = f.read(64)
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
        loads = []
        for i in range(phnum):
            p_type, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
            if p_type == 1:  # PT_LOAD
                loads.append((off, vaddr, filesz))
        cache[path] = loads
    for off, vaddr, filesz in cache[path]:
        if off <= file_offset < off + filesz:
            return file_offset - off + vaddr
    return None


def symbolize_gperf(locations, mappings, exe):
    """Gives gperftools' locations in `exe` their frames, with addr2line -i."""
    real = os.path.realpath(exe)
    wanted = {}
    for loc_id, (addr, map_id, _) in locations.items():
        start, _, offset, path = mappings.get(map_id, (0, 0, 0, ""))
        if path and os.path.realpath(path) == real:
            vaddr = elf_vaddr(real, addr - start + offset)
            if vaddr is not None:
                wanted.setdefault(vaddr, []).append(loc_id)
    if not wanted:
        return
    out = subprocess.run(["addr2line", "-a", "-f", "-i", "-C", "-e", real],
                         input="\n".join(hex(a) for a in wanted), capture_output=True,
                         text=True, check=True).stdout
    current, is_function = None, False
    for line in out.splitlines():
        if re.fullmatch(r"0x[0-9a-f]+", line):
            current, is_function = int(line, 16), True
        elif current is not None and is_function:
            for loc_id in wanted.get(current, []):
                locations[loc_id][2].append(line.split("(")[0] if line.startswith("bw_")
                                            else line)
            is_function = False
        else:
            is_function = True


def summarize(path, exe, legacy, tools):
    """Reads one profile with `go tool pprof -raw`, independent of profpre."""
    argv = ["go", "tool", "pprof", "-raw", "-symbolize=none"] + ([exe] if legacy else []) + [path]
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    samples, locations, mappings = parse_raw(text)
    if legacy and tools.addr2line:
        symbolize_gperf(locations, mappings, exe)
    s = Summary(stacks=len(samples), addresses=len(locations))
    for count, cpu, stack, _ in samples:
        s.count += count
        s.cpu_ns += cpu
        names = [fn for loc in stack for fn in locations.get(loc, (0, 0, []))[2]]
        for fn in set(names):
            s.fn_cpu[fn] = s.fn_cpu.get(fn, 0) + cpu
            s.fn_count[fn] = s.fn_count.get(fn, 0) + count
        if DEEP_LEAF in names:
            s.leaf += count
            s.leaf_full += count if names.count(DEEP_FRAME) >= DEEP_DEPTH else 0
            s.leaf_inline += count if DEEP_INLINE in names else 0
    return s


# ---------------------------------------------------------------- figures
#
# `runs` is a list of rounds, each {Mode: Run} for one workload. Figures that
# compare with no profiler pair each run with the none run of its round.


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec="{:.3f}"):
    return "-" if value is None else spec.format(value)


def ok_runs(runs, mode):
    """(run, none run of the same round) for every round where both worked."""
    return [(r[mode], r[NONE]) for r in runs
            if mode in r and NONE in r and not r[mode].error and not r[NONE].error
            and r[mode].units and r[NONE].units]


def raw_ratio(runs, mode):
    """Median of (wait4 CPU per unit in mode) / (same with no profiler)."""
    return median([(m.cpu_s / m.units) / (n.cpu_s / n.units) for m, n in ok_runs(runs, mode)])


def none_spread(runs):
    """Half the range of the no-profiler CPU per unit across rounds, relative."""
    values = [r[NONE].cpu_s / r[NONE].units for r in runs if not r[NONE].error and r[NONE].units]
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / 2 / statistics.median(values)


def signal_costs(signal_runs):
    """CPU per signal in microseconds for each profiler, from bw_signals: the
    excess per signal sent, minus the cost of sending alone (the none run of
    the same round). Keyed by profiler kind."""
    costs = {}
    for kind, mode in (("floor", F1K), ("profpre", P1K), ("gperf", G1K)):
        costs[kind] = median_pair(signal_runs, mode, lambda a, b: (
            a.truth["signal_excess_ns"] - b.truth["signal_excess_ns"]) / 1000)
    return costs


def steady_cost(run, us_per_signal):
    """The share of the workload's own CPU its signals cost: signals delivered
    in the run times the CPU of one."""
    if us_per_signal is None or not run.inside_s:
        return None
    return run.signals * us_per_signal * 1e-6 / run.inside_s


def estimated_ratio(m, n, us_per_signal):
    """CPU the none run's work would take under the profiler, over the none
    run's CPU: its functions' CPU plus the steady cost of the signals, plus
    the CPU the profiled run used outside the functions (start, threads, the
    profiler's thread, exit), which is measured directly."""
    h = steady_cost(m, us_per_signal)
    if h is None:
        return None
    return (n.inside_s * (1 + h) + m.outside_s) / n.cpu_s


def median_pair(runs, mode, fn):
    return median([fn(m, n) for m, n in ok_runs(runs, mode)])


def profiled(runs, mode):
    return [r[mode] for r in runs if mode in r and not r[mode].error and r[mode].profile]


def cpu_accuracy(runs, mode):
    """Median of profile CPU / true CPU (getrusage at the last instruction)."""
    return median([p.profile.cpu_ns / 1e9 / p.truth_cpu_s for p in profiled(runs, mode)
                   if p.truth_cpu_s])


def share_errors(runs, mode):
    """Pooled over rounds: max |share in profile - true share| / binomial sigma,
    and the worst function with its two shares."""
    done = profiled(runs, mode)
    if not done:
        return None, None
    truth, got, n = {}, {}, 0
    for p in done:
        for fn, cpu_s in p.truth["functions"].items():
            truth[fn] = truth.get(fn, 0) + cpu_s
            got[fn] = got.get(fn, 0) + p.profile.fn_cpu.get(fn, 0)
        n += sum(p.profile.fn_count.get(fn, 0) for fn in p.truth["functions"])
    total_true, total_got = sum(truth.values()), sum(got.values())
    if n == 0 or total_got == 0:
        return float("inf"), "no samples"
    worst, worst_z = None, -1.0
    for fn in truth:
        p_true, p_got = truth[fn] / total_true, got[fn] / total_got
        z = abs(p_got - p_true) / (p_true * (1 - p_true) / n) ** 0.5
        if z > worst_z:
            worst, worst_z = f"{fn.replace('bw_', '')} {100 * p_got:.1f}/{100 * p_true:.1f}", z
    return worst_z, worst


def deep_fractions(runs, mode):
    done = profiled(runs, mode)
    leaf = sum(p.profile.leaf for p in done)
    if not leaf:
        return None, None
    return (100 * sum(p.profile.leaf_full for p in done) / leaf,
            100 * sum(p.profile.leaf_inline for p in done) / leaf)


def med_attr(runs, mode, getter):
    return median([getter(r[mode]) for r in runs if mode in r and not r[mode].error])


# ------------------------------------------------------------------ table


@dataclass
class Row:
    group: str
    metric: str
    cells: dict
    target: str = ""
    verdict: str = ""


class Rows(list):
    def add(self, group, metric, cells, target="", ok=None):
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        self.append(Row(group, metric, cells, target, verdict))


P100, P1K = Mode("profpre", 100), Mode("profpre", 1000)
F100, F1K = Mode("floor", 100), Mode("floor", 1000)
G100, G1K = Mode("gperf", 100), Mode("gperf", 1000)
PROFILERS = (P100, P1K, G100, G1K)
OTHERS = MODES[1:]


def cost_rows(rows, name, runs, costs):
    """What the profiler costs in CPU, against no profiler."""
    rows.add(name, "CPU/unit vs none: raw (none: spread)",
             dict({m.name: fmt(raw_ratio(runs, m)) for m in OTHERS},
                  none="±" + fmt(none_spread(runs) and 100 * none_spread(runs), "{:.1f}%")))
    extra = {}
    for m in OTHERS:
        total = median_pair(runs, m, lambda a, b: 1000 * (a.outside_s - b.outside_s))
        extra[m.name] = fmt(total, "{:.0f}")
        if m.kind == "profpre":
            ex = med_attr(runs, m, lambda r: 1000 * r.exit_cpu_s)
            co = med_attr(runs, m, lambda r: 1000 * r.truth.get("collector_cpu_s", 0))
            extra[m.name] += f" (exit {fmt(ex, '{:.0f}')}, thread {fmt(co, '{:.0f}')})"
    rows.add(name, "CPU ms outside the functions, vs none", extra)
    if name == "swarm":
        rows.add(name, "  us per short thread, outside - exit - thread", {
            m.name: fmt(median_pair(runs, m, lambda a, b: 1e6 * (
                a.outside_s - b.outside_s - a.exit_cpu_s + b.exit_cpu_s -
                a.truth.get("collector_cpu_s", 0)) / a.truth["short_threads"]), "{:.1f}")
            for m in OTHERS})
    rows.add(name, "steady cost %: signals x us/signal", {m.name: fmt(med_attr(
        runs, m, lambda r: steady_cost(r, costs.get(m.kind)) and
        100 * steady_cost(r, costs.get(m.kind))), "{:.2f}") for m in OTHERS})
    est = {m.name: median_pair(runs, m, lambda a, b: estimated_ratio(a, b, costs.get(m.kind)))
           for m in OTHERS}
    p, g = est[P100.name], est[G100.name]
    rows.add(name, "CPU ratio, estimated: 1 + steady + outside",
             {k: fmt(v) for k, v in est.items()}, "profpre@100 <= 1.01 and <= gperf@100",
             None if p is None else p <= 1.01 and (g is None or p <= g))
    signals = {m.name: fmt(med_attr(runs, m, lambda r: r.signals), "{:.0f}") for m in OTHERS}
    for m in (P100, P1K):
        mean = med_attr(runs, m, lambda r: r.stats.get("handler_mean_ns", 0) / 1000)
        signals[m.name] += f" ({fmt(mean, '{:.1f}')} us)"
    rows.add(name, "signals (profpre handler mean)", signals)
    rows.add(name, "wall s/CPU s", {m.name: fmt(med_attr(runs, m, lambda r: r.wall_s), "{:.2f}") +
                                    "/" + fmt(med_attr(runs, m, lambda r: r.cpu_s), "{:.2f}")
                                    for m in MODES})


def accuracy_rows(rows, name, runs):
    """What the profiles say against the workload's own clocks."""
    acc = {m.name: cpu_accuracy(runs, m) for m in PROFILERS}
    errors = [abs(1 - acc[m.name]) for m in (P100, P1K) if acc[m.name] is not None]
    rows.add(name, "profile CPU / true CPU", {k: fmt(v) for k, v in acc.items()},
             *(("profpre within 3% at 100 and 1k", max(errors) <= 0.03 if errors else None)
               if name in ACCURACY_TARGETS else ()))
    if name in SHARE_TARGETS:
        z = {m.name: share_errors(runs, m) for m in PROFILERS}
        mine = [z[m.name][0] for m in (P100, P1K) if z[m.name][0] is not None]
        rows.add(name, "function shares: max |z|, pooled",
                 {k: fmt(v[0], "{:.1f}") for k, v in z.items()},
                 "profpre <= 2 sigma at 100 and 1k", max(mine) <= 2 if mine else None)
        rows.add(name, "  worst: profile/true %", {k: v[1] or "-" for k, v in z.items()})
    if name == "deep":
        d = {m.name: deep_fractions(runs, m) for m in PROFILERS}
        for i, what in enumerate((f"all {DEEP_DEPTH} frames", "the inlined frame")):
            mine = [d[m.name][i] for m in (P100, P1K) if d[m.name][i] is not None]
            rows.add(name, f"leaf samples with {what} %",
                     {k: fmt(v[i], "{:.1f}") for k, v in d.items()}, "profpre 100%",
                     min(mine) >= 100 if mine else None)


def output_rows(rows, name, runs):
    """Exit time, profile size and memory."""
    cells = {}
    for m in PROFILERS:
        ext = med_attr(runs, m, lambda r: r.exit_external_ms)
        stat = med_attr(runs, m, lambda r: r.last_stats.get("exit_build_ms"))
        cells[m.name] = (fmt(stat, "{:.0f}") + "/" if m.kind == "profpre" else "") + \
            fmt(ext, "{:.0f}")
    rows.add(name, "exit ms (profpre stats/external)", cells)
    size = {m.name: med_attr(runs, m, lambda r: r.profile_bytes / 1024) for m in PROFILERS}
    ok = [size[p.name] <= size[q.name] for p, q in ((P100, G100), (P1K, G1K))
          if size[p.name] is not None and size[q.name] is not None]
    rows.add(name, "profile KiB", {k: fmt(v, "{:.1f}") for k, v in size.items()},
             "profpre <= gperf at the same rate", all(ok) if ok else None)
    mem = {}
    for m in OTHERS:
        rss = median_pair(runs, m, lambda a, b: a.truth.get("rss_kib", 0) -
                          b.truth.get("rss_kib", 0))
        peak = median_pair(runs, m, lambda a, b: a.maxrss_kib - b.maxrss_kib)
        mem[m.name] = fmt(rss, "{:.0f}") + "/" + fmt(peak, "{:.0f}")
    mem.update({m.name: mem[m.name] + " buf " + fmt(med_attr(
        runs, m, lambda r: r.last_stats.get("buffers_peak_kib")), "{:.0f}") for m in (P100, P1K)})
    rows.add(name, "KiB vs none: RSS at end/peak (buffers)", mem)


def signal_rows(rows, runs, costs, main_runs):
    """The cost of one signal, from bw_signals' amplified rate; and, for the
    record, the same figure taken literally from the shares runs at 1000 Hz,
    where 250 signals a second leave it below the noise."""
    handler = med_attr(runs, P1K, lambda r: r.stats.get("handler_mean_ns", 0) / 1000)
    thread = med_attr(runs, P1K, lambda r: 1e6 * r.truth.get("collector_cpu_s", 0) /
                      max(r.truth.get("signals_sent", 1), 1))
    floor, mine = costs["floor"], costs["profpre"]
    limit = None if floor is None or handler is None else 1.5 * floor + handler
    cells = {m.name: fmt(costs[m.kind], "{:.2f}") for m in (F1K, P1K, G1K)}
    cells["none"] = fmt(med_attr(runs, NONE, lambda r: r.truth["signal_excess_ns"] / 1000),
                        "{:.2f}")
    cells[P1K.name] += f" (handler {fmt(handler, '{:.2f}')}, thread {fmt(thread, '{:.2f}')})"
    rows.add("signals", "us per signal, ~20k/s (none: send only)", cells,
             f"profpre <= 1.5*floor + handler = {fmt(limit, '{:.2f}')}",
             None if mine is None or limit is None else mine <= limit)
    rows.add("signals", "  profpre / floor", {P1K.name: fmt(
        mine / floor if mine is not None and floor else None, "{:.2f}")})
    if main_runs.get("shares"):
        literal = {m.name: fmt(median_pair(main_runs["shares"], m, lambda a, b: (
            a.cpu_s - b.cpu_s) / a.signals * 1e6 if a.signals else None), "{:.0f}")
            for m in (F1K, P1K, G1K)}
        rows.add("signals", "  literal (CPU - none CPU)/signals, shares", literal)


def exit_rows(rows, runs_by_variant):
    """A few thousand distinct stacks, then about 4x the addresses."""
    exit_ms, addresses = {}, {}
    for variant, runs in runs_by_variant.items():
        cells = {}
        for m in (P1K, G1K):
            st = med_attr(runs, m, lambda r: r.profile and r.profile.stacks)
            ad = med_attr(runs, m, lambda r: r.profile and r.profile.addresses)
            cells[m.name] = fmt(st, "{:.0f}") + "/" + fmt(ad, "{:.0f}")
        addresses[variant] = med_attr(runs, P1K, lambda r: r.profile and r.profile.addresses)
        rows.add(variant, "distinct stacks/addresses", cells)
        ext = med_attr(runs, P1K, lambda r: r.exit_external_ms)
        stat = med_attr(runs, P1K, lambda r: r.last_stats.get("exit_build_ms"))
        exit_ms[variant] = ext
        rows.add(variant, "exit ms (profpre stats/external)",
                 {P1K.name: fmt(stat, "{:.0f}") + "/" + fmt(ext, "{:.0f}"),
                  G1K.name: fmt(med_attr(runs, G1K, lambda r: r.exit_external_ms), "{:.0f}")},
                 "profpre external < 100 ms", None if ext is None else ext < 100)
        size = {m.name: med_attr(runs, m, lambda r: r.profile_bytes / 1024) for m in (P1K, G1K)}
        rows.add(variant, "profile KiB", {k: fmt(v, "{:.1f}") for k, v in size.items()},
                 "profpre <= gperf", None if None in size.values() else
                 size[P1K.name] <= size[G1K.name])
        rows.add(variant, "profpre buffers_peak_kib", {P1K.name: fmt(med_attr(
            runs, P1K, lambda r: r.last_stats.get("buffers_peak_kib")), "{:.0f}")})
    a, b = list(runs_by_variant)[:2]
    if None not in (exit_ms.get(a), exit_ms.get(b), addresses.get(a), addresses.get(b)):
        growth, linear = exit_ms[b] / exit_ms[a], addresses[b] / addresses[a]
        rows.add(f"{b}/{a}", "exit time growth (addresses growth)",
                 {P1K.name: f"x{growth:.2f} (x{linear:.2f})"}, "no faster than linear",
                 growth <= linear)


def memory_rows(rows, runs, main_runs):
    """Per-thread cost, threads that come and go, and no growth with time."""
    def delta(key, getter):
        return median([getter(r[key]) - getter(r[key + "/none"]) for r in runs
                       if not r[key].error and not r[key + "/none"].error])

    rss = lambda r: r.truth.get("rss_kib", 0)
    buf = lambda r: r.last_stats.get("buffers_peak_kib", 0)
    few, many = (runs[0][k].truth.get("threads", 0) for k in ("threads2", "threads34"))
    per_rss = (delta("threads34", rss) - delta("threads2", rss)) / (many - few)
    per_buf = median([(buf(r["threads34"]) - buf(r["threads2"])) / (many - few) for r in runs])
    rows.add("memory", f"KiB per thread ({few:.0f} vs {many:.0f} threads): RSS/buffers",
             {P100.name: f"{per_rss:.0f}/{per_buf:.0f}"}, "fixed and small: <= 128",
             max(per_rss, per_buf) <= 128)
    if main_runs.get("swarm") and main_runs.get("shares"):
        swarm = med_attr(main_runs["swarm"], P100, lambda r: r.last_stats.get("buffers_peak_kib"))
        shares = med_attr(main_runs["shares"], P100,
                          lambda r: r.last_stats.get("buffers_peak_kib"))
        limit = shares + 8 * max(per_buf, 0)
        rows.add("memory", "swarm (<= 7 threads alive) buffers KiB", {P100.name: f"{swarm:.0f}"},
                 f"<= shares + 8 threads = {limit:.0f}", swarm <= limit)
    short, long_ = (median([rss(r[k]) for r in runs]) for k in ("short", "long"))
    bshort, blong = (median([buf(r[k]) for r in runs]) for k in ("short", "long"))
    rows.add("memory", "shares 0.5s -> 2s: RSS KiB, buffers KiB",
             {P1K.name: f"{short:.0f}->{long_:.0f}, {bshort:.0f}->{blong:.0f}"},
             "no growth with run time (<= +256 KiB)",
             long_ - short <= 256 and blong - bshort <= 256)


def render(rows, header, columns=None, first="workload"):
    """The table under `header`: `first` and metric, one column per name in
    `columns` (default: this benchmark's modes), target and result."""
    columns = COLUMNS if columns is None else columns
    cols = [first, "metric"] + columns + ["target", "result"]
    table = [cols] + [[r.group, r.metric] + [r.cells.get(c, "") for c in columns] +
                      [r.target, r.verdict] for r in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(cols))]
    out = [header]
    for i, line in enumerate(table):
        cells = [str(v).ljust(w) if j < 2 or j >= len(cols) - 2 else str(v).rjust(w)
                 for j, (v, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("-" * len(out[-1]))
    return "\n".join(out)


LEGEND = """\
Legend (details in scripts/bench/README.md). Columns: no profiler, the floor (profpre's timers,
empty handler), profpre, gperftools at 100 Hz and 1000 Hz ("1k"). Medians over rounds; each run
is compared with the none run of its round.
  raw            (wait4 CPU / units of work) over the same for none. The none cell is the
                 spread of none across rounds: the noise of this row.
  outside        CPU outside the workload's functions minus none's: threads, the profiler's
                 thread and its exit work (profpre: exit = CPU after the last instruction).
  steady         signals delivered x CPU per signal (from the signals rows) / function CPU.
  estimated      (none's function CPU x (1 + steady) + this run's outside CPU) / none's CPU:
                 the overhead from parts measured precisely, where raw is noise-bound.
  profile/true   CPU total in the profile(s) / getrusage at the workload's last instruction.
  max |z|        per function, pooled over rounds: |profile share - true| / sqrt(p(1-p)/n),
                 n = signals in the functions. gperftools' profile: go tool pprof -raw,
                 symbolized with addr2line -i.
  exit ms        profpre's exit_build_ms / profile mtime - the workload's last CLOCK_REALTIME.
  KiB vs none    RSS at the last instruction / peak RSS (ru_maxrss: includes the exit build);
                 buf = profpre's buffers_peak_kib.
  us per signal  bw_signals: excess CPU per signal of ~20000 self-sent timer-like signals per
                 CPU second, minus the cost of sending (the none cell)."""


# ------------------------------------------------------------------ driver


def require(program, libraries, binaries):
    """Exits with a line naming what is missing: `libraries`, the workloads
    `binaries` (built by scripts/build.sh), gperftools' library."""
    missing = [p for p in libraries + [os.path.join(BENCH, b) for b in binaries]
               if not os.path.exists(p)]
    if missing:
        sys.exit(f"{program}: missing " + ", ".join(missing) +
                 f"\n{program}: build first: scripts/build.sh (or ninja -C build)")
    if not os.path.exists(GPERF_LIB):
        sys.exit(f"{program}: {GPERF_LIB} missing (Debian: apt-get install "
                 "libgoogle-perftools-dev)")


def check_setup():
    binaries = [b for b, _ in MAIN_WORKLOADS.values()] + ["bw_signals", "bw_stacks4x"]
    require("run.py", [PROFPRE_LIB, FLOOR_LIB], binaries)
    tools = Tools(go=shutil.which("go") is not None,
                  addr2line=shutil.which("addr2line") is not None)
    if not tools.go:
        progress("run.py: `go` not found: profiles are not read (apt-get install golang-go)")
    return tools


def pin_libraries(profpre):
    """Measures private copies of the libraries: the shared build directory
    may be rebuilt while the benchmark runs."""
    global PROFPRE_LIB, FLOOR_LIB
    if not os.path.exists(profpre):
        sys.exit(f"run.py: {profpre} missing")
    pinned = tempfile.mkdtemp(prefix="bench-lib-")
    atexit.register(shutil.rmtree, pinned, True)
    for name, source in (("libprofpre.so", profpre), ("libprofpre_floor.so", FLOOR_LIB)):
        shutil.copy2(source, os.path.join(pinned, name))
    PROFPRE_LIB = os.path.join(pinned, "libprofpre.so")
    FLOOR_LIB = os.path.join(pinned, "libprofpre_floor.so")
    progress(f"run.py: measuring {profpre} (copied to {pinned})")


def progress(text):
    print(text, file=sys.stderr, flush=True)


def rotated(modes, k):
    return modes[k % len(modes):] + modes[:k % len(modes)]


def run_modes(name, argv_for, modes, k, tools):
    """One workload under every mode, in an order rotated each round."""
    runs = {m: run_once(name, argv_for(m), m, tools) for m in rotated(modes, k)}
    errors = [f"{m.name}: {r.error}" for m, r in runs.items() if r.error]
    progress(f"round {k + 1}: {name}" + ("  ERRORS " + "; ".join(errors) if errors else ""))
    return runs


def run_round(k, args, tools, results):
    wanted = lambda name: not args.only or name in args.only
    for name, (binary, wargs) in MAIN_WORKLOADS.items():
        if wanted(name):
            argv = [os.path.join(BENCH, binary)] + wargs
            results.main.setdefault(name, []).append(
                run_modes(name, lambda m: argv, MODES, k, tools))
    if wanted("signals"):
        exe = os.path.join(BENCH, "bw_signals")
        results.signals.append(run_modes(
            "signals", lambda m: [exe] + SIGNALS_ARGS + ["1" if m == NONE else "0"],
            [NONE, F1K, P1K, G1K], k, tools))
    if wanted("exit"):
        for variant in ("stacks", "stacks4x"):
            argv = [os.path.join(BENCH, "bw_" + variant), str(args.exit_cpu), "2"]
            results.exits.setdefault(variant + "-exit", []).append(
                run_modes(variant + "-exit", lambda m: argv, [P1K, G1K], k, tools))
    if wanted("memory"):
        stacks, shares = os.path.join(BENCH, "bw_stacks"), os.path.join(BENCH, "bw_shares")
        memory = {}
        for key, argv, mode in (("threads2", [stacks, "0.05", "2"], P100),
                                ("threads2/none", [stacks, "0.05", "2"], NONE),
                                ("threads34", [stacks, "0.05", "34"], P100),
                                ("threads34/none", [stacks, "0.05", "34"], NONE),
                                ("short", [shares, "0.5"], P1K),
                                ("long", [shares, "2.0"], P1K)):
            memory[key] = run_once(key, argv, mode, tools)
        results.memory.append(memory)
        progress(f"round {k + 1}: memory")


@dataclass
class Results:
    main: dict = field(default_factory=dict)      # workload -> [round {Mode: Run}]
    signals: list = field(default_factory=list)   # [round {Mode: Run}]
    exits: dict = field(default_factory=dict)     # variant -> [round {Mode: Run}]
    memory: list = field(default_factory=list)    # [round {key: Run}]


def table(results):
    rows = Rows()
    costs = signal_costs(results.signals) if results.signals else {}
    for name, runs in results.main.items():
        cost_rows(rows, name, runs, costs)
        accuracy_rows(rows, name, runs)
        output_rows(rows, name, runs)
    if results.signals:
        signal_rows(rows, results.signals, costs, results.main)
    if results.exits:
        exit_rows(rows, results.exits)
    if results.memory:
        memory_rows(rows, results.memory, results.main)
    return rows


def dump(results, path):
    """Every run's figures, for a closer look than the table's medians."""
    groups = [(n, rs) for n, rs in results.main.items()] + [("signals", results.signals)] + \
        [(n, rs) for n, rs in results.exits.items()] + [("memory", results.memory)]
    with open(path, "w") as f:
        for name, rounds in groups:
            for k, by_key in enumerate(rounds):
                for key, run in by_key.items():
                    record = dataclasses.asdict(run)
                    record.update(group=name, round=k, key=getattr(key, "name", key),
                                  mode=run.mode.name)
                    f.write(json.dumps(record) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--only", type=lambda s: s.split(","), default=None,
                        help="comma-separated subset of: " + ", ".join(MAIN_WORKLOADS) +
                        ", signals, exit, memory, modes (modes.py: wall, interval, dumps)")
    parser.add_argument("--dump", help="also write every run's raw figures, one JSON a line")
    parser.add_argument("--profpre", default=PROFPRE_LIB,
                        help="the profpre library to measure (default build/libprofpre.so); "
                        "copied at start, so that a rebuild during the run changes nothing")
    parser.add_argument("--exit-cpu", type=float, default=4.0,
                        help="CPU seconds per thread (2 threads) of the exit runs (default 4)")
    args = parser.parse_args()
    tools = check_setup()
    pin_libraries(args.profpre)

    texts = []
    if args.only != ["modes"]:
        started = time.monotonic()
        load = os.getloadavg()[0]
        results = Results()
        for k in range(args.rounds):
            run_round(k, args, tools, results)
        header = (f"profpre benchmark: {args.rounds} rounds in {time.monotonic() - started:.0f} s, "
                  f"{os.cpu_count()} CPUs, load {load:.1f} at start, "
                  f"{os.getloadavg()[0]:.1f} at end, {time.strftime('%Y-%m-%d %H:%M')}")
        if args.dump:
            dump(results, args.dump)
        texts.append(render(table(results), header) + "\n\n" + LEGEND)
        print(texts[-1], flush=True)
    if not args.only or "modes" in args.only:
        # The wall, interval and dump modes (modes.py), on the same pinned library.
        import modes
        texts.append(modes.benchmark(args.rounds, profpre=PROFPRE_LIB, pin=False))
        print(("\n" if len(texts) > 1 else "") + texts[-1])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n\n".join(texts) + "\n")


if __name__ == "__main__":
    main()
