// Drawing a FlameTree as one self-contained, interactive document: an SVG of
// frames (root at the bottom, width in proportion to value, colour by
// library) with a small script for click-to-zoom, search and the hottest
// path, and no reference to anything outside the file. The same markup is
// written as an HTML page or as a standalone SVG document.
//
// Frames narrower than a tenth of a pixel at full width are left out (their
// value stays in their parent), which keeps a build's graph to a size a
// browser opens at once.
#pragma once

#include <string>
#include <string_view>

#include "encoder/profile.h"
#include "scripts/profpre/flame_tree.h"

namespace profpre {

enum class FlameFormat { kHtml, kSvg };

struct FlameOptions {
  FlameFormat format = FlameFormat::kHtml;
  std::string title;  // shown on the page
  ValueType type;     // what the values measure, for tooltips
};

std::string render_flame(const FlameTree& tree, const FlameOptions& options);

// Text made safe for XML and HTML, in text and in quoted attributes: & < > "
// ' become references; control characters other than tab and newline, and
// bytes that are not valid UTF-8, become U+FFFD.
std::string xml_escape(std::string_view text);

// The colour of a library's frames, "#rrggbb", by its rank in the graph's
// self time: the first twelve get distinct colours of a fixed palette, any
// further ones a paler hue from a hash of the name.
std::string library_color(std::string_view library, size_t rank);

// The label that fits in `width` pixels: the name, or its head and "..", or
// nothing. The page's script applies the same rule after a zoom.
std::string fit_label(const std::string& name, double width);

}  // namespace profpre
