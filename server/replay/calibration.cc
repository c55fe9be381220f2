#include "server/replay/calibration.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/profiles/profile.h"

namespace faultlab::server {
namespace {

bool IsBoardTrace(const trace::TraceHeader& h) {
  return h.capture_source() == trace::CAPTURE_SOURCE_BOARD;
}

std::string ProfileOf(const trace::TraceHeader& h) {
  return h.profile().empty() ? profiles::kDefaultProfile : h.profile();
}

// The fault-stream faults a saved replay report counted (0: none, or no
// replay yet). The report's `recorded.faults.stream:` line (engine/replay
// report.cc) is written only for a trace with a stream.
uint64_t StreamFaults(Store* store, const std::string& trace_id) {
  absl::StatusOr<std::pair<std::string, std::string>> rep = store->GetReplay(trace_id);
  if (!rep.ok()) return 0;
  const std::string line = "\nrecorded.faults.stream: ";
  const size_t at = rep->second.find(line);
  if (at == std::string::npos) return 0;
  const size_t from = at + line.size();
  uint64_t n = 0;
  return absl::SimpleAtoi(rep->second.substr(from, rep->second.find('\n', from) - from), &n) ? n
                                                                                             : 0;
}

}  // namespace

std::string CalibratedProfileId(const std::string& board) {
  std::string id = board.empty() ? "board" : board.substr(0, 64);
  for (char& c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      c = '_';
  }
  return id + "-calibrated";
}

std::optional<BoardProfileRecord> BoardCostsFor(Store* store, const trace::TraceHeader& h) {
  if (!IsBoardTrace(h)) return std::nullopt;
  absl::StatusOr<BoardProfileRecord> p = store->GetBoardProfile(h.board());
  if (!p.ok() || p->base != ProfileOf(h)) return std::nullopt;
  return *std::move(p);
}

uint64_t UseBoardCosts(const std::optional<BoardProfileRecord>& p,
                       const std::vector<std::string>& what_if, SandboxJob* job) {
  if (!p) return 0;
  // A what-if on another profile takes that profile's costs.
  for (const std::string& kv : what_if) {
    if (absl::StartsWith(kv, "profile=")) return 0;
  }
  job->costs_profile = p->text;
  job->costs_source =
      absl::StrCat(p->id, " version ", p->version, " (this board's calibration on the server)");
  return p->version;
}

std::string CalibrateBoard(Store* store, Sandbox* sandbox, const std::string& board) {
  absl::StatusOr<std::vector<TraceRecord>> all = store->ListTraces();
  if (!all.ok()) return absl::StrCat("cannot list traces: ", all.status().message());
  // The board's traces, newest first; the newest one's profile is the base.
  std::vector<const TraceRecord*> mine;
  for (const TraceRecord& t : *all) {
    if (t.complete && t.header.board() == board && IsBoardTrace(t.header)) mine.push_back(&t);
  }
  std::sort(mine.begin(), mine.end(),
            [](const TraceRecord* a, const TraceRecord* b) { return a->sequence > b->sequence; });
  SandboxJob job;
  job.mode = "calibrate";
  job.calibrate_id = CalibratedProfileId(board);
  uint64_t through = 0;
  for (const TraceRecord* t : mine) {
    if (job.calibrate_from.size() >= kCalibrationTraces) break;
    const std::string profile = ProfileOf(t->header);
    if (job.calibrate_base.empty()) job.calibrate_base = profile;
    if (profile != job.calibrate_base || StreamFaults(store, t->trace_id) == 0) continue;
    absl::StatusOr<Store::StoredFile> file = store->TraceFile(t->trace_id);
    if (!file.ok() || job.bytes + file->bytes > kCalibrationBytes) continue;
    job.calibrate_from.push_back({file->path, file->bytes, absl::BytesToHexString(t->trace_id)});
    job.bytes += file->bytes;
    through = std::max(through, t->sequence);
  }
  if (job.calibrate_from.empty()) return "no trace with a fault stream to calibrate from";
  if (absl::StatusOr<BoardProfileRecord> kept = store->GetBoardProfile(board);
      kept.ok() && kept->through >= through) {
    return absl::StrCat("already calibrated from its newest traces (version ", kept->version, ")");
  }
  const SandboxOutcome o = sandbox->Run(job, nullptr, nullptr);
  if (o.outcome != "calibrated") {
    std::string why = o.report;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return absl::StrCat("not calibrated (", o.outcome, "): ", why);
  }
  BoardProfileRecord rec{board, job.calibrate_base, job.calibrate_id, o.profile, o.report, through,
                         0};
  if (absl::Status s = store->SaveBoardProfile(&rec); !s.ok()) {
    return absl::StrCat("calibration not kept: ", s.message());
  }
  return absl::StrCat("calibrated profile ", rec.id, " version ", rec.version, " from ",
                      job.calibrate_from.size(), " trace(s)");
}

}  // namespace faultlab::server
