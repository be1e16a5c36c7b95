// `profpre flame`: many profiles merged into one interactive flame graph.
#pragma once

#include <span>
#include <string>

namespace profpre {

// The subcommand; args exclude "flame". Returns the exit status.
int run_flame(std::span<const std::string> args);

}  // namespace profpre
