#!/usr/bin/env python3
"""Cost and accuracy of profpre's wall, interval and dump modes.

Four benchmarks, each its workload under a few modes, interleaved within a
round and rotated from round to round as run.py does; the table shows
medians over rounds, each run compared with the runs of its own round:

  idle      PROF_MODE=wall at 100 Hz with 0, 100 and 1000 idle threads
            (bw_idle): whole-run CPU, the collector thread's CPU per second
            and per idle thread, the profile's wall time against the
            threads' lifetimes. Against no profiler and profpre's CPU mode.
  sleep     PROF_MODE=wall at 100 and 1000 Hz on a thread that computes and
            sleeps in turn (bw_sleep): the profile's wall time in each
            function against the thread's own clocks, EINTR seen. Also
            gperftools' CPUPROFILE_REALTIME, the nearest thing it has.
  interval  PROF_INTERVAL=1 and 0.2 on a 6 s, 4-thread CPU workload
            (bw_service): CPU, the windows' CPU total against the threads'
            CPU, VmRSS from the first windows to the last, CPU per window.
            Against no profiler, profpre at exit only, and gperftools (which
            has no periodic output).
  dump      PROF_DUMP_SIGNAL=USR2, ten SIGUSR2 during a 5 s run of
            bw_service: CPU per dump, dumps written, output, exit status and
            EINTR seen by the program.

See README.md beside this file ("Modes: wall, interval, dump") for every row.

    scripts/build.sh && python3 scripts/bench/modes.py [--rounds N] [--only idle,sleep]

run.py runs it at the end of a full run (or alone with --only modes).
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the helpers for reading pprof -raw output)

BENCH = bench.BENCH
GPERF_LIB = bench.GPERF_LIB
SECTIONS = ("idle", "sleep", "interval", "dump")

# ------------------------------------------------------------------ modes


@dataclass(frozen=True)
class Mode:
    name: str                 # the column
    kind: str                 # none, profpre, gperf
    env: tuple = ()           # extra environment, (name, value) pairs
    dumps: int = 0            # SIGUSR2 to send during the run

    @property
    def env_dict(self):
        return dict(self.env)


NONE = Mode("none", "none")
CPU100 = Mode("cpu@100", "profpre", (("PROF_HZ", "100"),))
WALL100 = Mode("wall@100", "profpre", (("PROF_HZ", "100"), ("PROF_MODE", "wall")))
WALL1K = Mode("wall@1k", "profpre", (("PROF_HZ", "1000"), ("PROF_MODE", "wall")))
GREAL = Mode("gperf-real@100", "gperf", (("CPUPROFILE_FREQUENCY", "100"),
                                          ("CPUPROFILE_REALTIME", "1")))
EXIT = Mode("exit", "profpre", (("PROF_HZ", "100"),))
INT1 = Mode("interval=1", "profpre", (("PROF_HZ", "100"), ("PROF_INTERVAL", "1")))
INT02 = Mode("interval=0.2", "profpre", (("PROF_HZ", "100"), ("PROF_INTERVAL", "0.2")))
GPERF = Mode("gperf@100", "gperf", (("CPUPROFILE_FREQUENCY", "100"),))
ARMED = Mode("armed", "profpre", (("PROF_HZ", "100"), ("PROF_DUMP_SIGNAL", "USR2")))

MODES = {
    "idle": [NONE, CPU100, WALL100],
    "sleep": [NONE, WALL100, WALL1K, GREAL],
    "interval": [NONE, EXIT, INT1, INT02, GPERF],
    "dump": [NONE, ARMED],  # + the dumps mode, built from --dumps
}

PROFPRE_LIB = bench.PROFPRE_LIB


def mode_env(mode, tmp):
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith(("PROF_", "CPUPROFILE"))}
    if mode.kind == "profpre":
        env.update(LD_PRELOAD=PROFPRE_LIB, PROF_STATS="1", PROF_VERBOSE="1",
                   PROF_OUT=os.path.join(tmp, "prof.pb.gz"))
    elif mode.kind == "gperf":
        env.update(LD_PRELOAD=GPERF_LIB, CPUPROFILE=os.path.join(tmp, "gperf.prof"))
    env.update(mode.env_dict)
    return env


# ------------------------------------------------------------------- runs


@dataclass
class Run:
    section: str
    key: str                  # the workload variant (idle: the thread count)
    mode: Mode
    argv: list
    status: int = 0
    cpu_s: float = 0.0        # wait4: user + system
    wall_s: float = 0.0
    maxrss_kib: int = 0
    error: str = ""
    stdout: str = ""
    truth: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)    # profpre's stats line
    rss_series: list = field(default_factory=list)
    wrote: int = 0            # profpre: "wrote" lines (PROF_VERBOSE)
    windows: int = 0          # profpre: window files
    sent: int = 0             # SIGUSR2 sent
    sent_at: list = field(default_factory=list)  # when, s after the "started" line
    profile: object = None    # Summary of the profile(s): all windows, or the one file
    dump_cpu_s: list = field(default_factory=list)   # CPU total of each dump, in order
    profile_bytes: int = 0

    @property
    def program_cpu_s(self):
        """CPU of the program's own threads at its last instruction: the
        process's, less profpre's collector and writer threads."""
        t = self.truth
        return t.get("rusage_cpu_s", 0) - t.get("collector_cpu_s", 0) - t.get("writer_cpu_s", 0)

    @property
    def lines(self):
        """stdout without the JSON lines: what must not change."""
        return [l for l in self.stdout.splitlines() if not l.startswith("{")]


def execute(run, tmp, dump_times):
    """Runs the workload; sends SIGUSR2 at `dump_times` (seconds after the
    workload's "started" line). Fills status, CPU, wall, stdout."""
    out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.monotonic()
    pid = os.posix_spawn(run.argv[0], run.argv, mode_env(run.mode, tmp), file_actions=actions,
                         setsigdef=(signal.SIGUSR2, signal.SIGPROF, signal.SIGALRM))
    if dump_times is None:
        _, status, usage = os.wait4(pid, 0)
    else:
        # Polled: the same loop for every mode of the section, signals or not.
        started, pending = None, list(dump_times)
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            now = time.monotonic()
            if started is None:
                with open(out_path) as f:
                    if "started" in f.read():
                        started = now
            elif pending and now - started >= pending[0]:
                pending.pop(0)
                if run.mode.dumps:
                    os.kill(pid, signal.SIGUSR2)
                    run.sent += 1
                    run.sent_at.append(now - started)
            time.sleep(0.005)
    run.wall_s = time.monotonic() - start
    run.status = status
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.maxrss_kib = usage.ru_maxrss
    with open(out_path) as f:
        run.stdout = f.read()
    with open(err_path) as f:
        err = f.read()
    run.stats = bench.parse_stats(err)[1]
    run.wrote = len(re.findall(r"^profpre: wrote ", err, re.M))
    json_lines = [l for l in run.stdout.splitlines() if l.startswith("{")]
    if status != 0 or not json_lines:
        run.error = f"status {status}: {err.strip()[-300:]}"
        return
    run.truth = json.loads(json_lines[-1])
    for line in json_lines[:-1]:
        run.rss_series = json.loads(line).get("rss_series", run.rss_series)
    # Anything on stderr but our own lines is a change in the program's output.
    foreign = [l for l in err.splitlines()
               if l and not l.startswith(("profpre: ", "PROFILE: "))]
    if foreign:
        run.error = "unexpected stderr: " + foreign[0][:200]


def run_once(section, key, argv, mode, dump_times=None):
    run = Run(section, key, mode, argv)
    tmp = tempfile.mkdtemp(prefix="bench-modes-")
    try:
        execute(run, tmp, dump_times)
        if not run.error:
            read_profiles(run, tmp)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        run.error = str(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run


# --------------------------------------------------------------- profiles

@dataclass
class Summary:
    total_ns: int = 0
    count: int = 0
    fn_ns: dict = field(default_factory=dict)     # function anywhere in the stack -> ns
    state_ns: dict = field(default_factory=dict)  # wall mode: state label -> ns
    fn_state_ns: dict = field(default_factory=dict)  # "function/state" -> ns


def summarize(paths, exe, legacy=False):
    """One Summary of `paths` (merged by pprof), read with go tool pprof -raw."""
    argv = ["go", "tool", "pprof", "-raw", "-symbolize=none"] + ([exe] if legacy else []) + paths
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    samples, locations, mappings = bench.parse_raw(text)
    if legacy:
        bench.symbolize_gperf(locations, mappings, exe)
    s = Summary()
    for count, value, stack, labels in samples:
        s.total_ns += value
        s.count += count
        state = labels.get("state", "")
        s.state_ns[state] = s.state_ns.get(state, 0) + value
        for fn in {f for loc in stack for f in locations.get(loc, (0, 0, []))[2]}:
            s.fn_ns[fn] = s.fn_ns.get(fn, 0) + value
            s.fn_state_ns[f"{fn}/{state}"] = s.fn_state_ns.get(f"{fn}/{state}", 0) + value
    return s


def read_profiles(run, tmp):
    exe = run.argv[0]
    if run.mode.kind == "gperf":
        path = os.path.join(tmp, "gperf.prof")
        if not os.path.exists(path):
            run.error = "no profile written"
            return
        run.profile_bytes = os.path.getsize(path)
        run.profile = summarize([path], exe, legacy=True)
        return
    if run.mode.kind != "profpre":
        return
    names = sorted(os.listdir(tmp))
    windows = [os.path.join(tmp, n) for n in names if re.fullmatch(r"prof\.w\d+\.pb\.gz", n)]
    dumps = [os.path.join(tmp, n) for n in names if re.fullmatch(r"prof\.dump\d+\.pb\.gz", n)]
    main = os.path.join(tmp, "prof.pb.gz")
    paths = windows or ([main] if os.path.exists(main) else [])
    if not paths:
        run.error = "no profile written"
        return
    run.windows = len(windows)
    run.profile_bytes = sum(os.path.getsize(p) for p in paths + dumps)
    run.profile = summarize(paths, exe)
    run.dump_cpu_s = [summarize([p], exe).total_ns / 1e9 for p in dumps]


# ---------------------------------------------------------------- figures

median, fmt = bench.median, bench.fmt


def ok(runs, *modes):
    """The rounds where every one of `modes` ran without error."""
    return [r for r in runs if all(m in r and not r[m].error for m in modes)]


def med(runs, mode, fn, *others):
    """Median over rounds of fn(run) (or fn(run, *runs of `others`, same round))."""
    values = []
    for r in ok(runs, mode, *others):
        try:
            values.append(fn(r[mode], *[r[o] for o in others]))
        except (ZeroDivisionError, TypeError, KeyError, AttributeError, ValueError):
            pass
    return median(values)


def spread(runs, mode, fn):
    """Half the range across rounds of fn(run), relative to its median."""
    values = [fn(r[mode]) for r in ok(runs, mode)]
    if len(values) < 2 or not median(values):
        return None
    return (max(values) - min(values)) / 2 / median(values)


def cells(modes, fn, spec="{:.3f}"):
    return {m.name: fmt(fn(m), spec) for m in modes}


def cpu_row(rows, group, runs, modes, at_last=False):
    """Whole-run CPU (wait4) over none's, same round; none: its spread. With
    at_last, the process's CPU at the workload's last instruction instead
    (getrusage): without the profile built at exit."""
    get = (lambda r: r.truth["rusage_cpu_s"]) if at_last else (lambda r: r.cpu_s)
    c = cells([m for m in modes if m != NONE], lambda m: med(
        runs, m, lambda a, n: get(a) / get(n), NONE))
    s = spread(runs, NONE, get)
    c[NONE.name] = "±" + fmt(s and 100 * s, "{:.1f}%")
    rows.add(group, "  CPU to the last instruction vs none" if at_last else "CPU vs none (wait4)", c)


def idle_rows(rows, runs_by_n):
    """Wall mode with idle threads, at 100 Hz."""
    base = runs_by_n.get(0)
    for n, runs in runs_by_n.items():
        g = f"idle N={n}"
        cpu_row(rows, g, runs, MODES["idle"])
        cpu_row(rows, g, runs, MODES["idle"], at_last=True)
        collector = lambda r: r.stats.get("collector_cpu_ms", 0) / r.wall_s  # ms per s
        c = cells([CPU100, WALL100], lambda m: med(runs, m, collector), "{:.2f}")
        rows.add(g, "collector CPU ms per wall s", c)
        ticks = med(runs, WALL100, lambda r: r.stats["wall_ticks"] / r.wall_s)
        rows.add(g, "wall ticks per s (100 due)", {WALL100.name: fmt(ticks, "{:.1f}")})
        if n:
            per_tick = med(runs, WALL100, lambda r: 1000 * r.stats["collector_cpu_ms"] /
                           r.stats["wall_ticks"] / (n + 1))
            # The marginal cost of one idle thread: this N against N=0, same round.
            marginal = None
            if base:
                marginal = median([
                    1000 * (collector(a[WALL100]) - collector(b[WALL100])) / n
                    for a, b in zip(runs, base)
                    if WALL100 in a and WALL100 in b and not a[WALL100].error and
                    not b[WALL100].error])
            rows.add(g, "collector us per idle thread per s / per tick",
                     {WALL100.name: fmt(marginal, "{:.1f}") + " / " + fmt(per_tick, "{:.2f}")},
                     "<= 2 us per thread per tick" if n >= 1000 else "",
                     (per_tick <= 2) if n >= 1000 and per_tick is not None else None)
            rows.add(g, "threads looked at per tick (profpre stats)", {WALL100.name: fmt(med(
                runs, WALL100, lambda r: r.stats["wall_looks"] / r.stats["wall_ticks"]),
                "{:.1f}") + f" of {n + 1}"})
            rows.add(g, "blocked walks (profpre stats)",
                     {WALL100.name: fmt(med(runs, WALL100, lambda r: r.stats["blocked_walks"]),
                                        "{:.0f}")})
        acc = med(runs, WALL100, lambda r: r.profile.total_ns / 1e9 / r.truth["thread_wall_s"])
        rows.add(g, "profile wall / threads' lifetimes", {WALL100.name: fmt(acc)},
                 "within 3%", None if acc is None else abs(acc - 1) <= 0.03)
        if n:
            idle_share = med(runs, WALL100, lambda r: r.profile.fn_ns.get("bw_idle_wait", 0) /
                             1e9 / (r.truth["thread_wall_s"] - r.truth["wall_s"]))
            rows.add(g, "  in bw_idle_wait / idle threads' lifetimes",
                     {WALL100.name: fmt(idle_share)})
        busy = med(runs, WALL100, lambda r: r.profile.fn_ns.get("bw_idle_busy", 0) / 1e9 /
                   r.truth["busy_wall_s"])
        rows.add(g, "  in bw_idle_busy / its wall time", {WALL100.name: fmt(busy)})


def sleep_rows(rows, runs):
    g = "sleep"
    modes = MODES["sleep"]
    walls = [WALL100, WALL1K]
    cpu_row(rows, g, runs, modes)
    for fn, key in (("bw_sleep_wait", "sleep_wall_s"), ("bw_sleep_compute", "compute_wall_s")):
        c = cells(walls + [GREAL], lambda m: med(
            runs, m, lambda r: r.profile.fn_ns.get(fn, 0) / 1e9 / r.truth[key]))
        errs = [abs(med(runs, m, lambda r: r.profile.fn_ns.get(fn, 0) / 1e9 / r.truth[key]) - 1)
                for m in walls if med(runs, m, lambda r: r.profile.fn_ns.get(fn, 0)) is not None]
        rows.add(g, f"{fn.replace('bw_sleep_', '')}: profile / measured wall", c,
                 "wall within 5% at 100 and 1k", max(errs) <= 0.05 if errs else None)
    share = lambda r: 100 * r.profile.fn_ns.get("bw_sleep_wait", 0) / max(r.profile.total_ns, 1)
    truth = lambda r: 100 * r.truth["sleep_wall_s"] / r.truth["thread_wall_s"]
    c = {m.name: fmt(med(runs, m, share), "{:.1f}") + "/" + fmt(med(runs, m, truth), "{:.1f}")
         for m in walls + [GREAL]}
    rows.add(g, "sleep share of the profile / true %", c)
    c = cells(walls, lambda m: med(runs, m, lambda r: r.profile.total_ns / 1e9 /
                                   r.truth["thread_wall_s"]))
    rows.add(g, "profile wall / thread lifetime", c)
    states = {}
    for m in walls:
        st = lambda r, s: 100 * r.profile.state_ns.get(s, 0) / max(r.profile.total_ns, 1)
        states[m.name] = "/".join(fmt(med(runs, m, lambda r: st(r, s)), "{:.0f}")
                                  for s in ("running", "sleeping", "runnable", "brief wait"))
    rows.add(g, "  states % running/sleeping/runnable/brief", states)
    c = {m.name: fmt(med(runs, m, lambda r: r.truth["eintr"]), "{:.0f}") + "/" +
         fmt(med(runs, m, lambda r: r.truth["short_sleeps"]), "{:.0f}") for m in modes}
    worst = max((r[m].truth["eintr"] + r[m].truth["short_sleeps"]
                 for r in ok(runs, *walls) for m in walls), default=None)
    rows.add(g, "EINTR / early returns (median)", c, "profpre 0 in every run",
             None if worst is None else worst == 0)
    c = cells(walls, lambda m: med(runs, m, lambda r: r.stats.get("collector_cpu_ms", 0) /
                                   r.wall_s), "{:.2f}")
    rows.add(g, "collector CPU ms per wall s", c)


def rss_between(run, start, end):
    """Median VmRSS of the samples in [start, end) s since the start."""
    return median([p[1] for p in run.rss_series if start <= p[0] < end])


def rss_growth(run, half=False):
    """Median VmRSS over the last second of the run minus the median over
    [2, 3) s (after the first windows: the first 1 s window ends at 1 s and
    its profile, the symbolizer's first load, takes a few hundred ms on a
    loaded machine), or, with `half`, over the second after the middle of the
    run."""
    if not run.rss_series:
        return None
    end = run.rss_series[-1][0]
    start = end / 2 if half else 2.0
    a, b = rss_between(run, start, start + 1.0), rss_between(run, end - 1.0, end + 1.0)
    return None if a is None or b is None else b - a


def writer_ms_at(run, t):
    """The writer thread's CPU in ms at the last sample before `t` s."""
    before = [p[2] for p in run.rss_series if p[0] < t]
    return before[-1] if before else 0.0


def steady_window_ms(run, interval):
    """Writer CPU per window over the second half of the run."""
    end = run.rss_series[-1][0]
    mid = end / 2
    windows = int(end / interval) - int(mid / interval)
    return (run.rss_series[-1][2] - writer_ms_at(run, mid)) / windows if windows > 0 else None


def interval_rows(rows, runs):
    g = "interval"
    modes = MODES["interval"]
    profilers = modes[1:]
    cpu_row(rows, g, runs, modes)
    acc = {}
    for m in profilers:
        acc[m.name] = med(runs, m, lambda r: r.profile.total_ns / 1e9 / (
            r.program_cpu_s if m.kind == "profpre" else r.truth["rusage_cpu_s"]))
    mine = [acc[m.name] for m in (EXIT, INT1, INT02) if acc[m.name] is not None]
    rows.add(g, "profile CPU (all windows) / threads' CPU", cells(profilers, lambda m: acc[m.name]),
             "profpre within 3%", max(abs(a - 1) for a in mine) <= 0.03 if mine else None)
    rows.add(g, "windows (profile files)", cells([EXIT, INT1, INT02], lambda m: med(
        runs, m, lambda r: r.windows or 1), "{:.0f}"))
    growth = {m: med(runs, m, rss_growth) for m in modes}
    ints = [growth[m] for m in (INT1, INT02) if growth[m] is not None]
    rows.add(g, "VmRSS KiB growth, [2,3) s -> last 1 s", cells(modes, lambda m: growth[m], "{:.0f}"),
             "interval < 1024 KiB", max(ints) < 1024 if ints else None)
    rows.add(g, "  growth over the second half", cells(modes, lambda m: med(
        runs, m, lambda r: rss_growth(r, half=True)), "{:.0f}"))
    peak = cells(profilers, lambda m: med(runs, m, lambda r, n: max(p[1] for p in r.rss_series) -
                                          max(p[1] for p in n.rss_series), NONE), "{:.0f}")
    rows.add(g, "  peak VmRSS during the run vs none, KiB", peak)
    seconds = {INT1: 1.0, INT02: 0.2}
    rows.add(g, "writer CPU ms: all / per window / 2nd half", {m.name: fmt(med(
        runs, m, lambda r: 1000 * r.truth["writer_cpu_s"]), "{:.0f}") + " / " + fmt(med(
            runs, m, lambda r: 1000 * r.truth["writer_cpu_s"] / max(r.windows - 1, 1)),
            "{:.1f}") + " / " + fmt(med(runs, m, lambda r: steady_window_ms(r, seconds[m])),
                                    "{:.1f}") for m in (INT1, INT02)})
    rows.add(g, "  (CPU - exit's CPU) / windows, ms", cells([INT1, INT02], lambda m: med(
        runs, m, lambda r, e: 1000 * (r.cpu_s - e.cpu_s) / r.windows, EXIT), "{:.1f}"))
    rows.add(g, "collector CPU ms / exit_build_ms", {m.name: fmt(med(
        runs, m, lambda r: r.stats.get("collector_cpu_ms")), "{:.0f}") + " / " + fmt(med(
            runs, m, lambda r: r.stats.get("exit_build_ms")), "{:.0f}")
        for m in (EXIT, INT1, INT02)})
    rows.add(g, "profile KiB (all files)", cells(profilers, lambda m: med(
        runs, m, lambda r: r.profile_bytes / 1024), "{:.1f}"))
    eintr = max((r[m].truth.get("eintr_sleep", 0) + r[m].truth.get("eintr_read", 0) +
                 r[m].truth.get("short_sleeps", 0) for r in runs for m in modes
                 if m in r and not r[m].error), default=None)
    rows.add(g, "EINTR + early returns, worst run", {"none": fmt(eintr, "{:.0f}")}, "0",
             None if eintr is None else eintr == 0)


def dump_rows(rows, runs, dumps_mode):
    g = "dump"
    modes = MODES["dump"] + [dumps_mode]
    cpu_row(rows, g, runs, modes)
    sent = med(runs, dumps_mode, lambda r: r.sent)
    written = med(runs, dumps_mode, lambda r: len(r.dump_cpu_s))
    rows.add(g, "dumps written / SIGUSR2 sent", {dumps_mode.name: fmt(written, "{:.0f}") + " / " +
                                                 fmt(sent, "{:.0f}")},
             "all", None if sent is None else written == sent)

    def growing(r):
        cpu = r.dump_cpu_s + [r.profile.total_ns / 1e9]
        return all(a <= b + 1e-9 for a, b in zip(cpu, cpu[1:]))
    done = [r[dumps_mode] for r in ok(runs, dumps_mode)]
    rows.add(g, "each dump's CPU <= the next's <= at exit", {dumps_mode.name: (
        "yes" if done and all(growing(r) for r in done) else "no")}, "yes",
        bool(done) and all(growing(r) for r in done))
    direct = lambda r: r.truth["writer_cpu_s"] + r.truth["collector_cpu_s"]
    rows.add(g, "CPU ms per dump: writer + collector", {dumps_mode.name: fmt(med(
        runs, dumps_mode, lambda r, a: 1000 * (direct(r) - direct(a)) / r.sent, ARMED), "{:.1f}")})
    first = lambda r: writer_ms_at(r, r.sent_at[1])
    rows.add(g, "  writer CPU ms: first dump / each later one", {dumps_mode.name: fmt(med(
        runs, dumps_mode, first), "{:.1f}") + " / " + fmt(med(runs, dumps_mode, lambda r: (
            1000 * r.truth["writer_cpu_s"] - first(r)) / (r.sent - 1)), "{:.1f}")})
    rows.add(g, "  (CPU - armed's CPU) / dumps, ms", {dumps_mode.name: fmt(med(
        runs, dumps_mode, lambda r, a: 1000 * (r.cpu_s - a.cpu_s) / r.sent, ARMED), "{:.1f}")})
    same = [r[m].lines == r[NONE].lines and r[m].status == r[NONE].status == 0
            for r in ok(runs, NONE) for m in modes if m in r and not r[m].error]
    failed = sum(1 for r in runs for m in modes if m in r and r[m].error)
    rows.add(g, "stdout and exit status as none's",
             {NONE.name: f"{sum(same)}/{len(same) + failed} runs"}, "all",
             bool(same) and all(same) and not failed)
    for what in ("eintr_sleep", "eintr_read", "short_sleeps"):
        c = cells(modes, lambda m: med(runs, m, lambda r: r.truth[what]), "{:.0f}")
        label = {"eintr_sleep": "EINTR in nanosleep (main thread)",
                 "eintr_read": "EINTR in read (reader thread)",
                 "short_sleeps": "nanosleeps cut short"}[what]
        if what == "eintr_sleep":
            # The kernel hands a process-directed signal to the main thread
            # when it does not block it; a handled signal ends its nanosleep
            # with EINTR whatever the handler does (README, Limitations).
            # Armed but never signalled, nothing may change.
            armed = max((r[ARMED].truth[what] for r in ok(runs, ARMED)), default=None)
            over = max((r[dumps_mode].truth[what] - r[dumps_mode].sent
                        for r in ok(runs, dumps_mode)), default=None)
            verdict = None if armed is None or over is None else armed == 0 and over <= 0
            rows.add(g, label, c, "armed 0; <= 1 per signal", verdict)
            continue
        worst = max((r[m].truth[what] for r in runs for m in modes[1:]
                     if m in r and not r[m].error), default=None)
        rows.add(g, label, c, "0 in every run", None if worst is None else worst == 0)


# ------------------------------------------------------------------ table


LEGEND = """\
Legend (details in scripts/bench/README.md, "Modes: wall, interval, dump"). Medians over rounds;
each run is compared with the runs of its own round. profpre runs at 100 Hz unless "@1k".
  CPU vs none     wait4 CPU of the whole run / none's (none: its spread across rounds).
  collector       CPU of profpre's collector thread (PROF_STATS collector_cpu_ms), which does
                  the wall ticks; per idle thread = (this N - N=0) / N, per tick = / ticks / threads.
  lifetimes       the sum of every thread's lifetime as the workload measures it.
  threads' CPU    the process's CPU at the workload's last instruction less profpre's collector
                  and writer threads; gperftools: the process's.
  VmRSS growth    median VmRSS (the workload samples it every 100 ms) over its last second
                  minus the median over [2, 3) s: growth from the first windows to the last.
  per window      writer thread's CPU / windows it wrote; the wait4 difference for the record.
  per dump        (writer + collector CPU) with dumps - the same armed without, / dumps sent."""


# ------------------------------------------------------------------ driver


def run_section(section, key, argv, modes, k, dump_times=None):
    runs = {m: run_once(section, key, argv, m, dump_times) for m in bench.rotated(modes, k)}
    errors = [f"{m.name}: {r.error}" for m, r in runs.items() if r.error]
    bench.progress(f"modes round {k + 1}: {section} {key}" +
             ("  ERRORS " + "; ".join(errors) if errors else ""))
    return runs


def check_setup(sections):
    binaries = {"idle": "bw_idle", "sleep": "bw_sleep", "interval": "bw_service",
                "dump": "bw_service"}
    bench.require("modes.py", [PROFPRE_LIB], [binaries[s] for s in sections])
    if shutil.which("go") is None:
        sys.exit("modes.py: `go` not found: needed to read the profiles (apt-get install golang-go)")


def benchmark(rounds=3, sections=SECTIONS, profpre=None, pin=True, idle_threads=(0, 100, 1000),
              idle_cpu=3.0, interval_cpu=3.0, dump_cpu=2.5, dumps=10, dump_path=None):
    """Runs the sections; returns the table's text. `profpre` is copied first
    unless pin is False (run.py passes its own pinned copy)."""
    global PROFPRE_LIB
    profpre = profpre or bench.PROFPRE_LIB
    if pin:
        # A private copy: the build directory may be rebuilt meanwhile.
        bench.pin_libraries(profpre)
        PROFPRE_LIB = bench.PROFPRE_LIB
    else:
        PROFPRE_LIB = profpre
    check_setup(sections)
    started, load = time.monotonic(), os.getloadavg()[0]
    dumps_mode = Mode(f"{dumps} dumps", "profpre", ARMED.env, dumps)
    # SIGUSR2 from 0.3 s after start, evenly spread over the first 80% of the run.
    span = 0.8 * dump_cpu * 4 / max(os.cpu_count() or 1, 1)
    dump_times = [0.3 + i * (span - 0.3) / max(dumps - 1, 1) for i in range(dumps)]
    idle = {n: [] for n in idle_threads}
    sleeps, intervals, dump_runs = [], [], []
    for k in range(rounds):
        if "idle" in sections:
            for n in idle_threads:
                argv = [os.path.join(BENCH, "bw_idle"), str(idle_cpu), str(n)]
                idle[n].append(run_section("idle", f"N={n}", argv, MODES["idle"], k))
        if "sleep" in sections:
            sleeps.append(run_section("sleep", "60x(20+20 ms)", [
                os.path.join(BENCH, "bw_sleep"), "60", "20"], MODES["sleep"], k))
        if "interval" in sections:
            intervals.append(run_section("interval", f"{interval_cpu}s x 4", [
                os.path.join(BENCH, "bw_service"), str(interval_cpu), "4"], MODES["interval"], k))
        if "dump" in sections:
            dump_runs.append(run_section("dump", f"{dump_cpu}s x 4", [
                os.path.join(BENCH, "bw_service"), str(dump_cpu), "4"],
                MODES["dump"] + [dumps_mode], k, dump_times))
    header = (f"profpre modes benchmark: {rounds} rounds in {time.monotonic() - started:.0f} s, "
              f"{os.cpu_count()} CPUs, load {load:.1f} at start, {os.getloadavg()[0]:.1f} at end, "
              f"{time.strftime('%Y-%m-%d %H:%M')}")
    parts = [header]

    def table(title, modes, fill, *args):
        rows = bench.Rows()
        fill(rows, *args)
        parts.append(bench.render(rows, title, [m.name for m in modes], "group"))

    if "idle" in sections:
        table(f"wall mode, idle threads (bw_idle: {idle_cpu} s CPU + N idle threads on a "
              "condition variable)", MODES["idle"], idle_rows, idle)
    if "sleep" in sections:
        table("wall mode, accuracy (bw_sleep: 60 x (20 ms CPU + 20 ms nanosleep))",
              MODES["sleep"], sleep_rows, sleeps)
    if "interval" in sections:
        table(f"interval mode (bw_service: 4 threads x {interval_cpu} s CPU)",
              MODES["interval"], interval_rows, intervals)
    if "dump" in sections:
        table(f"dumps on SIGUSR2 (bw_service: 4 threads x {dump_cpu} s CPU, {dumps} signals)",
              MODES["dump"] + [dumps_mode], dump_rows, dump_runs, dumps_mode)
    if dump_path:
        groups = list(idle.values()) + [sleeps, intervals, dump_runs]
        with open(dump_path, "w") as f:
            for rounds_of_group in groups:
                for k, by_mode in enumerate(rounds_of_group):
                    for mode, r in by_mode.items():
                        record = dataclasses.asdict(r)
                        record.update(round=k, mode=mode.name)
                        f.write(json.dumps(record) + "\n")
    return "\n\n".join(parts) + "\n\n" + LEGEND


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SECTIONS),
                        help="comma-separated subset of: " + ", ".join(SECTIONS))
    parser.add_argument("--dump", help="also write every run's figures, one JSON a line")
    parser.add_argument("--profpre", default=bench.PROFPRE_LIB,
                        help="the profpre library to measure (default build/libprofpre.so)")
    parser.add_argument("--idle-threads", type=lambda s: [int(x) for x in s.split(",")],
                        default=[0, 100, 1000], help="idle thread counts (default 0,100,1000)")
    parser.add_argument("--dumps", type=int, default=10, help="SIGUSR2 per dump run (default 10)")
    args = parser.parse_args()
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error("unknown section " + ", ".join(unknown))
    text = benchmark(args.rounds, args.only, args.profpre, idle_threads=args.idle_threads,
                     dumps=args.dumps, dump_path=args.dump)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
