// faultlab calibrate (docs/cost-model.md "Calibration"): a profile whose
// fault-path costs are fitted to the latencies board traces measured.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/exit.h"
#include "cli/verbs.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "lib/calibrate/calibrate.h"

namespace faultlab::cli {
namespace {

std::string Range(const profiles::CostRange& r) { return absl::StrCat(r.min_ns, "..", r.max_ns); }

// The profile the first trace names (its header), unless --profile says.
absl::StatusOr<std::string> BaseProfileId(const Args& args) {
  if (args.Has("profile")) return args.Get("profile");
  const std::string& path = args.positional()[0];
  auto src = trace::FileSource::Open(path);
  if (!src.ok()) return src.status();
  trace::TraceReader reader(src->get(), path);
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  return reader.header().profile().empty() ? std::string("g610") : reader.header().profile();
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
  absl::StatusOr<profiles::Profile> base = profiles::LoadProfile(*base_id, args.Get("profile-dir"));
  if (!base.ok()) return Fail(base.status());
  absl::StatusOr<std::pair<std::string, std::string>> text =
      profiles::ProfileText(*base_id, args.Get("profile-dir"));
  if (!text.ok()) return Fail(text.status());

  absl::StatusOr<calibrate::Collected> c = calibrate::Collect(paths, base->cost);
  if (!c.ok()) return Fail(c.status());
  std::printf(
      "calibrate: %llu trace(s), %llu measured handled faults, %zu matched to the twin's "
      "replay (%llu not), base profile %s\n",
      static_cast<unsigned long long>(c->traces), static_cast<unsigned long long>(c->recorded),
      c->samples.size(), static_cast<unsigned long long>(c->unmatched), base_id->c_str());
  absl::StatusOr<calibrate::Fit> fit = calibrate::FitCosts(c->samples, base->cost);
  if (!fit.ok()) return Fail(fit.status());
  std::printf("%-26s %-16s %-16s %s\n", "parameter", "base", "calibrated", "how");
  for (const calibrate::Param& p : fit->params) {
    std::printf("%-26s %-16s %-16s %s\n", p.key.c_str(), Range(p.base).c_str(),
                p.fitted_here ? Range(p.fitted).c_str() : "(kept)", p.note.c_str());
  }
  std::vector<uint64_t> measured;
  for (const calibrate::Sample& s : c->samples) measured.push_back(s.latency_ns);
  absl::StatusOr<std::vector<uint64_t>> before = calibrate::ReplayedLatencies(paths, base->cost);
  if (!before.ok()) return Fail(before.status());
  absl::StatusOr<std::vector<uint64_t>> after = calibrate::ReplayedLatencies(paths, fit->cost);
  if (!after.ok()) return Fail(after.status());
  const double ks_before = calibrate::KsDistance(measured, *before);
  const double ks_after = calibrate::KsDistance(measured, *after);
  std::printf("ks_distance.base: %.4f\nks_distance.calibrated: %.4f\n", ks_before, ks_after);
  const std::string comment = absl::StrFormat(
      "Calibrated by 'faultlab calibrate' from %d measured faults of %d board trace(s)\n"
      "(%s) on profile %s. Kolmogorov-Smirnov distance between the measured and the\n"
      "replayed fault latencies: %.4f with %s's costs, %.4f with these. Fitted: %s.\n",
      c->samples.size(), c->traces, absl::StrJoin(paths, ", "), *base_id, ks_before, *base_id,
      ks_after, [&] {
        std::vector<std::string> keys;
        for (const calibrate::Param& p : fit->params)
          if (p.fitted_here) keys.push_back(p.key);
        return absl::StrJoin(keys, ", ");
      }());
  const std::string profile = calibrate::WriteProfile(text->first, id, *fit, comment);
  if (absl::Status s = profiles::ParseProfile(profile, out).status(); !s.ok()) return Fail(s);
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
