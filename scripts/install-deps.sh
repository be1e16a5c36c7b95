#!/usr/bin/env bash
# Installs what profpre needs to build, test and benchmark on Debian 12.
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail

packages=(
  g++ pkg-config meson ninja-build binutils python3
  libunwind-dev libdw-dev libelf-dev zlib1g-dev catch2
  golang-go                 # go tool pprof: the independent reader in the tests
  libgoogle-perftools-dev   # gperftools' libprofiler.so, for side-by-side benchmarks
  chromium                  # headless browser: the e2e-cli test renders flame graphs in it
  make                      # the e2e-cli test profiles a `make -j2` build
  gcc sqlite3 xz-utils      # programs the e2e-fidelity test runs with and without us
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
