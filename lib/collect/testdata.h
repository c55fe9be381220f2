// The kernel-side parsers' fixtures (lib/collect/testdata/, in the tests'
// runfiles), read whole: one reader for lib/collect's tests and the agent's
// kprobe session test.
#ifndef FAULTLAB_LIB_COLLECT_TESTDATA_H_
#define FAULTLAB_LIB_COLLECT_TESTDATA_H_

#include <fstream>
#include <sstream>
#include <string>

namespace faultlab::collect::testing {

// A file's bytes ("" when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// lib/collect/testdata/NAME.
inline std::string Fixture(const std::string& name) {
  return ReadFile("lib/collect/testdata/" + name);
}

}  // namespace faultlab::collect::testing

#endif  // FAULTLAB_LIB_COLLECT_TESTDATA_H_
