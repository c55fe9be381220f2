#include "agents/agent.h"

#include <prometheus/text_serializer.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agents/families.h"
#include "engine/replay/recorder.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "lib/host/host.h"
#include "lib/mesa/mesa.h"
#include "lib/metrics/family.h"
#include "lib/upload/upload.h"

namespace faultlab::agent {
namespace {

double WallClockSeconds() { return static_cast<double>(host::WallClockNs()) * 1e-9; }

// Errors retrying cannot fix: the trace is damaged, or conflicts with what
// the server holds.
bool Permanent(absl::StatusCode c) {
  return c == absl::StatusCode::kDataLoss || c == absl::StatusCode::kInvalidArgument ||
         c == absl::StatusCode::kAlreadyExists || c == absl::StatusCode::kFailedPrecondition ||
         c == absl::StatusCode::kNotFound;
}

}  // namespace

absl::StatusOr<replay::WhatIf> Settings(const AgentOptions& o) {
  replay::WhatIf s;
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"profile", o.profile},
                                   {"variant", o.variant},
                                   {"policy", o.policy},
                                   {"thp", o.thp},
                                   {"budget", o.budget}}) {
    if (value.empty()) continue;
    if (absl::Status st = replay::SetWhatIf(key, value, &s); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", st.message()));
    }
  }
  return s;
}

Agent::Agent(AgentOptions options, std::shared_ptr<grpc::Channel> channel, Spool* spool)
    : opt_(std::move(options)),
      channel_(std::move(channel)),
      spool_(spool),
      registry_(std::make_shared<prometheus::Registry>()) {
  using namespace families;  // NOLINT: the list, name by name
  prometheus::Registry& r = *registry_;
  const std::string& b = opt_.board;
  auto counter = [&](const metrics::Family& f) {
    return &metrics::AddCounter(r, f).Add(metrics::Labels(f, {b}));
  };
  auto gauge = [&](const metrics::Family& f) {
    return &metrics::AddGauge(r, f).Add(metrics::Labels(f, {b}));
  };
  runs_recorded_ = counter(kRunsRecorded);
  events_recorded_ = counter(kEventsRecorded);
  record_failures_ = counter(kRecordFailures);
  chunks_acked_ = counter(kChunksAcked);
  auto& uploads = metrics::AddCounter(r, kUploads);
  uploads_ok_ = &uploads.Add(metrics::Labels(kUploads, {b, "ok"}));
  uploads_failed_ = &uploads.Add(metrics::Labels(kUploads, {b, "failed"}));
  uploads_rejected_ = &uploads.Add(metrics::Labels(kUploads, {b, "rejected"}));
  spool_bytes_ = gauge(kSpoolBytes);
  spool_traces_ = gauge(kSpoolTraces);
  spool_full_ = gauge(kSpoolFull);
  server_up_ = gauge(kServerUp);
  failures_in_a_row_ = gauge(kUploadFailuresInARow);
  last_upload_ = gauge(kLastUpload);
  spool_bytes_->Set(static_cast<double>(spool_->bytes()));
  spool_traces_->Set(static_cast<double>(spool_->traces()));
}

Agent::~Agent() {
  Stop();
  if (recorder_.joinable()) recorder_.join();
  if (uploader_.joinable()) uploader_.join();
}

void Agent::Start() {
  recorder_ = std::thread([this] { RecordLoop(); });
  uploader_ = std::thread([this] { UploadLoop(); });
}

void Agent::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool Agent::Drained() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recording_done_ && spool_->traces() == 0;
}

bool Agent::WaitDrained(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [this] { return stop_ || (recording_done_ && spool_->traces() == 0); };
  if (timeout.count() == 0) {
    cv_.wait(lock, done);
  } else {
    cv_.wait_for(lock, timeout, done);
  }
  return recording_done_ && spool_->traces() == 0;
}

bool Agent::Pause(uint64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

void Agent::Say(const std::string& line) const {
  std::cerr << "faultlab-agent[" << opt_.board << "]: " << line << "\n";
}

std::string Agent::Scrape() const {
  spool_bytes_->Set(static_cast<double>(spool_->bytes()));
  spool_traces_->Set(static_cast<double>(spool_->traces()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

std::string Agent::Health() const {
  if (spool_full_->Value() > 0) return "spool full: recording paused";
  if (failures_in_a_row_->Value() >= 5) {
    return absl::StrCat("the last ", static_cast<int>(failures_in_a_row_->Value()),
                        " uploads failed");
  }
  return "";
}

absl::Status Agent::RecordOne(uint64_t run) {
  const std::string& name = opt_.workloads[(run - 1) % opt_.workloads.size()];
  if (mesa::FindWorkload(name) != nullptr) {
    if (!opt_.run_program) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " runs a program: only faultlab-agent runs it"));
    }
    absl::StatusOr<uint64_t> events = opt_.run_program(name);
    if (!events.ok()) return events.status();
    runs_recorded_->Increment();
    events_recorded_->Increment(static_cast<double>(*events));
    return absl::OkStatus();
  }
  const workload::WorkloadInfo* info = workload::FindWorkload(name);
  if (info == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("unknown workload '", name, "'"));
  absl::StatusOr<replay::WhatIf> settings = Settings(opt_);
  if (!settings.ok()) return settings.status();
  absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig(name, *settings, opt_.pressure);
  if (!cfg.ok()) return cfg.status();
  cfg->seed = opt_.seed + run - 1;
  cfg->fault_cost_permille = opt_.fault_cost_permille;
  const std::string id = host::TraceId();
  const std::string hex = absl::BytesToHexString(id);
  const std::string part = spool_->NewPart(hex);
  auto sink = trace::FileSink::Open(part);
  if (!sink.ok()) return sink.status();
  const uint32_t frames = opt_.frames ? opt_.frames : info->default_frames;
  trace::TraceHeader header =
      replay::MakeHeader(*cfg, name, opt_.board, id, host::WallClockNs(), frames);
  for (const auto& [key, value] : opt_.labels) {
    trace::ConfigEntry* e = header.add_config();
    e->set_key("label." + key);
    e->set_value(value);
  }
  trace::TraceWriter writer(sink->get(), header);
  replay::Recorder rec(&writer);
  dev::Device device(*cfg);
  device.set_observer(&rec);
  absl::Status s = workload::RunWorkload({name, cfg->seed, frames}, device);
  device.set_observer(nullptr);
  if (s.ok()) s = rec.Finish();
  if (s.ok()) s = (*sink)->Sync();
  if (s.ok()) s = (*sink)->Close();
  if (s.ok()) s = spool_->Commit(part, hex, writer.events_written());
  if (!s.ok()) {
    spool_->Discard(part);
    return s;
  }
  runs_recorded_->Increment();
  events_recorded_->Increment(static_cast<double>(writer.events_written()));
  return absl::OkStatus();
}

void Agent::RecordLoop() {
  if (!opt_.record) {
    std::lock_guard<std::mutex> lock(mu_);
    recording_done_ = true;
    return;
  }
  bool said_full = false;
  uint64_t backoff = opt_.backoff_min_ms;
  for (uint64_t run = 1; opt_.runs == 0 || run <= opt_.runs;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    if (spool_->Full()) {
      if (!said_full) {
        Say(absl::StrCat("spool full (", spool_->bytes(), " of ", spool_->max_bytes(), " bytes in ",
                         spool_->dir(), "): recording paused until uploads free space"));
        said_full = true;
      }
      spool_full_->Set(1);
      if (!Pause(200)) break;
      continue;
    }
    if (said_full) Say("spool has room again: recording resumed");
    said_full = false;
    spool_full_->Set(0);
    if (absl::Status s = RecordOne(run); !s.ok()) {
      record_failures_->Increment();
      Say(absl::StrCat("run ", run, ": recording failed, will retry: ", s.message()));
      if (s.code() == absl::StatusCode::kInvalidArgument) {
        Say("the schedule itself is wrong; recording stops");
        break;
      }
      if (!Pause(backoff)) break;
      backoff = std::min(backoff * 2, opt_.backoff_max_ms);
      continue;
    }
    backoff = opt_.backoff_min_ms;
    cv_.notify_all();  // the uploader has work
    ++run;
    if ((opt_.runs == 0 || run <= opt_.runs) && opt_.interval_ms > 0 && !Pause(opt_.interval_ms))
      break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    recording_done_ = true;
  }
  cv_.notify_all();
}

void Agent::UploadLoop() {
  upload::UploadOptions uo;
  uo.token = opt_.token;
  uint64_t last_acked = 0;
  uo.on_ack = [this, &last_acked](uint64_t n) {
    if (n > last_acked) chunks_acked_->Increment(static_cast<double>(n - last_acked));
    last_acked = n;
  };
  uint64_t backoff = opt_.backoff_min_ms, failures = 0;
  for (;;) {
    std::optional<std::string> path = spool_->Oldest();
    if (!path) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.notify_all();  // WaitDrained
      cv_.wait_for(lock, std::chrono::milliseconds(200),
                   [this] { return stop_ || spool_->traces() > 0; });
      if (stop_) return;
      continue;
    }
    last_acked = 0;
    absl::StatusOr<upload::UploadResult> r = upload::UploadTrace(channel_, *path, uo);
    if (r.ok()) {
      if (absl::Status s = spool_->Uploaded(*path, opt_.archive_dir); !s.ok()) {
        Say(absl::StrCat("uploaded, but the spool could not let go of it: ", s.message()));
        if (!Pause(opt_.backoff_max_ms)) return;
        continue;
      }
      if (failures > 0)
        Say(absl::StrCat("server ", opt_.server, " reachable again after ", failures,
                         " failed attempt(s)"));
      failures = 0;
      backoff = opt_.backoff_min_ms;
      uploads_ok_->Increment();
      server_up_->Set(1);
      failures_in_a_row_->Set(0);
      last_upload_->Set(WallClockSeconds());
      spool_bytes_->Set(static_cast<double>(spool_->bytes()));
      spool_traces_->Set(static_cast<double>(spool_->traces()));
      cv_.notify_all();
      continue;
    }
    if (Permanent(r.status().code())) {
      uploads_rejected_->Increment();
      server_up_->Set(1);
      Say(absl::StrCat(*path, ": refused for good, kept in ", spool_->dir(),
                       "/rejected: ", r.status().message()));
      if (absl::Status s = spool_->Rejected(*path, std::string(r.status().message())); !s.ok()) {
        Say(std::string(s.message()));
        if (!Pause(opt_.backoff_max_ms)) return;
      }
      continue;
    }
    uploads_failed_->Increment();
    ++failures;
    failures_in_a_row_->Set(static_cast<double>(failures));
    const bool reached = r.status().code() == absl::StatusCode::kResourceExhausted ||
                         r.status().code() == absl::StatusCode::kUnauthenticated ||
                         r.status().code() == absl::StatusCode::kPermissionDenied;
    server_up_->Set(reached ? 1 : 0);
    if (failures == 1 || failures % 20 == 0) {
      Say(absl::StrCat("upload to ", opt_.server, " failed (attempt ", failures,
                       "), retrying with backoff; ", spool_->traces(),
                       " trace(s) wait in the spool: ", r.status().message()));
    }
    const bool auth = r.status().code() == absl::StatusCode::kUnauthenticated ||
                      r.status().code() == absl::StatusCode::kPermissionDenied;
    if (!Pause(auth ? opt_.backoff_max_ms : backoff)) return;
    backoff = std::min(backoff * 2, opt_.backoff_max_ms);
  }
}

}  // namespace faultlab::agent
