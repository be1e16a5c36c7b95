// Functions at known source lines for the symbolizer tests, compiled with
// -g -O2 in symbolize_fixture.cc. Each line constant names the line the
// DWARF should report.
#pragma once

extern "C" {

// fixture_sink stores its return address here: an address inside whichever
// function, or inlined helper, called it.
extern void* volatile fixture_sink_return;

int fixture_sink(int x);
int fixture_leaf(int x);
// Calls fixture::helper, inlined, which calls fixture_sink.
int fixture_outer(int x);
// Calls fixture::middle, which calls fixture::inner, both inlined; inner
// calls fixture_sink.
int fixture_deep(int x);

}  // extern "C"

namespace fixture {

int scale(int x);

// Declaration lines (DW_AT_decl_line).
extern const int kLeafLine;
extern const int kScaleLine;
extern const int kOuterLine;
extern const int kHelperLine;
extern const int kDeepLine;
extern const int kMiddleLine;
extern const int kInnerLine;

// Call sites.
extern const int kHelperSinkCallLine;   // in helper, of fixture_sink
extern const int kOuterHelperCallLine;  // in fixture_outer, of helper
extern const int kInnerSinkCallLine;    // in inner, of fixture_sink
extern const int kMiddleInnerCallLine;  // in middle, of inner
extern const int kDeepMiddleCallLine;   // in fixture_deep, of middle

}  // namespace fixture
