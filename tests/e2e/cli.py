#!/usr/bin/env python3
"""e2e-cli: the profpre command end to end. `record` on a make -j2 of a small
C project and on a ground-truth fixture, `report`, `flame` (in headless
chromium) and `merge` (read back by go tool pprof) on those profiles and on
profiles written by gperftools and by Go's runtime, broken files, usage
errors, and the command installed by `meson install`.

Needs go, gcc, make, chromium and gperftools' libprofiler (all installed by
scripts/install-deps.sh); a missing one fails the tests that use it with a
message saying so.
"""

import cli_flame
import cli_install
import cli_merge
import cli_record
import cli_report
from cli_support import cleanup
from pprof_helpers import run_tests

if __name__ == "__main__":
    try:
        run_tests(*cli_record.TESTS, *cli_report.TESTS, *cli_merge.TESTS, *cli_flame.TESTS,
                  *cli_install.TESTS)
    finally:
        cleanup()
