// What every subcommand shares: exit statuses, a small option parser and the
// shape of error messages ("profpre: <command>: <what>").
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace profpre::cli {

// Exit statuses scripts can rely on. `record` otherwise returns its
// command's own status, or dies by its signal.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;       // a profile is unreadable, an output unwritable
constexpr int kExitUsage = 2;         // bad options or arguments
constexpr int kExitOwnFailure = 125;  // record: profpre itself failed before running CMD
constexpr int kExitCannotRun = 126;   // record: CMD was found but could not be executed
constexpr int kExitNotFound = 127;    // record: CMD was not found

struct OptionDef {
  std::string_view short_name;  // "-o", or empty
  std::string_view long_name;   // "--output"; the key in ParsedArgs::options
  bool takes_value = false;
};

struct ParsedArgs {
  std::vector<std::pair<std::string, std::string>> options;  // long name, value ("" for flags)
  std::vector<std::string> positional;
  bool help = false;

  // The last value given for `long_name`, or nullptr.
  const std::string* find(std::string_view long_name) const;
};

// Parses args (the subcommand's arguments, without its name). Accepts
// "-o V", "-oV", "--output V", "--output=V", "-h"/"--help" and "--", after
// which everything is positional. With stop_at_positional (record), the
// first positional argument ends the options: it and all that follow are the
// command to run. False with a one-line reason on an unknown option or a
// missing value.
bool parse_args(std::span<const std::string> args, std::span<const OptionDef> defs,
                bool stop_at_positional, ParsedArgs* out, std::string* error);

// Parses a whole decimal number in [min, max].
bool parse_int(std::string_view text, long min, long max, long* out);

// Prints "profpre: <command>: <message>" on stderr.
void print_error(std::string_view command, std::string_view message);

// Prints the error and a hint to --help; returns kExitUsage.
int usage_error(std::string_view command, std::string_view message);

}  // namespace profpre::cli
