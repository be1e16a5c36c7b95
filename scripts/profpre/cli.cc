// The option parser and error printing shared by the subcommands.

#include "scripts/profpre/cli.h"

#include <charconv>
#include <cstdio>

namespace profpre::cli {
namespace {

const OptionDef* find_def(std::span<const OptionDef> defs, std::string_view name) {
  for (const OptionDef& def : defs) {
    if (name == def.short_name || name == def.long_name) return &def;
  }
  return nullptr;
}

// One argument that starts with '-'; may consume the next one as its value.
bool parse_option(std::span<const std::string> args, size_t* i, std::span<const OptionDef> defs,
                  ParsedArgs* out, std::string* error) {
  std::string_view arg = args[*i];
  std::string_view name = arg;
  std::string value;
  bool has_inline_value = false;
  if (arg.starts_with("--")) {
    size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_inline_value = true;
    }
  } else if (arg.size() > 2) {  // "-oVALUE"
    name = arg.substr(0, 2);
    value = arg.substr(2);
    has_inline_value = true;
  }

  if (name == "-h" || name == "--help") {
    out->help = true;
    return true;
  }
  const OptionDef* def = find_def(defs, name);
  if (def == nullptr) {
    *error = "unknown option " + std::string(arg);
    return false;
  }
  if (!def->takes_value) {
    if (has_inline_value) {
      *error = "option " + std::string(name) + " takes no value";
      return false;
    }
  } else if (!has_inline_value) {
    if (*i + 1 >= args.size()) {
      *error = "option " + std::string(name) + " needs a value";
      return false;
    }
    value = args[++*i];
  }
  out->options.emplace_back(std::string(def->long_name), value);
  return true;
}

}  // namespace

const std::string* ParsedArgs::find(std::string_view long_name) const {
  const std::string* found = nullptr;
  for (const auto& [name, value] : options) {
    if (name == long_name) found = &value;
  }
  return found;
}

bool parse_args(std::span<const std::string> args, std::span<const OptionDef> defs,
                bool stop_at_positional, ParsedArgs* out, std::string* error) {
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      if (!parse_option(args, &i, defs, out, error)) return false;
      continue;
    }
    if (stop_at_positional) break;
    out->positional.push_back(arg);
  }
  for (; i < args.size(); ++i) out->positional.push_back(args[i]);
  return true;
}

bool parse_int(std::string_view text, long min, long max, long* out) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

void print_error(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "profpre: %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
}

int usage_error(std::string_view command, std::string_view message) {
  print_error(command, message);
  std::fprintf(stderr, "Try 'profpre %.*s --help'.\n", static_cast<int>(command.size()),
               command.data());
  return kExitUsage;
}

}  // namespace profpre::cli
