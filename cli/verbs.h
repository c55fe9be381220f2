// The CLI's verbs (docs/cli.md): each a function from parsed Args to its
// exit code (exit.h). main.cc holds the table of them — names, help, flags.
#ifndef FAULTLAB_CLI_VERBS_H_
#define FAULTLAB_CLI_VERBS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/replay/replayer.h"
#include "lib/args/args.h"
#include "lib/html/report_html.h"

namespace faultlab::cli {

using args::Args;

// How verbs answer (output.cc).
// Prints "faultlab: MESSAGE" and returns the status's exit code.
int Fail(const absl::Status& s);
// Writes `html` to --html's path; the exit code.
int WriteHtml(const Args& args, const std::string& html);
// Pads NAME to WIDTH columns, always leaving at least one space.
std::string PadTo(const std::string& name, size_t width);

// A trace file read and shown (trace_verbs.cc).
int RunDump(const Args& args);
int RunStat(const Args& args);
int RunSynth(const Args& args);
int RunBoardLog(const Args& args);
// A profile's costs fitted to board traces (calibrate_verb.cc).
int RunCalibrate(const Args& args);

// The twin, run here (twin_verbs.cc).
int RunRecord(const Args& args);
int RunReplay(const Args& args);  // with --server: RunRemoteReplay
int RunReport(const Args& args);  // a file here; else RunRemoteReport
int RunDiff(const Args& args);
int RunProfiles(const Args& args);
int RunWorkloads(const Args& args);

// The verbs that talk to a faultlab-server are in remote.h.

}  // namespace faultlab::cli

#endif  // FAULTLAB_CLI_VERBS_H_
