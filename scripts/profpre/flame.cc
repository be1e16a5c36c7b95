// The flame subcommand: options, loading, writing the file.

#include "scripts/profpre/flame.h"

#include <cstdio>
#include <vector>

#include "encoder/output_file.h"
#include "scripts/profpre/cli.h"
#include "scripts/profpre/flame_render.h"
#include "scripts/profpre/flame_tree.h"
#include "scripts/profpre/format.h"
#include "scripts/profpre/profile_set.h"

namespace profpre {
namespace {

constexpr const char* kDefaultOutput = "flame.html";

constexpr const char* kHelp = R"(Usage: profpre flame [-o OUTPUT] [--title TEXT] FILES_OR_DIRS...

Merges profiles (files, or directories of *.pb.gz / *.pb files, such as the
one `profpre record` writes) into one flame graph and writes it as a single
self-contained file that any browser opens offline: an HTML page, or a
standalone SVG document when OUTPUT ends in .svg.

Each process name gets one tower above the root frame (all cc1 processes of
a build share one). A frame's width is its CPU time; its colour stands for
its library (see the legend). In the page: hover for the time and share,
click a frame to zoom into it, click the root or "Reset zoom" (or press
Escape) to zoom out, and type a regular expression in the search box to
colour the frames it matches and see their share of the total. The bottom
line shows the hottest path: the widest frame at each level. A link can
open the page zoomed and searched: flame.html#zoom=main&search=malloc

Options:
  -o, --output OUTPUT  where to write (default flame.html)
  --title TEXT         the heading of the page
  -h, --help           this text

Exit status: 0 on success; 1 when a profile cannot be read or is not valid
(the error names the file; nothing is written) or OUTPUT cannot be written;
2 on a usage error.
)";

constexpr cli::OptionDef kOptions[] = {
    {"-o", "--output", true},
    {"", "--title", true},
};

std::string default_title(const std::vector<LoadedProfile>& profiles, int64_t total) {
  const ValueType& type = profiles.front().profile.sample_types[profiles.front().value_index];
  std::string title = "profpre flame graph: " + std::to_string(profiles.size()) + " profile" +
                      (profiles.size() == 1 ? "" : "s") + ", " + format_total(total, type) +
                      " of " + type.type + "/" + type.unit;
  return title;
}

}  // namespace

int run_flame(std::span<const std::string> args) {
  cli::ParsedArgs parsed;
  std::string error;
  if (!cli::parse_args(args, kOptions, false, &parsed, &error)) {
    return cli::usage_error("flame", error);
  }
  if (parsed.help) {
    std::fputs(kHelp, stdout);
    return cli::kExitOk;
  }
  if (parsed.positional.empty()) {
    return cli::usage_error("flame", "no profiles given: name profile files or directories");
  }
  const std::string* output_option = parsed.find("--output");
  std::string output = output_option != nullptr ? *output_option : kDefaultOutput;
  if (output.empty()) return cli::usage_error("flame", "-o needs a file name");

  std::vector<LoadedProfile> profiles;
  if (!load_profiles(parsed.positional, &profiles, &error)) {
    cli::print_error("flame", error);
    return cli::kExitFailure;
  }
  FlameTree tree;
  for (const LoadedProfile& loaded : profiles) tree.add_profile(loaded);

  FlameOptions options;
  options.format = output.ends_with(".svg") ? FlameFormat::kSvg : FlameFormat::kHtml;
  options.type = profiles.front().profile.sample_types[profiles.front().value_index];
  const std::string* title = parsed.find("--title");
  options.title = title != nullptr ? *title : default_title(profiles, tree.root().value);
  if (!write_file_atomically(output, render_flame(tree, options), &error)) {
    cli::print_error("flame", error);
    return cli::kExitFailure;
  }
  std::fprintf(stderr, "profpre: flame: wrote %s (%zu profiles, %zu frames)\n", output.c_str(),
               profiles.size(), tree.size());
  return cli::kExitOk;
}

}  // namespace profpre
