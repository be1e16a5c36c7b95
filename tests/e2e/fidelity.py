"""Fidelity: real, unmodified Debian programs behave the same under the
profiler, and every process they start leaves a valid profile.

Each case runs twice, each time in a fresh directory (at the same path) holding
the same generated inputs: without the profiler, then with LD_PRELOAD=libprofpre.so
and PROF_OUT=<a directory of its own>/prof.pb.gz. Stdout, stderr, the exit
status and the files the program writes must be byte-identical; the profile
directory must hold only profiles, each readable by pprof, at least as many as
the processes the case is known to start, with the expected programs among
their exe= comments.

Programs: coreutils (sort with two threads, wc, sha256sum, ls -l), a bash
script (pipelines, subshells, a loop, $(...)), a writer killed by SIGPIPE,
python3 with a thread, xz -9
and xz -d, sqlite3, make -j2 building a small C project with gcc, env, awk,
tar | gzip | sha256sum, find, perl, and failing commands (grep, ls, diff).
"""

import lzma
import os
import random
import shutil
import tempfile

from pprof_helpers import LIB, expect, pprof, read_profile, run, run_tests

# The same locale and time zone for both runs.
ENV = {"LC_ALL": "C", "TZ": "UTC"}
PYTHON = "/usr/bin/python3"  # Debian's, not a shim that starts more processes
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
         "kappa", "lambda", "mu"]


def text_lines(seed, count, per_line=8):
    r = random.Random(seed)
    return "".join(" ".join(f"{r.choice(WORDS)}{r.randrange(1000)}" for _ in range(per_line)) +
                   "\n" for _ in range(count))


def write(directory, name, content, mtime=None):
    path = os.path.join(directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def exe_of(path):
    """The exe= comment of a profile (`go tool pprof -comments`)."""
    for line in pprof("-comments", path).splitlines():
        if line.startswith("exe="):
            return line[len("exe="):]
    return ""


def read_files(directory, names):
    contents = {}
    for name in names:
        path = os.path.join(directory, name)
        contents[name] = open(path, "rb").read() if os.path.exists(path) else None
    return contents


def first_difference(expected, seen):
    """Where two texts part: the line number and both lines."""
    a, b = expected.splitlines(), seen.splitlines()
    for n, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {n}: expected {x[:200]!r}, saw {y[:200]!r}"
    n = min(len(a), len(b)) + 1
    extra = (a[n - 1:] or b[n - 1:])[:3]
    return f"{len(a)} lines expected, {len(b)} seen; from line {n}: {[l[:200] for l in extra]}"


def differences(plain, prof, stdout):
    parts = []
    if prof.status != plain.status:
        parts.append(f"status {prof.status} (expected {plain.status})")
    if stdout != plain.stdout:
        parts.append(f"stdout differs: {first_difference(plain.stdout, stdout)}")
    if prof.stderr != plain.stderr:
        parts.append(f"stderr differs: {first_difference(plain.stderr, prof.stderr)}")
    return f"{'; '.join(parts)}\n(command: {' '.join(plain.argv)[:300]})"


def fidelity(name, argv, setup=None, min_profiles=1, exes=None, outputs=(), status=0,
             normalize=None):
    """Runs one case without and with the profiler and compares them.

    setup(dir) writes the inputs; `outputs` are files the program writes,
    compared byte for byte; `exes` maps a suffix of an exe= comment to the
    least number of profiles that must carry it; `normalize(stdout)` is
    applied to the profiled run's stdout before the comparison. Returns the
    plain Run."""
    results = []
    base = tempfile.mkdtemp(prefix="profpre-fidelity-")
    cwd = os.path.join(base, "work")  # the same path for both runs: $PWD is the same
    for profiled in (False, True):
        shutil.rmtree(cwd, ignore_errors=True)
        os.mkdir(cwd)
        with tempfile.TemporaryDirectory() as profdir:
            if setup:
                setup(cwd)
            before = set(os.listdir(cwd))
            env = dict(ENV)
            if profiled:
                env.update({"LD_PRELOAD": LIB, "PROF_OUT": os.path.join(profdir, "prof.pb.gz")})
            r = run(argv, env=env, cwd=cwd, timeout=120)
            files = read_files(cwd, outputs)
            created = sorted(set(os.listdir(cwd)) - before)
            profiles = sorted(os.listdir(profdir))
            checked = {}
            if profiled:
                for f in profiles:
                    expect(f.startswith("prof") and f.endswith(".pb.gz") and ".tmp." not in f,
                           f"{name}: expected only profiles in the profile directory, saw {f}")
                    path = os.path.join(profdir, f)
                    read_profile(path, need_samples=False)
                    checked[f] = exe_of(path)
            results.append((r, files, created, checked))
    shutil.rmtree(base, ignore_errors=True)
    (plain, plain_files, plain_created, _), (prof, prof_files, prof_created, exes_seen) = results

    expect(plain.status == status,
           f"{name}: fixture: expected status {status} without the profiler, saw:\n"
           f"{plain.describe()}")
    problems = []  # all of them, not just the first
    stdout = normalize(prof.stdout) if normalize else prof.stdout
    if (prof.status, stdout, prof.stderr) != (plain.status, plain.stdout, plain.stderr):
        problems.append(f"expected the same status, stdout and stderr as without the "
                        f"profiler, saw {differences(plain, prof, stdout)}")
    for f in outputs:
        if plain_files[f] is None or prof_files[f] != plain_files[f]:
            problems.append(f"expected {f} written identically with and without the profiler, "
                            f"saw {len(plain_files[f] or b'')} and {len(prof_files[f] or b'')} "
                            f"bytes")
    if prof_created != plain_created:
        problems.append(f"expected the same files created in the working directory, saw "
                        f"{prof_created} with the profiler and {plain_created} without")
    if len(exes_seen) < min_profiles:
        problems.append(f"expected at least {min_profiles} profiles (one per process), saw "
                        f"{len(exes_seen)}: {sorted(exes_seen.items())}")
    for suffix, least in (exes or {}).items():
        n = sum(1 for exe in exes_seen.values() if exe.endswith(suffix))
        if n < least:
            problems.append(f"expected at least {least} profiles of {suffix}, saw {n} among "
                            f"exe= {sorted(exes_seen.values())}")
    expect(not problems, f"{name}: " + f"\n{name}: ".join(problems))
    names = sorted({os.path.basename(e) for e in exes_seen.values()})
    print(f"  {name}: status {plain.status}, {len(plain.stdout)} + {len(plain.stderr)} bytes "
          f"of output identical, {len(exes_seen)} profiles ({', '.join(names)})")
    return plain


# ------------------------------------------------------------ cases


def test_coreutils_on_a_generated_file():
    def setup(d):
        write(d, "words.txt", text_lines(1, 60000))
    fidelity("sort --parallel=2", ["sort", "--parallel=2", "-S", "64M", "words.txt"], setup,
             exes={"/sort": 1})
    fidelity("wc", ["wc", "-l", "-w", "-c", "words.txt"], setup, exes={"/wc": 1})
    fidelity("sha256sum", ["sha256sum", "words.txt"], setup, exes={"/sha256sum": 1})


def test_ls_long_listing():
    def setup(d):
        for i in range(12):
            write(d, f"dir/file-{i:02}.txt", "x" * (i * 37), mtime=1600000000 + i * 86400)
        os.utime(os.path.join(d, "dir"), (1700000000, 1700000000))
    fidelity("ls -l", ["ls", "-l", "--time-style=long-iso", "dir"], setup, exes={"/ls": 1})


BASH_SCRIPT = r"""
set -e
total=0
for i in 1 2 3 4 5; do
  n=$(seq 1 $((i * 3000)) | awk '{ s += $1 } END { print s }')
  total=$((total + n))
  echo "round $i: $n"
done
echo "total=$total"
( cd sub && ls | sort -r | sed -n 1,3p )
top=$(tr -s ' ' '\n' < text.txt | sort | uniq -c | sort -rn | sed -n 1,5p)
echo "$top"
{ echo a; echo b; echo c; } | wc -l
count=0
while read -r line; do count=$((count + ${#line})); done < text.txt
echo "chars=$count"
"""


def test_bash_script():
    def setup(d):
        write(d, "script.sh", BASH_SCRIPT)
        write(d, "text.txt", text_lines(2, 400))
        for i in range(6):
            write(d, f"sub/f{i}", "")
    # Started by the script: 5 x (seq, awk), ls, sort, sed, tr, sort, uniq,
    # sort, sed, wc: 19 programs, plus bash itself. (sed reads all of its
    # input: no writer in these pipelines dies of SIGPIPE.)
    fidelity("bash script", ["bash", "script.sh"], setup, min_profiles=20,
             exes={"/bash": 1, "awk": 5, "/seq": 5, "/sort": 3, "/sed": 2, "/uniq": 1})


def test_a_writer_killed_by_sigpipe():
    # head exits after one line; seq, still writing, dies of SIGPIPE.
    fidelity("seq | head", ["bash", "-c", "seq 1 10000000 | head -n 1"], min_profiles=3,
             exes={"/bash": 1, "/seq": 1, "/head": 1})


PYTHON_PROGRAM = r"""
import hashlib, json, threading
def sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytes(len(flags[i * i::i]))
    return [i for i, f in enumerate(flags) if f]
result = {}
def worker():
    result["sum_squares"] = sum(i * i for i in range(300000))
t = threading.Thread(target=worker, name="py-worker")
t.start()
primes = sieve(1000000)
t.join()
digest = hashlib.sha256(json.dumps(primes[-1000:]).encode()).hexdigest()
print(len(primes), primes[-1], result["sum_squares"], digest)
"""


def test_python3():
    fidelity("python3 -c", [PYTHON, "-c", PYTHON_PROGRAM], exes={"/python3.11": 1})


def xz_input():
    return text_lines(3, 8000).encode()


def test_xz_compress_and_decompress():
    data = xz_input()
    fidelity("xz -9", ["xz", "-9", "-k", "data.bin"], lambda d: write(d, "data.bin", data),
             outputs=("data.bin.xz",), exes={"/xz": 1})
    packed = lzma.compress(data, preset=9)
    plain = fidelity("xz -d", ["xz", "-d", "data.bin.xz"],
                     lambda d: write(d, "data.bin.xz", packed), outputs=("data.bin",),
                     exes={"/xz": 1})
    expect(plain.status == 0, "xz -d: expected status 0")


SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, val REAL, name TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO t(id, grp, val, name) SELECT i, i % 17, (i * 7919) % 1000 / 10.0, 'n' || (i % 101)
FROM n;
CREATE INDEX t_grp ON t(grp);
SELECT grp, count(*), round(sum(val), 1), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT count(DISTINCT name), round(avg(val), 4) FROM t WHERE val > 50;
"""


def test_sqlite3():
    fidelity("sqlite3", ["sqlite3", ":memory:", ".read script.sql"],
             lambda d: write(d, "script.sql", SQL), exes={"/sqlite3": 1})


MAKEFILE = """CFLAGS = -O2
OBJS = m1.o m2.o m3.o m4.o main.o
prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)
%.o: %.c proj.h
\t$(CC) $(CFLAGS) -c $< -o $@
"""


def make_project(d):
    write(d, "Makefile", MAKEFILE)
    write(d, "proj.h", "".join(f"int f{i}(int);\n" for i in range(1, 5)))
    for i in range(1, 5):
        write(d, f"m{i}.c", f'#include "proj.h"\nint f{i}(int x) {{ int s = 0; '
              f"for (int i = 0; i < x; i++) s += i * {i}; return s; }}\n")
    write(d, "main.c", '#include <stdio.h>\n#include "proj.h"\nint main(void) { '
          'printf("%d\\n", f1(10) + f2(20) + f3(30) + f4(40)); return 0; }\n')


def test_make_j2_builds_a_c_project():
    sources = 5
    # make, then per source gcc, cc1 and as, then gcc, collect2 and ld.
    fidelity("make -j2", ["make", "-j2", "CC=gcc"], make_project,
             min_profiles=1 + 3 * sources + 3, outputs=("prog", "main.o"),
             exes={"/make": 1, "/cc1": sources, "-as": sources, "/collect2": 1})


def test_env_shows_nothing_of_ours():
    def ours_removed(stdout):
        return "".join(l for l in stdout.splitlines(keepends=True)
                       if not l.startswith(("LD_PRELOAD=", "PROF_OUT=")))
    fidelity("env", ["env"], normalize=ours_removed, exes={"/env": 1})
    # A shell that burns CPU (so it writes a profile) then execs env: env's
    # environment carries our exec sequence entry, which must not show.
    script = "i=0; while [ $i -lt 60000 ]; do i=$((i + 1)); done; exec env"
    # bash's own profile (exes) shows that it wrote one before the exec, so
    # that env was started with the entry.
    fidelity("bash ... exec env", ["bash", "-c", script], normalize=ours_removed,
             min_profiles=2, exes={"/bash": 1, "/env": 1})


def test_text_tools():
    def setup(d):
        write(d, "text.txt", text_lines(4, 3000))
        for i in range(8):
            write(d, f"tree/d{i % 3}/f{i}.txt", text_lines(10 + i, 20), mtime=1500000000 + i)
    awk = ('{ for (i = 1; i <= NF; i++) { n[substr($i, 1, 3)]++; len += length($i) } } '
           'END { for (k in n) printf "%s %d\\n", k, n[k] | "sort"; close("sort"); '
           'print "len", len }')
    fidelity("awk", ["awk", awk, "text.txt"], setup, min_profiles=2,
             exes={"awk": 1, "/sort": 1})  # Debian's awk is mawk
    fidelity("sed", ["sed", "-E", "s/([a-z]+)([0-9]+)/\\2-\\1/g; /alpha/d", "text.txt"], setup,
             exes={"/sed": 1})
    fidelity("find", ["find", "tree", "-type", "f", "-printf", "%p %s %TY-%Tm-%Td\\n"], setup,
             exes={"/find": 1})
    fidelity("tar | gzip | sha256sum",
             ["bash", "-c", "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner "
              "-cf - tree | gzip -9 -n | sha256sum"], setup, min_profiles=4,
             exes={"/tar": 1, "/gzip": 1, "/sha256sum": 1})
    fidelity("perl", ["perl", "-e", 'my %c; while (<>) { $c{length $_}++ } '
              'print map { "$_ $c{$_}\\n" } sort { $a <=> $b } keys %c', "text.txt"], setup,
             exes={"/perl": 1})


def test_failing_commands_keep_their_status():
    def setup(d):
        write(d, "text.txt", text_lines(5, 500), mtime=1400000000)
        write(d, "other.txt", text_lines(6, 500), mtime=1400000100)
    fidelity("grep (no match)", ["grep", "-c", "omega", "text.txt"], setup, status=1,
             exes={"/grep": 1})
    fidelity("ls /nonexistent", ["ls", "/nonexistent"], status=2, exes={"/ls": 1})
    fidelity("diff -u", ["diff", "-u", "text.txt", "other.txt"], setup, status=1,
             exes={"/diff": 1})
    fidelity("python3 exit 3", [PYTHON, "-c", "import sys; print('out'); "
              "print('err', file=sys.stderr); sys.exit(3)"], status=3)


if __name__ == "__main__":
    run_tests(test_coreutils_on_a_generated_file,
              test_ls_long_listing,
              test_bash_script,
              test_a_writer_killed_by_sigpipe,
              test_python3,
              test_xz_compress_and_decompress,
              test_sqlite3,
              test_make_j2_builds_a_c_project,
              test_env_shows_nothing_of_ours,
              test_text_tools,
              test_failing_commands_keep_their_status)
