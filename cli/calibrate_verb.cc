// faultlab calibrate (docs/cost-model.md "Calibration"): a profile whose
// fault-path costs are fitted to the latencies board traces measured.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "cli/exit.h"
#include "cli/verbs.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "lib/calibrate/calibrate.h"

namespace faultlab::cli {
namespace {

// The profile the first trace names (its header), unless --profile says.
absl::StatusOr<std::string> BaseProfileId(const Args& args) {
  if (args.Has("profile")) return args.Get("profile");
  const std::string& path = args.positional()[0];
  auto src = trace::FileSource::Open(path);
  if (!src.ok()) return src.status();
  trace::TraceReader reader(src->get(), path);
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  return reader.header().profile().empty() ? std::string(profiles::kDefaultProfile)
                                           : reader.header().profile();
}

}  // namespace

int RunCalibrate(const Args& args) {
  const std::vector<std::string>& paths = args.positional();
  if (paths.empty()) {
    std::cerr << "faultlab calibrate: give board traces with a fault stream (docs/board.md)\n";
    return kExitUsage;
  }
  const std::string out = args.Get("output");
  const std::string file = out.substr(out.rfind('/') + 1);
  if (!absl::EndsWith(file, ".profile") || file.size() == 8) {
    std::cerr << "faultlab calibrate: -o " << out
              << ": a profile file is named ID.profile (its id is the name)\n";
    return kExitUsage;
  }
  const std::string id = file.substr(0, file.size() - 8);
  absl::StatusOr<std::string> base_id = BaseProfileId(args);
  if (!base_id.ok()) return Fail(base_id.status());
  absl::StatusOr<std::pair<std::string, std::string>> text =
      profiles::ProfileText(*base_id, args.Get("profile-dir"));
  if (!text.ok()) return Fail(text.status());
  absl::StatusOr<calibrate::Calibration> c = calibrate::Calibrate(
      calibrate::Files(paths), *base_id, text->first, id, "'faultlab calibrate'");
  if (!c.ok()) return Fail(c.status());
  std::fputs(c->Summary().c_str(), stdout);
  const std::string& profile = c->profile;
  std::ofstream f(out);
  f << profile;
  f.close();
  if (!f) {
    std::cerr << "faultlab calibrate: " << out << ": cannot write\n";
    return kExitIo;
  }
  std::printf(
      "wrote %s (profile %s): use it with --profile-dir %s --profile %s\n", out.c_str(), id.c_str(),
      out.find('/') == std::string::npos ? "." : out.substr(0, out.rfind('/')).c_str(), id.c_str());
  return kExitOk;
}

}  // namespace faultlab::cli
