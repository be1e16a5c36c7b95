// A shared library the symbolizer tests load, unload, and then symbolize
// from its file alone. The test reads unload_fixture_line while the library
// is loaded: the declaration line of unload_fixture_function.
//
// The line layout below is what the tests assert.
// clang-format off

extern "C" __attribute__((visibility("default"))) const int unload_fixture_line = __LINE__ + 2;
extern "C" __attribute__((visibility("default"), noinline))  // noinline: own address
int unload_fixture_function(int x) {
  return x * 13 + 1;
}
