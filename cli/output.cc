#include <fstream>
#include <iostream>

#include "cli/exit.h"
#include "cli/verbs.h"

namespace faultlab::cli {

int Fail(const absl::Status& s) {
  std::cerr << "faultlab: " << s.message() << "\n";
  return ExitCode(s);
}

// Writes `html` to --html's path; the exit code.
int WriteHtml(const Args& args, const std::string& html) {
  const std::string out = args.Get("html");
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f << html;
  if (!f.flush()) {
    std::cerr << "faultlab: " << out << ": cannot write\n";
    return kExitIo;
  }
  std::cout << "wrote " << out << " (" << html.size() << " bytes; open it in a browser)\n";
  return kExitOk;
}

// Pads NAME to WIDTH columns, always leaving at least one space.
std::string PadTo(const std::string& name, size_t width) {
  return name + std::string(name.size() < width ? width - name.size() : 1, ' ');
}

}  // namespace faultlab::cli
