// FAULTLAB_CHECK: a broken invariant stops the program with a message that
// says what and where (STYLE "Three kinds of wrong": bad input is a Status,
// odd trace data a counted anomaly, a broken invariant a CHECK). Never used
// for anything a caller or a trace can cause.
//
//   FAULTLAB_CHECK(IsAllocated(frame), "frame ", frame, " freed twice");
//   -> "engine/mem/memory.cc:201: CHECK failed: IsAllocated(frame): frame 7 freed twice"
#ifndef FAULTLAB_ENGINE_BASE_CHECK_H_
#define FAULTLAB_ENGINE_BASE_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace faultlab {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     const std::string& message) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, condition,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace faultlab

#define FAULTLAB_CHECK(condition, ...)                                                    \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      ::faultlab::CheckFailed(__FILE__, __LINE__, #condition, absl::StrCat(__VA_ARGS__)); \
    }                                                                                     \
  } while (0)

#endif  // FAULTLAB_ENGINE_BASE_CHECK_H_
