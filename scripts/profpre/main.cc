// The profpre command: dispatches to record, report, flame and merge.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "scripts/profpre/cli.h"
#include "scripts/profpre/flame.h"
#include "scripts/profpre/merge.h"
#include "scripts/profpre/record.h"
#include "scripts/profpre/report.h"

namespace {

constexpr const char* kHelp = R"(Usage: profpre COMMAND [OPTIONS] ...

A sampling CPU profiler for native Linux programs: runs a command with
libprofpre.so preloaded and reads the pprof profiles it leaves.

Commands:
  record [-o DIR/] [--hz N] [--wall] [--interval S] [--] CMD [ARGS...]
                    run CMD; every process of its tree writes a profile
  report [--top N] FILES_OR_DIRS...
                    flat and cumulative CPU per function and per process
  flame [-o flame.html] FILES_OR_DIRS...
                    an interactive flame graph in one self-contained file
  merge -o all.pb.gz FILES_OR_DIRS...
                    one pprof profile, samples labelled with their process

  profpre COMMAND --help   says more about each.

For CI:
  profpre record -o out/ -- make test
  profpre report out/
  profpre flame -o flame.html out/

Exit status: 2 on a usage error; see each command's --help for the rest.
)";

using Command = int (*)(std::span<const std::string>);

Command find_command(std::string_view name) {
  if (name == "record") return profpre::run_record;
  if (name == "report") return profpre::run_report;
  if (name == "flame") return profpre::run_flame;
  if (name == "merge") return profpre::run_merge;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kHelp, stderr);
    return profpre::cli::kExitUsage;
  }
  const std::string& name = args.front();
  if (name == "-h" || name == "--help" || name == "help") {
    std::fputs(kHelp, stdout);
    return profpre::cli::kExitOk;
  }
  if (name == "--version") {
    std::puts("profpre " PROFPRE_VERSION);
    return profpre::cli::kExitOk;
  }
  Command command = find_command(name);
  if (command == nullptr) {
    std::fprintf(stderr,
                 "profpre: unknown command '%s'; the commands are record, report, flame "
                 "and merge (see profpre --help)\n",
                 name.c_str());
    return profpre::cli::kExitUsage;
  }
  return command(std::span<const std::string>(args).subspan(1));
}
