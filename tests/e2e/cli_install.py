"""Test of the installed command: `meson install --destdir` puts profpre and
libprofpre.so in place, and the installed command finds its library with no
environment at all."""

import os
import shutil
import subprocess

from cli_support import session_dir
from pprof_helpers import expect


def test_installed_command_finds_its_library():
    build = os.environ.get("PROFPRE_BUILD_DIR", "")
    meson = shutil.which("meson")
    expect(meson is not None and os.path.isdir(build), f"expected meson and the build directory "
           f"$PROFPRE_BUILD_DIR, saw {meson} and {build!r}")
    dest = os.path.join(session_dir(), "dest")
    p = subprocess.run([meson, "install", "-C", build, "--no-rebuild", "--quiet", "--destdir",
                        dest], capture_output=True, text=True, timeout=300)
    expect(p.returncode == 0, f"expected meson install to succeed, saw:\n{p.stdout}{p.stderr}")
    commands = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files
                if f == "profpre" and os.path.basename(d) == "bin"]
    libraries = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files
                 if f == "libprofpre.so"]
    expect(len(commands) == 1 and len(libraries) == 1, f"expected one profpre under a bin "
           f"directory and one libprofpre.so, saw {commands} and {libraries}")

    # Move the tree: the command must find the library relative to itself.
    moved = os.path.join(session_dir(), "moved")
    shutil.move(dest, moved)
    command = commands[0].replace(dest, moved, 1)
    library = os.path.realpath(libraries[0].replace(dest, moved, 1))
    out = os.path.join(session_dir(), "installed-out")
    p = subprocess.run([command, "record", "-o", out + "/", "--", "sh", "-c",
                        'echo "$LD_PRELOAD"'], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})
    expect(p.returncode == 0 and p.stdout.strip() == library,
           f"expected the installed command to preload {library}, saw status {p.returncode}, "
           f"stdout {p.stdout!r}, stderr:\n{p.stderr}")
    expect(len(os.listdir(out)) == 1 and "profpre: 1 profile in" in p.stderr,
           f"expected one profile from the installed library, saw {os.listdir(out)}:\n{p.stderr}")
    p = subprocess.run([command, "--help"], capture_output=True, text=True, env={})
    expect(p.returncode == 0 and "record" in p.stdout, f"expected --help, saw {p.stdout!r}")


TESTS = [test_installed_command_finds_its_library]
