// Calibration on the server (docs/cost-model.md "Calibration on the
// server"): when a board's trace with a fault stream has been replayed, the
// server fits that board's fault-path costs to what it measured — over the
// board's newest traces with a stream, in a sandboxed worker, as
// `faultlab calibrate` would — and keeps the newest profile per board
// (Store::SaveBoardProfile). Replays and what-ifs of the board's traces then
// use its costs, and their reports say so (`costs:`).
//
// Only board traces use them: a twin trace's latencies are the twin's own
// outputs, which its replay checks, so other costs would read as a
// divergence. And only traces recorded on the profile the calibration was
// fitted on (its `base`), under a what-if that keeps that profile.
#ifndef FAULTLAB_SERVER_REPLAY_CALIBRATION_H_
#define FAULTLAB_SERVER_REPLAY_CALIBRATION_H_

#include <optional>
#include <string>
#include <vector>

#include "proto/trace.pb.h"
#include "server/replay/sandbox.h"
#include "server/store/store.h"

namespace faultlab::server {

// At most this many of a board's newest traces with a stream, and bytes of
// them, go into one calibration (each is replayed twice).
constexpr size_t kCalibrationTraces = 16;
constexpr uint64_t kCalibrationBytes = 256ULL << 20;

// The calibrated profile's id for `board`: the board's name with anything
// but [A-Za-z0-9._-] as '_', then "-calibrated".
std::string CalibratedProfileId(const std::string& board);

// The calibrated profile whose costs replays of a trace with header `h`
// use: its board's, for a board trace recorded on the profile it was
// fitted on; nullopt otherwise (one store query).
std::optional<BoardProfileRecord> BoardCostsFor(Store* store, const trace::TraceHeader& h);

// Sets `p`'s costs into `job` (costs_profile, costs_source) unless `what_if`
// ("key=value" terms) names another profile; returns p's version, or 0 when
// the replay keeps its profile's own costs.
uint64_t UseBoardCosts(const std::optional<BoardProfileRecord>& p,
                       const std::vector<std::string>& what_if, SandboxJob* job);

// Calibrates `board` from its newest traces with a fault stream, unless the
// profile kept already used the newest of them. Returns what happened, as a
// line for the server's log.
std::string CalibrateBoard(Store* store, Sandbox* sandbox, const std::string& board);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_CALIBRATION_H_
