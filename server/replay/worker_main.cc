// faultlab-replay-worker: one replay, in a process of its own, for a
// faultlab-server that started it (sandbox.h) — so that what a hostile
// trace does to a replay (a crash, its CPU, its memory) stays here. Reads
// the trace file's first --bytes bytes, writes Update messages to stdout
// (proto/replay_worker.proto), exits 0 once the Result is written. The
// trace is mapped read-only (trace::MappedFile), not copied.
//
//   faultlab-replay-worker --trace PATH --bytes N --name NAME
//       [--what-if KEY=VALUE ...] [--mode open|rerun] [--keep-going]
//       [--costs PROFILE_TEXT --costs-source TEXT]
//   faultlab-replay-worker --mode calibrate --base ID --profile-id ID
//       --trace PATH --bytes N --name NAME [--trace ...]
//
// A calibration (a board's traces, docs/cost-model.md "Calibration on the
// server") runs here too: it replays each trace twice, and a hostile
// trace must cost a worker, not the server.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/profiles/profile.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "lib/args/args.h"
#include "lib/calibrate/calibrate.h"
#include "proto/replay_worker.pb.h"
#include "server/metrics/tally.h"

namespace faultlab::server {
namespace {

// One message on stdout, length first; false if the server is gone.
bool Send(const worker::Update& u) {
  std::string out;
  const std::string body = u.SerializeAsString();
  for (uint64_t n = body.size();; n >>= 7) {
    out.push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
    if (n < 0x80) break;
  }
  out += body;
  for (size_t done = 0; done < out.size();) {
    const ssize_t n = write(1, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

replay::ReplayResult Rerun(
    const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
    const std::string& name, const replay::WhatIf& what_if) {
  replay::ReplayResult r;
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> src = open();
  if (!src.ok()) {
    r.status = src.status();
    return r;
  }
  trace::TraceReader reader(src->get(), name);
  if (r.status = reader.Open(); !r.status.ok()) return r;
  return replay::Rerun(reader.header(), name, what_if);
}

// --mode calibrate: the board's traces -> a calibrated profile, or why not.
worker::Result Calibrate(const args::Args& a) {
  worker::Result out;
  const std::vector<std::string> paths = a.GetAll("trace"), sizes = a.GetAll("bytes"),
                                 names = a.GetAll("name");
  std::vector<calibrate::TraceFile> traces;
  for (size_t i = 0; i < paths.size(); ++i) {
    calibrate::TraceFile t{paths[i], 0, i < names.size() ? names[i] : paths[i]};
    if (i >= sizes.size() || !absl::SimpleAtoi(sizes[i], &t.bytes)) {
      out.set_outcome("error");
      out.set_report("calibrate: each --trace needs its --bytes\n");
      return out;
    }
    traces.push_back(std::move(t));
  }
  const std::string base = a.Get("base", profiles::kDefaultProfile);
  absl::StatusOr<std::pair<std::string, std::string>> text = profiles::ProfileText(base, "");
  absl::StatusOr<calibrate::Calibration> c =
      text.ok()
          ? calibrate::Calibrate(traces, base, text->first, a.Get("profile-id"), "faultlab-server")
          : absl::StatusOr<calibrate::Calibration>(text.status());
  if (c.ok()) {
    out.set_outcome("calibrated");
    out.set_report(c->Summary());
    out.set_profile(c->profile);
  } else {
    // Too few faults, none matched: the board stays uncalibrated, said; a
    // damaged trace is an error of its own.
    out.set_outcome(absl::IsDataLoss(c.status()) ? "error" : "uncalibrated");
    out.set_report(absl::StrCat(c.status().message(), "\n"));
    out.set_damaged(absl::IsDataLoss(c.status()));
  }
  return out;
}

constexpr char kUsage[] =
    "usage: faultlab-replay-worker --trace PATH --bytes N --name NAME [--what-if K=V ...]\n"
    "           [--mode open|rerun] [--keep-going] [--costs PROFILE_TEXT --costs-source TEXT]\n"
    "       faultlab-replay-worker --mode calibrate --base ID --profile-id ID\n"
    "           --trace PATH --bytes N --name NAME ... (started by faultlab-server)\n";

int Main(int argc, char** argv) {
  // The server's --profile-dir (what-if profile= naming a calibrated profile).
  if (const char* dir = std::getenv("FAULTLAB_PROFILE_DIR")) profiles::SetProfileDir(dir);
  args::Args a;
  for (const char* f : {"trace", "bytes", "name", "what-if", "mode", "costs", "costs-source",
                        "base", "profile-id"}) {
    a.Declare(f, true);
  }
  a.Declare("keep-going", false);
  if (argc == 2 && std::string(argv[1]) == "--help") {
    std::cout
        << kUsage
        << "\nReplays one stored trace, or calibrates a board's profile from its traces, for\n"
           "the faultlab-server that started it, in a process of its own so that what a\n"
           "hostile trace does stays here. Writes length-prefixed worker.Update messages\n"
           "to standard output (proto/replay_worker.proto). Not for direct use: the\n"
           "server finds it beside itself (docs/security.md \"Isolation\").\n";
    return 0;
  }
  uint64_t bytes = 0;
  absl::Status parsed = a.Parse(argc - 1, argv + 1);
  if (parsed.ok() && a.Get("mode") == "calibrate" && a.Has("trace")) {
    worker::Update u;
    *u.mutable_result() = Calibrate(a);
    return Send(u) ? 0 : 4;
  }
  if (!parsed.ok() || !a.Has("trace") || !a.GetUint("bytes", &bytes).ok()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string path = a.Get("trace"), name = a.Get("name", path);
  absl::StatusOr<replay::WhatIf> what_if = replay::ParseWhatIfArgs(a.GetAll("what-if"));
  if (!what_if.ok()) {
    std::cerr << "faultlab-replay-worker: " << what_if.status().message() << "\n";
    return 2;
  }
  // The committed bytes, mapped once: the replay's two readers (inputs,
  // checks) share the mapping, and a matrix's workers its page-cache pages.
  const absl::StatusOr<std::shared_ptr<const trace::MappedFile>> mapped =
      trace::MappedFile::Map(path, bytes);
  auto open = [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
    if (!mapped.ok()) return mapped.status();
    return std::unique_ptr<trace::ByteSource>(
        std::make_unique<trace::MemorySource>((*mapped)->bytes()));
  };
  ReplayTally tally;
  replay::ReplayResult r;
  if (a.Get("mode", "open") == "rerun") {
    r = Rerun(open, name, *what_if);
  } else {
    replay::ReplayOptions opts;
    opts.what_if = *what_if;
    if (a.Has("costs")) {
      absl::StatusOr<profiles::Profile> p = profiles::ParseProfile(a.Get("costs"), "--costs");
      if (!p.ok()) {
        std::cerr << "faultlab-replay-worker: " << p.status().message() << "\n";
        return 2;
      }
      opts.cost_model = p->cost;
      opts.cost_source = a.Get("costs-source", p->id);
    }
    opts.keep_going = a.Has("keep-going");
    opts.on_output = [&tally](const trace::Event& e) { tally.Add(e); };
    opts.on_input = [](uint64_t inputs) {
      if (inputs % 65536 != 0) return;
      worker::Update u;
      u.set_inputs_done(inputs);
      Send(u);
    };
    r = replay::Replay(open, name, opts);
  }
  worker::Update u;
  worker::Result* out = u.mutable_result();
  if (!r.status.ok()) {
    out->set_outcome("error");
    out->set_report(absl::StrCat(r.status.message(), "\n"));
    out->set_damaged(absl::IsDataLoss(r.status));
  } else {
    out->set_outcome(std::string(replay::ReplayOutcomeName(r.outcome)));
    out->set_report(replay::ReportText(r));
    out->set_stream_faults(r.recorded_stream);
    for (uint64_t n : tally.Flatten()) out->add_tally(n);
  }
  return Send(u) ? 0 : 4;
}

}  // namespace
}  // namespace faultlab::server

int main(int argc, char** argv) { return faultlab::server::Main(argc, argv); }
