// Writing the flame graph document: layout in C++, behaviour in the
// embedded script (flame_script.h).

#include "scripts/profpre/flame_render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "scripts/profpre/flame_script.h"
#include "scripts/profpre/format.h"

namespace profpre {
namespace {

constexpr double kWidth = 1200;
constexpr double kFrameHeight = 16;
constexpr double kHeaderHeight = 84;
constexpr double kFooterHeight = 40;
constexpr double kMinWidth = 0.1;   // pixels at full width; narrower frames are left out
constexpr double kCharWidth = 7.3;  // of 12px monospace, a little generous
constexpr double kPad = 3;
constexpr size_t kLegendSize = 12;
constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence at text[i], or 0.
size_t utf8_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t n = lead < 0x80                    ? 1
             : lead >= 0xC2 && lead <= 0xDF ? 2
             : lead >= 0xE0 && lead <= 0xEF ? 3
             : lead >= 0xF0 && lead <= 0xF4 ? 4
                                            : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char second = n > 1 ? byte(i + 1) : 0;
  if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) ||  // overlong, surrogate
      (lead == 0xF0 && second < 0x90) || (lead == 0xF4 && second > 0x8F)) {  // overlong, > U+10FFFF
    return 0;
  }
  if (lead == 0xEF && second == 0xBF && byte(i + 2) >= 0xBE) return 0;  // U+FFFE, U+FFFF
  return n;
}

// Light enough for black text, far enough apart to tell libraries apart.
constexpr const char* kPalette[] = {"#f2b36b", "#86b9e8", "#95d48a", "#e59ac0",
                                    "#c2a5ea", "#e6d86f", "#7fd5cd", "#ef9486",
                                    "#b8c972", "#a9b4cf", "#d8b48f", "#b7e3e8"};

// "#rrggbb" of a hue in degrees, saturation and lightness in [0, 1].
std::string hsl_color(double hue, double saturation, double lightness) {
  double chroma = (1 - std::abs(2 * lightness - 1)) * saturation;
  double x = chroma * (1 - std::abs(std::fmod(hue / 60, 2) - 1));
  double m = lightness - chroma / 2;
  double rgb[3][6] = {
      {chroma, x, 0, 0, x, chroma}, {x, chroma, chroma, x, 0, 0}, {0, 0, x, chroma, chroma, x}};
  int sector = static_cast<int>(hue / 60) % 6;
  auto channel = [&](int c) { return static_cast<int>(std::lround((rgb[c][sector] + m) * 255)); };
  char text[8];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", channel(0), channel(1), channel(2));
  return text;
}

const char* reference(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";
    default:
      return nullptr;
  }
}

struct Layout {
  std::vector<int64_t> start;  // per node: x in value units; -1: not drawn
  std::vector<int> depth;
  int max_depth = 0;
};

// Visits the nodes root first, then each node's children in key order,
// with the node's start (in value units) and depth; `enter` returns false to
// skip the node's children. A loop rather than recursion: a profile may hold
// stacks of any depth.
template <typename Enter>
void visit_preorder(const FlameTree& tree, Enter enter) {
  struct Item {
    uint32_t index;
    int64_t start;
    int depth;
  };
  std::vector<Item> stack{{0, 0, 0}};
  std::vector<Item> children;
  while (!stack.empty()) {
    Item item = stack.back();
    stack.pop_back();
    if (!enter(item.index, item.start, item.depth)) continue;
    children.clear();
    int64_t start = item.start;
    for (const auto& [key, child] : tree.node(item.index).children) {
      children.push_back({child, start, item.depth + 1});
      start += tree.node(child).value;
    }
    stack.insert(stack.end(), children.rbegin(), children.rend());  // first child on top
  }
}

Layout lay_out(const FlameTree& tree) {
  Layout layout;
  layout.start.assign(tree.size(), -1);
  layout.depth.assign(tree.size(), 0);
  double total = static_cast<double>(tree.root().value);
  visit_preorder(tree, [&](uint32_t index, int64_t start, int depth) {
    double width = total > 0 ? static_cast<double>(tree.node(index).value) / total * kWidth : 0;
    if (index != 0 && width < kMinWidth) return false;  // an empty graph still shows its root
    layout.start[index] = start;
    layout.depth[index] = depth;
    layout.max_depth = std::max(layout.max_depth, depth);
    return true;
  });
  return layout;
}

// Self value per library, largest first.
std::vector<std::pair<std::string, int64_t>> library_totals(const FlameTree& tree) {
  std::unordered_map<std::string, int64_t> self;
  for (size_t i = 0; i < tree.size(); ++i) {
    const FlameNode& node = tree.node(static_cast<uint32_t>(i));
    if (node.kind != FrameKind::kFunction) continue;
    int64_t value = node.value;
    for (const auto& [key, child] : node.children) value -= tree.node(child).value;
    self[node.frame.library] += value;
  }
  std::vector<std::pair<std::string, int64_t>> sorted(self.begin(), self.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return sorted;
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

// ` name="value"`, the value escaped.
std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + xml_escape(value) + "\"";
}

std::string attr(std::string_view name, double value) { return attr(name, format_number(value)); }

// Everything the writers share.
struct Drawing {
  const FlameTree& tree;
  const FlameOptions& options;
  Layout layout;
  std::vector<std::pair<std::string, int64_t>> libraries;  // by self value
  std::unordered_map<std::string, std::string> colors;     // by library
  double frames_bottom = 0;                                // y of the root frame's bottom edge
  double height = 0;
};

std::string color_of(const Drawing& d, const FlameNode& node) {
  switch (node.kind) {
    case FrameKind::kRoot:
      return "#d9d9d6";
    case FrameKind::kProcess:
      return "#b9bdc4";
    case FrameKind::kFunction:
      break;
  }
  return d.colors.at(node.frame.library);
}

std::string label_of(const FlameNode& node) {
  if (node.kind != FrameKind::kFunction || node.frame.library.empty()) return node.frame.name;
  return node.frame.name + " [" + node.frame.library + "]";
}

void write_frame(const Drawing& d, uint32_t index, std::string* out) {
  const FlameNode& node = d.tree.node(index);
  double total = static_cast<double>(d.tree.root().value);
  int64_t start = d.layout.start[index];
  int depth = d.layout.depth[index];
  double x = total > 0 ? static_cast<double>(start) / total * kWidth : 0;
  double w = total > 0 ? static_cast<double>(node.value) / total * kWidth : kWidth;
  double y = d.frames_bottom - (depth + 1) * kFrameHeight;
  std::string tip = label_of(node) + "\n" + format_value(node.value, d.options.type) + ", " +
                    format_percent(node.value, d.tree.root().value);

  *out += "<g class=\"f\"" + attr("data-x", std::to_string(start)) +
          attr("data-v", std::to_string(node.value)) + attr("data-d", std::to_string(depth)) +
          attr("data-n", node.frame.name) + "><title>" + xml_escape(tip) + "</title>";
  *out += "<rect" + attr("x", x) + attr("y", y) + attr("width", w) +
          attr("height", kFrameHeight - 1) + attr("fill", color_of(d, node)) + "/>";
  *out += "<text" + attr("x", x + kPad) + attr("y", y + 11.5) + ">" +
          xml_escape(fit_label(node.frame.name, w)) + "</text></g>\n";
}

// Root first and parents before children, as the page's script expects.
void write_frames(const Drawing& d, std::string* out) {
  *out += "<g id=\"frames\">\n";
  visit_preorder(d.tree, [&](uint32_t index, int64_t, int) {
    if (d.layout.start[index] < 0) return false;
    write_frame(d, index, out);
    return true;
  });
  *out += "</g>\n";
}

constexpr const char* kXhtml = "http://www.w3.org/1999/xhtml";

void write_legend(const Drawing& d, std::string* out) {
  *out += "<div class=\"legend\">Self time by library: ";
  for (size_t i = 0; i < d.libraries.size() && i < kLegendSize; ++i) {
    const auto& [library, value] = d.libraries[i];
    *out += "<span class=\"lib\"><span class=\"swatch\"" +
            attr("style", "background:" + d.colors.at(library)) + "></span>" +
            xml_escape(library.empty() ? "(no mapping)" : library) + " " +
            format_percent(value, d.tree.root().value) + "</span>";
  }
  *out += "</div>";
}

void write_controls(const Drawing& d, std::string* out) {
  *out += "<foreignObject" + attr("x", 0) + attr("y", 0) + attr("width", kWidth) +
          attr("height", kHeaderHeight) + "><div" + attr("xmlns", kXhtml) +
          " id=\"controls\"><div class=\"title\">" + xml_escape(d.options.title) + "</div>";
  *out +=
      "<div><input id=\"search\" type=\"search\" placeholder=\"search (regular expression)\"/> "
      "<button id=\"reset\" type=\"button\">Reset zoom</button>"
      "<span id=\"matched\"></span></div>";
  write_legend(d, out);
  *out += "</div></foreignObject>\n";
}

void write_footer(const Drawing& d, std::string* out) {
  *out += "<text id=\"details\"" + attr("x", 4) + attr("y", d.frames_bottom + 15) + "> </text>\n";
  *out += "<foreignObject" + attr("x", 0) + attr("y", d.frames_bottom + 20) +
          attr("width", kWidth) + attr("height", 18) + "><div" + attr("xmlns", kXhtml) +
          " id=\"hotpath\"></div></foreignObject>\n";
}

void write_svg(const Drawing& d, std::string* out) {
  *out += "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"flame\"" + attr("width", kWidth) +
          attr("height", d.height) +
          attr("viewBox", "0 0 " + format_number(kWidth) + " " + format_number(d.height)) +
          attr("data-width", kWidth) + attr("data-char-width", kCharWidth) +
          " font-family=\"monospace\" font-size=\"12\">\n";
  if (d.options.format == FlameFormat::kSvg) {
    *out += "<title>" + xml_escape(d.options.title) + "</title>\n";
  }
  *out += "<style><![CDATA[" + std::string(kFlameCss) + "]]></style>\n";
  *out += "<rect width=\"100%\" height=\"100%\" fill=\"#fbfbf8\"/>\n";
  write_controls(d, out);
  write_frames(d, out);
  write_footer(d, out);
  *out += "<script><![CDATA[" + std::string(kFlameScript) + "]]></script>\n</svg>\n";
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    size_t n = utf8_length(text, i);
    if (n == 0 || (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')) {
      out += kReplacement;
      ++i;
    } else if (const char* ref = reference(c)) {
      out += ref;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string library_color(std::string_view library, size_t rank) {
  if (rank < std::size(kPalette)) return kPalette[rank];
  uint32_t hash = 2166136261u;  // FNV-1a
  for (char c : library) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  return hsl_color(hash % 360, 0.45, 0.72);
}

std::string fit_label(const std::string& name, double width) {
  double room = std::floor((width - 2 * kPad) / kCharWidth);
  if (room < 3) return "";
  size_t chars = static_cast<size_t>(room);
  if (name.size() <= chars) return name;
  size_t cut = chars - 2;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // whole chars
  return name.substr(0, cut) + "..";
}

std::string render_flame(const FlameTree& tree, const FlameOptions& options) {
  Drawing d{.tree = tree, .options = options, .layout = lay_out(tree)};
  d.libraries = library_totals(tree);
  for (size_t rank = 0; rank < d.libraries.size(); ++rank) {
    d.colors[d.libraries[rank].first] = library_color(d.libraries[rank].first, rank);
  }
  d.frames_bottom = kHeaderHeight + (d.layout.max_depth + 1) * kFrameHeight;
  d.height = d.frames_bottom + kFooterHeight;

  std::string out;
  if (options.format == FlameFormat::kSvg) {
    out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  } else {
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>" +
           xml_escape(options.title) + "</title></head>\n<body style=\"margin:0\">\n";
  }
  write_svg(d, &out);
  if (options.format == FlameFormat::kHtml) out += "</body></html>\n";
  return out;
}

}  // namespace profpre
