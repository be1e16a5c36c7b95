// Functions at known source lines for the symbolizer tests. Each line
// constant is defined just above what it names, as __LINE__ + 1; a call site
// is the line after the declaration. Keep each signature on one line.
//
// The line layout below is what the tests assert.
// clang-format off

#include "symbolize_fixture.h"

void* volatile fixture_sink_return = nullptr;

extern "C" __attribute__((noinline)) int fixture_sink(int x) {  // noinline: a real call
  fixture_sink_return = __builtin_return_address(0);
  return x + 1;
}

const int fixture::kLeafLine = __LINE__ + 1;
extern "C" __attribute__((noinline)) int fixture_leaf(int x) {  // noinline: own address
  return x * 7 + 3;
}

namespace fixture {

const int kScaleLine = __LINE__ + 1;
__attribute__((noinline)) int scale(int x) {  // noinline: own address
  return x * 11 - 2;
}

// always_inline: each becomes a DW_TAG_inlined_subroutine in its caller.
const int kHelperLine = __LINE__ + 1;
__attribute__((always_inline)) inline int helper(int x) {
  int scaled = fixture_sink(x * 3);
  return scaled ^ 5;
}
const int kHelperSinkCallLine = kHelperLine + 1;

const int kInnerLine = __LINE__ + 1;
__attribute__((always_inline)) inline int inner(int x) {
  return fixture_sink(x - 1) * 2;
}
const int kInnerSinkCallLine = kInnerLine + 1;

const int kMiddleLine = __LINE__ + 1;
__attribute__((always_inline)) inline int middle(int x) {
  return inner(x * 5) + 9;
}
const int kMiddleInnerCallLine = kMiddleLine + 1;

}  // namespace fixture

const int fixture::kOuterLine = __LINE__ + 1;
extern "C" __attribute__((noinline)) int fixture_outer(int x) {  // noinline: own frame
  int result = fixture::helper(x + 1);
  return result + 2;
}
const int fixture::kOuterHelperCallLine = fixture::kOuterLine + 1;

const int fixture::kDeepLine = __LINE__ + 1;
extern "C" __attribute__((noinline)) int fixture_deep(int x) {  // noinline: own frame
  return fixture::middle(x) - 4;
}
const int fixture::kDeepMiddleCallLine = fixture::kDeepLine + 1;
