// File helpers shared by the golden tests: read a golden file (runfiles),
// write one (--update, into the source tree under `bazel run`).
#ifndef FAULTLAB_TESTS_GOLDEN_GOLDEN_FILES_H_
#define FAULTLAB_TESTS_GOLDEN_GOLDEN_FILES_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace faultlab::golden {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Where --update writes: the source tree (bazel run sets this variable).
inline std::string SourcePath(const std::string& rel) {
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return ws ? std::string(ws) + "/" + rel : rel;
}

// main() of a golden test: gtest's flags, and `--update` sets `*update`.
inline int RunGoldenTests(int argc, char** argv, bool* update) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--update") *update = true;
  }
  return RUN_ALL_TESTS();
}

}  // namespace faultlab::golden

#endif  // FAULTLAB_TESTS_GOLDEN_GOLDEN_FILES_H_
