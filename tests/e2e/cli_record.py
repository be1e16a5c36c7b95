"""Tests of `profpre record`: a whole `make -j2` tree, exit statuses, death
by signal, signal forwarding, the environment the command gets, errors."""

import os
import pty
import re
import select
import signal
import subprocess
import time

from cli_support import (PROFPRE, hot_fixture, process_name, profpre, raw_profile,
                         recorded_make, session_dir, summary_line)
from pprof_helpers import child_env, expect, fixture, numbers, read_profile

_NAME_RE = re.compile(r"^prof\.(\d+)(?:\.(\d+))?\.pb\.gz$")


def test_record_make_writes_one_profile_per_process():
    project, out, run, sources = recorded_make()
    count, where, seconds = summary_line(run)
    files = sorted(os.listdir(out))
    print(f"  {count} profiles in {where}, {seconds} s CPU; files: {len(files)}")
    expect(where == "out/", f"expected the summary to say out/, saw {where!r}")
    expect(count == len(files), f"expected the summary to count the {len(files)} files, "
           f"saw {count}")
    check = subprocess.run(["./prog"], cwd=project, capture_output=True, text=True)
    expect(check.returncode == 0 and check.stdout.startswith("sum="),
           f"expected the built program to run, saw {check.returncode} {check.stdout!r}")

    names, pids, total_ns = {}, set(), 0
    for name in files:
        m = _NAME_RE.match(name)
        expect(m is not None, f"expected files named prof.<pid>[.<n>].pb.gz, saw {name}")
        raw = raw_profile(os.path.join(out, name))  # read and checked by pprof
        expect(raw.profile.sample_types == ["samples/count", "cpu/nanoseconds"],
               f"{name}: expected our sample types, saw {raw.profile.sample_types}")
        pid = raw.comment("pid")
        expect(pid == m.group(1), f"{name}: expected the pid= comment to be {m.group(1)}, "
               f"saw {pid}")
        expect((pid, m.group(2)) not in pids, f"two profiles for process {pid} image {m.group(2)}")
        pids.add((pid, m.group(2)))
        exe = process_name(raw)
        names[exe] = names.get(exe, 0) + 1
        total_ns += raw.profile.total_cpu_ns()
    print(f"  processes by name: {dict(sorted(names.items()))}")

    def count_of(pattern):
        return sum(n for exe, n in names.items() if re.fullmatch(pattern, exe))

    # One compiler driver per .c file and one for the link; a cc1 and an as
    # per .c file; collect2 and ld for the link; make itself.
    expected = {"make": (r"make", 1),
                "gcc driver": (r"(x86_64-linux-gnu-)?gcc(-\d+)?", sources + 1),
                "cc1": (r"cc1", sources),
                "as": (r"(x86_64-linux-gnu-)?as", sources),
                "collect2": (r"collect2", 1),
                "ld": (r"(x86_64-linux-gnu-)?ld(\.bfd|\.gold)?", 1)}
    for what, (pattern, least) in expected.items():
        expect(count_of(pattern) >= least, f"expected at least {least} {what} profiles, saw "
               f"{count_of(pattern)} among {names}")
    expect(count_of(r"cc1") == sources, f"expected exactly {sources} cc1 profiles (one per "
           f"compiler run), saw {count_of('cc1')}")
    expect(len(files) >= 3 * sources + 4, f"expected at least {3 * sources + 4} profiles, saw "
           f"{len(files)}")
    expect(abs(total_ns / 1e9 - seconds) <= 0.006, f"expected the summary's {seconds} s to be "
           f"the profiles' total, {total_ns / 1e9:.3f} s by pprof")


def test_record_returns_the_exit_status():
    out = os.path.join(session_dir(), "exit7")
    r = profpre("record", "-o", out + "/", "--", "sh", "-c", "exit 7")
    expect(r.status == 7, f"expected status 7, saw:\n{r.describe()}")
    count, _, _ = summary_line(r)
    expect(count == len(os.listdir(out)) >= 1, f"expected the profile of sh, saw {count} "
           f"and {os.listdir(out)}")
    # A second run into the same directory counts its own profiles only.
    again = profpre("record", "-o", out + "/", "--", "sh", "-c", "exit 0")
    expect(again.status == 0 and summary_line(again)[0] == count and
           f"also holds {count} older profile" in again.stderr,
           f"expected {count} new profiles and a note about {count} older ones, saw:\n"
           f"{again.describe()}")


def test_record_dies_by_the_commands_signal():
    for sig in (signal.SIGTERM, signal.SIGKILL):
        out = os.path.join(session_dir(), f"die-{sig.name}")
        r = profpre("record", "-o", out + "/", "--", "sh", "-c", f"kill -{sig.name[3:]} $$")
        expect(r.status == -sig, f"expected record to die by {sig.name}, saw:\n{r.describe()}")
        summary_line(r)  # the summary comes before the death


def _start_spin(out, *mode):
    p = subprocess.Popen([PROFPRE, "record", "-o", out + "/", "--", hot_fixture(), "spin", *mode],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=child_env(), start_new_session=True)  # signals reach record only
    line = p.stdout.readline()
    expect(line == "ready\n", f"expected the fixture to say ready, saw {line!r}")
    time.sleep(0.3)  # some CPU to sample
    return p


def test_record_forwards_signals_to_the_command():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        out = os.path.join(session_dir(), f"forward-{sig.name}")
        p = _start_spin(out, "handle")
        os.kill(p.pid, sig)
        stdout, stderr = p.communicate(timeout=60)
        expect(p.returncode == 3 and f"caught {int(sig)} times 1" in stdout,
               f"expected the command to catch {sig.name} sent to record once and exit 3, saw "
               f"status {p.returncode}, stdout {stdout!r}, stderr:\n{stderr}")
        files = os.listdir(out)
        expect(len(files) == 1, f"expected the command's profile, saw {files}")
        profile = read_profile(os.path.join(out, files[0]), hot_fixture())
        expect(profile.with_function("hot_spin"), f"expected samples in hot_spin after {sig.name}")


def test_record_passes_ctrl_c_from_a_terminal_once():
    """The terminal sends SIGINT to the whole foreground process group, the
    command included, and record does not send a second copy. (The kernel
    merges a second SIGINT that arrives while the first is pending, so this
    cannot always catch a duplicate; it does check that Ctrl-C reaches the
    command and that record then ends with the command's status.)"""
    out = os.path.join(session_dir(), "ctrl-c")
    pid, fd = pty.fork()
    if pid == 0:  # the child: record on a new terminal, as its foreground job
        try:
            os.execve(PROFPRE, [PROFPRE, "record", "-o", out + "/", "--", hot_fixture(), "spin",
                                "handle"], child_env())
        finally:
            os._exit(126)
    text = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: everyone exited
                break
            if not chunk:
                break
            text += chunk
        if not sent and b"ready" in text:
            time.sleep(0.3)
            os.write(fd, b"\x03")  # Ctrl-C
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    output = text.decode(errors="replace")
    expect(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3 and
           f"caught {int(signal.SIGINT)} times 1" in output,
           f"expected the command to catch one SIGINT and record to exit 3, saw status {status}, "
           f"terminal:\n{output}")


def test_record_dies_with_a_command_killed_by_a_forwarded_signal():
    out = os.path.join(session_dir(), "forward-kill")
    p = _start_spin(out)
    os.kill(p.pid, signal.SIGTERM)
    _, stderr = p.communicate(timeout=60)
    expect(p.returncode == -signal.SIGTERM, f"expected record to die by SIGTERM, saw "
           f"{p.returncode}:\n{stderr}")
    files = os.listdir(out)
    expect(len(files) == 1, f"expected the library to write the profile of the command killed "
           f"by SIGTERM, saw {files}; stderr:\n{stderr}")
    read_profile(os.path.join(out, files[0]), hot_fixture())


def test_record_sets_the_environment_and_keeps_ld_preload():
    other = "/lib/x86_64-linux-gnu/libm.so.6"
    out = os.path.join(session_dir(), "env")
    r = profpre("record", "-o", out + "/", "--hz", "250", "--wall", "--interval", "2.5", "--",
                "sh", "-c", 'echo "$LD_PRELOAD|$PROF_OUT|$PROF_HZ|$PROF_MODE|$PROF_INTERVAL"',
                env={"LD_PRELOAD": other, "PROF_MODE": "cpu", "PROF_INTERVAL": "7"})
    expect(r.status == 0, f"expected success, saw:\n{r.describe()}")
    preload, prof_out, hz, mode, interval = r.stdout.strip().split("|")
    expect(mode == "wall" and interval == "2.5",
           f"expected PROF_MODE=wall and PROF_INTERVAL=2.5, saw {mode!r} and {interval!r}")
    libs = preload.split(":")
    expect(len(libs) == 2 and libs[0].endswith("/libprofpre.so") and os.path.isabs(libs[0]) and
           libs[1] == other, f"expected LD_PRELOAD=<our library>:{other}, saw {preload!r}")
    expect(prof_out == os.path.realpath(out) + "/prof.%p.pb.gz" or
           prof_out == out + "/prof.%p.pb.gz", f"expected an absolute PROF_OUT in {out}, "
           f"saw {prof_out!r}")
    expect(hz == "250", f"expected PROF_HZ=250, saw {hz!r}")


def test_record_takes_a_pattern():
    d = os.path.join(session_dir(), "pattern")
    os.makedirs(d)
    r = profpre("record", "-o", "run-%p.pb.gz", "--", "sh", "-c", "sh -c true; true", cwd=d)
    expect(r.status == 0, f"expected success, saw:\n{r.describe()}")
    count, where, _ = summary_line(r)
    files = sorted(os.listdir(d))
    expect(where == "run-%p.pb.gz" and count == len(files) >= 2 and
           all(re.fullmatch(r"run-\d+(\.\d+)?\.pb\.gz", f) for f in files),
           f"expected run-<pid>.pb.gz files, counted, saw {files} and:\n{r.stderr}")


def test_record_cannot_run():
    r = profpre("record", "-o", os.path.join(session_dir(), "none") + "/", "--",
                "/nonexistent/command", "x")
    expect(r.status == 127 and "profpre: record: cannot run /nonexistent/command: No such file "
           "or directory" in r.stderr, f"expected status 127 and a clear error, saw:\n"
           f"{r.describe()}")
    not_executable = os.path.join(session_dir(), "data.txt")
    with open(not_executable, "w") as f:
        f.write("not a program\n")
    r = profpre("record", "-o", os.path.join(session_dir(), "none") + "/", "--", not_executable)
    expect(r.status == 126 and "Permission denied" in r.stderr,
           f"expected status 126, saw:\n{r.describe()}")


def test_record_usage_errors():
    cases = [([], "no command given"), (["--hz", "0", "true"], "--hz takes a whole number"),
             (["--bogus", "true"], "unknown option --bogus"), (["-o"], "option -o needs a value"),
             (["-o", "a%p/x.pb.gz", "true"], "%p may appear in the file name only"),
             (["--interval", "0.05", "true"], "--interval takes seconds from 0.1 to 86400"),
             (["--interval", "1.", "true"], "--interval takes seconds"),
             (["--interval", "1e3", "true"], "--interval takes seconds")]
    for args, message in cases:
        r = profpre("record", *args)
        expect(r.status == 2 and message in r.stderr and "profpre record --help" in r.stderr,
               f"expected status 2 and {message!r}, saw:\n{r.describe()}")
    r = profpre("record", "--help")
    expect(r.status == 0 and r.stdout.startswith("Usage: profpre record"),
           f"expected help, saw:\n{r.describe()}")


def test_record_wall_mode_in_windows():
    """--wall --interval 0.5: every process writes windows of wall time,
    which go tool pprof reads and which add up to the threads' lifetimes;
    record's summary says wall, and report adds the windows up."""
    out = os.path.join(session_dir(), "wall") + "/"
    r = profpre("record", "-o", out, "--wall", "--interval", "0.5", "--", fixture("wall"),
                "40", "25", "4")
    expect(r.status == 0 and r.stdout == "done\n", f"expected a normal run, saw:\n{r.describe()}")
    expect(re.search(r"^profpre: \d+ profiles in \S+, [\d.]+ s wall$", r.stderr, re.M),
           f"expected the summary in wall time, saw:\n{r.stderr}")
    windows = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"prof\.(\d+)\.w(\d{4,})\.pb\.gz", name)
        expect(m is not None, f"expected only prof.<pid>.w<n>.pb.gz files, saw {name}")
        windows.setdefault(int(m.group(1)), []).append(os.path.join(out, name))
    # The fixture's main process runs about 2 s: four windows or five; its
    # forked child (fx-child's) about 1 s.
    main_pid, main_windows = max(windows.items(), key=lambda kv: len(kv[1]))
    expect(len(main_windows) >= 4, f"expected 4 or more windows of 0.5 s, saw {main_windows}")
    # Each thread but the main one measures its own lifetime (the main
    # thread also waits in joins after its measure ends).
    truth = numbers(r.stderr)
    names = ("fx-poll", "fx-sleep", "fx-read", "fx-child", "fx-lock", "fx-steps", "fx-idle")
    lifetimes = sum(truth[f"{n}_wall_ns"] for n in names[:-1]) + truth["idle_wall_ns"]
    total = every_thread = 0
    for path in main_windows:
        profile = read_profile(path, fixture("wall"), need_samples=False, kind="wall")
        every_thread += profile.total_cpu_ns()
        total += sum(s.cpu_ns for s in profile.samples if s.labels.get("thread_name") in names)
    print(f"  {len(main_windows)} windows of pid {main_pid}: {total / 1e9:.3f} s of wall time "
          f"in the threads that timed themselves, which lived {lifetimes / 1e9:.3f} s")
    # Ours run from the thread's slot to its exit hook, theirs from inside
    # the start routine: equal to a few periods.
    expect(abs(total - lifetimes) <= 0.03 * lifetimes + 3 * len(names) * 10**7,
           f"expected the windows to add up to the threads' {lifetimes / 1e9:.3f} s, saw "
           f"{total / 1e9:.3f} s")
    rep = profpre("report", "--top", "5", *main_windows)
    m = re.search(r"^profpre: (\d+) profiles, ([\d.]+) s of wall/nanoseconds$", rep.stdout, re.M)
    expect(rep.status == 0 and m is not None and int(m.group(1)) == len(main_windows) and
           abs(float(m.group(2)) - every_thread / 1e9) < 0.01,
           f"expected report to add up the windows' {every_thread / 1e9:.2f} s of wall time, "
           f"saw:\n{rep.describe()}")


TESTS = [
    test_record_make_writes_one_profile_per_process,
    test_record_returns_the_exit_status,
    test_record_dies_by_the_commands_signal,
    test_record_forwards_signals_to_the_command,
    test_record_passes_ctrl_c_from_a_terminal_once,
    test_record_dies_with_a_command_killed_by_a_forwarded_signal,
    test_record_sets_the_environment_and_keeps_ld_preload,
    test_record_takes_a_pattern,
    test_record_wall_mode_in_windows,
    test_record_cannot_run,
    test_record_usage_errors,
]
