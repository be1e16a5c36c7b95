// Tests of the flame graph's tree, escaping, labels, colours and markup.

#include <catch2/catch.hpp>
#include <set>

#include "scripts/profpre/flame_render.h"
#include "scripts/profpre/flame_script.h"
#include "scripts/profpre/flame_tree.h"

namespace profpre {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("xml_escape makes text safe in elements and attributes", "[flame]") {
  CHECK(xml_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  CHECK(xml_escape("std::vector<int>::push_back(int const&)") ==
        "std::vector&lt;int&gt;::push_back(int const&amp;)");
  SECTION("tab and newline stay, other control characters do not") {
    CHECK(xml_escape("a\tb\nc") == "a\tb\nc");
    CHECK(xml_escape(std::string("a\0b\x1b", 4)) ==
          "a\xEF\xBF\xBD"
          "b\xEF\xBF\xBD");
  }
  SECTION("valid UTF-8 passes, invalid bytes are replaced") {
    CHECK(xml_escape("caf\xC3\xA9 \xE2\x80\xBA \xF0\x9F\x94\xA5") ==
          "caf\xC3\xA9 \xE2\x80\xBA \xF0\x9F\x94\xA5");
    CHECK(xml_escape("\xC3") == "\xEF\xBF\xBD");                                  // cut short
    CHECK(xml_escape("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
    CHECK(xml_escape("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    CHECK(xml_escape("\xEF\xBF\xBF") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFF
  }
}

TEST_CASE("a label is the name, a shortened name or nothing", "[flame]") {
  CHECK(fit_label("main", 200) == "main");
  CHECK(fit_label("a_rather_long_function_name", 60) == "a_rat..");  // 7 characters fit
  CHECK(fit_label("main", 20) == "");
  CHECK(fit_label("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 45) == "\xC3\xA9..");  // whole chars
}

TEST_CASE("the busiest libraries get distinct colours, the rest a stable hue", "[flame]") {
  std::set<std::string> palette;
  for (size_t rank = 0; rank < 12; ++rank) palette.insert(library_color("any", rank));
  CHECK(palette.size() == 12);
  std::string late = library_color("libc.so.6", 12);
  CHECK(late == library_color("libc.so.6", 40));
  CHECK(late.size() == 7);
  CHECK_THAT(late, StartsWith("#"));
  CHECK(palette.count(late) == 0);
  CHECK(late != library_color("cc1", 12));
}

TEST_CASE("the tree merges stacks under a frame per process name", "[flame]") {
  FlameTree tree;
  tree.add("cc1", {{"leaf", "cc1"}, {"main", "cc1"}}, 30);
  tree.add("cc1", {{"other", "cc1"}, {"main", "cc1"}}, 10);
  tree.add("make", {{"main", "make"}}, 5);
  tree.add("make", {{"main", "make"}}, 0);   // not drawable
  tree.add("make", {{"main", "make"}}, -3);  // not drawable
  CHECK(tree.root().value == 45);
  REQUIRE(tree.root().children.size() == 2);
  const FlameNode& cc1 = tree.node(tree.root().children.begin()->second);
  CHECK(cc1.frame.name == "cc1");
  CHECK(cc1.kind == FrameKind::kProcess);
  CHECK(cc1.value == 40);
  REQUIRE(cc1.children.size() == 1);
  const FlameNode& main = tree.node(cc1.children.begin()->second);
  CHECK(main.value == 40);
  CHECK(main.children.size() == 2);
  CHECK(tree.size() == 7);  // all, cc1, main, leaf, other, make, main
}

FlameTree sample_tree() {
  FlameTree tree;
  tree.add("app", {{"hot<int>&", "app"}, {"main", "app"}}, 900000);
  tree.add("app", {{"memcpy", "libc.so.6"}, {"main", "app"}}, 100000);
  tree.add("app", {{"tiny", "app"}, {"main", "app"}}, 1);  // 1e-6 of the total: left out
  return tree;
}

TEST_CASE("the HTML page holds every drawable frame, escaped", "[flame]") {
  FlameOptions options{
      .format = FlameFormat::kHtml, .title = "t<1>", .type = {"cpu", "nanoseconds"}};
  std::string html = render_flame(sample_tree(), options);
  CHECK_THAT(html, StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(html, Contains("<title>t&lt;1&gt;</title>"));
  CHECK_THAT(html, Contains("data-n=\"hot&lt;int&gt;&amp;\""));
  CHECK_THAT(html, Contains("hot&lt;int&gt;&amp; [app]\n900us, 90.0%"));
  CHECK_THAT(html, Contains("fill=\"" + library_color("libc.so.6", 1) + "\""));  // 2nd by self
  CHECK_THAT(html, Contains("fill=\"" + library_color("app", 0) + "\""));
  CHECK_THAT(html, Contains("data-n=\"memcpy\""));
  CHECK_THAT(html, !Contains("data-n=\"tiny\""));
  CHECK_THAT(html, Contains("id=\"hotpath\""));
  CHECK_THAT(html, Contains("id=\"search\""));
  // Nothing to fetch: the only URLs are XML namespace names.
  for (const char* fetch : {"src=", "href=", "url(", "@import", "https:"}) {
    CHECK_THAT(html, !Contains(fetch));
  }
}

TEST_CASE("the SVG document is XML with the same frames", "[flame]") {
  FlameOptions options{.format = FlameFormat::kSvg, .title = "t", .type = {"cpu", "nanoseconds"}};
  std::string svg = render_flame(sample_tree(), options);
  CHECK_THAT(svg, StartsWith("<?xml version=\"1.0\""));
  CHECK_THAT(svg, Contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"flame\""));
  CHECK_THAT(svg, Contains("data-n=\"hot&lt;int&gt;&amp;\""));
  CHECK_THAT(svg, !Contains("<!DOCTYPE"));
}

TEST_CASE("the embedded script and style cannot end their CDATA sections", "[flame]") {
  CHECK(kFlameScript.find("]]>") == std::string_view::npos);
  CHECK(kFlameCss.find("]]>") == std::string_view::npos);
}

TEST_CASE("a stack of any depth renders without recursion", "[flame]") {
  std::vector<Frame> frames(100000, Frame{"f", "app"});
  FlameTree tree;
  tree.add("app", frames, 10);
  FlameOptions options{
      .format = FlameFormat::kHtml, .title = "deep", .type = {"cpu", "nanoseconds"}};
  std::string html = render_flame(tree, options);
  CHECK_THAT(html, Contains("data-d=\"100001\""));
}

TEST_CASE("an empty graph still renders its root", "[flame]") {
  FlameOptions options{
      .format = FlameFormat::kHtml, .title = "empty", .type = {"cpu", "nanoseconds"}};
  std::string html = render_flame(FlameTree(), options);
  CHECK_THAT(html, Contains("data-n=\"all\""));
}

}  // namespace
}  // namespace profpre
