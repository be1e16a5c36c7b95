// `profpre record`: runs a command with the library preloaded so that every
// process of its tree writes a profile, waits for it while passing on the
// signals that should reach it, reports what was written, and then ends the
// way the command ended: the same exit status, or death by the same signal.
#pragma once

#include <span>
#include <string>

namespace profpre {

// The subcommand; args exclude "record". Returns the exit status; when the
// command died by a signal, does not return but dies by that signal.
int run_record(std::span<const std::string> args);

}  // namespace profpre
