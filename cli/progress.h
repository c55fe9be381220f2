// Progress: a one-line progress indicator on stderr, shown only when stderr is
// a terminal (so pipes, CI logs and tests see nothing), redrawn at most every
// 1/8 of a second.
//
//   Progress p("writing", total_events);
//   for (...) p.Update(done);
//   p.Done();
#ifndef FAULTLAB_CLI_PROGRESS_H_
#define FAULTLAB_CLI_PROGRESS_H_

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace faultlab::cli {

class Progress {
 public:
  Progress(std::string label, uint64_t total)
      : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() { Done(); }

  // Cheap enough for a per-event loop: the clock is read every 1024th call.
  void Update(uint64_t done) {
    if (!enabled_ || (++calls_ & 1023) != 0) return;
    Draw(done);
  }

  // For coarse steps (a frame): reads the clock on every call.
  void Step(uint64_t done) {
    if (enabled_) Draw(done);
  }

  void Done() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  void Draw(uint64_t done) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(125)) return;
    last_ = now;
    shown_ = true;
    if (total_ > 0) {
      const uint64_t pct = done >= total_ ? 100 : done * 100 / total_;
      const int bar = static_cast<int>(pct / 4);
      std::fprintf(stderr, "\r%s [%-25s] %3d%%", label_.c_str(), std::string(bar, '#').c_str(),
                   static_cast<int>(pct));
    } else {
      std::fprintf(stderr, "\r%s %llu", label_.c_str(), static_cast<unsigned long long>(done));
    }
    std::fflush(stderr);
  }

  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool shown_ = false;
  uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace faultlab::cli

#endif  // FAULTLAB_CLI_PROGRESS_H_
