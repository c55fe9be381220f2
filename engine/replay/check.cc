#include "engine/replay/check.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/dev/device.h"
#include "engine/trace/text.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::replay {

namespace {

bool IsKernelLogMarker(const trace::Event& e) {
  return e.kind == trace::EVENT_MARKER && absl::StartsWith(e.marker.label, "kernel_log:") &&
         !absl::StrContains(e.marker.label, ": unreadable");
}

bool Unhandled(const trace::Event& e) {
  return e.kind == trace::EVENT_MMU_FAULT && e.fault.outcome != trace::FAULT_HANDLED &&
         e.fault.outcome != trace::FAULT_DEGRADED;
}

std::string Addresses(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  std::string s = absl::StrCat(v.size(), v.empty() ? "" : " at");
  for (uint64_t a : v) absl::StrAppend(&s, " 0x", absl::Hex(a));
  return s;
}

// `a` and `b` with the table's masked ranges zeroed in both.
void Mask(const uapi::IoctlDesc& d, std::string* a, std::string* b) {
  for (const auto& [at, n] : d.masked) {
    if (a->size() >= at + n && b->size() >= at + n) {
      a->replace(at, n, n, '\0');
      b->replace(at, n, n, '\0');
    }
  }
}

}  // namespace

void Checker::OnEvent(const trace::Event& got) {
  r_->summary.Add(got);
  if (opts_.on_output) opts_.on_output(got);
  const uint64_t index = r_->events++;
  if (norm_->board() && IsKernelLogMarker(got)) kernel_log_ = true;
  // A board recording holds only what a program sees; the twin's modelled
  // events (faults, jobs, ...) are counted, not compared.
  if (!norm_->Observable(got.kind)) {
    if (Unhandled(got)) got_unhandled_.push_back(got.fault.address);
  } else if (compare_ && (r_->divergences.empty() || opts_.keep_going)) {
    trace::Event want;
    if (!NextExpected(&want)) {
      Diverge(index, "(end of the recorded trace)", trace::FormatEvent(index, got));
    } else if (norm_->board() ? !BoardEqual(want, got) : !(want == got)) {
      Diverge(index, trace::FormatEvent(expected_->event_index(), want),
              trace::FormatEvent(index, got));
    }
  }
  Remember(index, got);
}

void Checker::Remember(uint64_t index, const trace::Event& e) {
  if (opts_.context_events == 0) return;
  if (context_.size() < opts_.context_events) context_.resize(opts_.context_events);
  Seen& s = context_[context_next_];
  context_next_ = (context_next_ + 1) % context_.size();
  context_size_ = std::min(context_size_ + 1, context_.size());
  s.index = index;
  s.event.kind = e.kind;
  s.event.virtual_ns = e.virtual_ns;
  s.line.clear();
  switch (e.kind) {
    case trace::EVENT_MMU_FAULT:
      s.event.fault = e.fault;
      break;
    case trace::EVENT_JOB_ACCESS:
      s.event.access = e.access;
      break;
    case trace::EVENT_ALLOC_FAILURE:
      s.event.alloc_failure = e.alloc_failure;
      break;
    case trace::EVENT_HEAP_GROW:
      s.event.heap_grow = e.heap_grow;
      break;
    case trace::EVENT_CPU_MAP:
      s.event.cpu_map = e.cpu_map;
      break;
    case trace::EVENT_STATE_HASH:
      s.event.state_hash = e.state_hash;
      break;
    case trace::EVENT_FILE:
      s.event.file_op = e.file_op;
      break;
    case trace::EVENT_IOCTL:
    case trace::EVENT_MARKER:
      KeepBytes(e, &s);  // copied: cheaper than formatting every one
      break;
    default:  // byte fields are views: valid only during this call
      s.line = trace::FormatEvent(index, e);
      break;
  }
}

// An ioctl's or marker's byte fields (views valid only while the device
// emits it) copied into `s->bytes`, the event's views pointed there.
void Checker::KeepBytes(const trace::Event& e, Seen* s) {
  s->bytes.clear();
  if (e.kind == trace::EVENT_MARKER) {
    s->bytes.assign(e.marker.label.data(), e.marker.label.size());
    s->event.marker = e.marker;
    s->event.marker.label = s->bytes;
    return;
  }
  const trace::Ioctl& in = e.ioctl;
  s->bytes.append(in.arg_in.data(), in.arg_in.size());
  s->bytes.append(in.arg_out.data(), in.arg_out.size());
  for (const trace::UserBytes& u : in.user_in) s->bytes.append(u.data.data(), u.data.size());
  for (const trace::UserBytes& u : in.user_out) s->bytes.append(u.data.data(), u.data.size());
  trace::Ioctl& out = s->event.ioctl;
  out = in;  // vectors keep their capacity from earlier events
  size_t at = 0;
  auto point = [&](absl::string_view* v) {  // the same field's bytes in the copy
    *v = absl::string_view(s->bytes).substr(at, v->size());
    at += v->size();
  };
  point(&out.arg_in);
  point(&out.arg_out);
  for (trace::UserBytes& u : out.user_in) point(&u.data);
  for (trace::UserBytes& u : out.user_out) point(&u.data);
}

std::vector<std::string> Checker::Context() const {
  std::vector<std::string> out;
  const size_t n = context_.size();
  for (size_t i = 0; i < context_size_; ++i) {
    const Seen& s = context_[(context_next_ + n - context_size_ + i) % n];
    out.push_back(s.line.empty() ? trace::FormatEvent(s.index, s.event) : s.line);
  }
  return out;
}

void Checker::Diverge(uint64_t index, std::string expected, std::string got) {
  ++r_->divergence_count;
  if (r_->divergences.size() >= 100) return;
  Divergence d;
  d.index = index;
  d.expected = std::move(expected);
  d.got = std::move(got);
  d.context = Context();
  r_->divergences.push_back(std::move(d));
}

void Checker::CheckEnd() {
  if (!compare_ || (!r_->divergences.empty() && !opts_.keep_going)) return;
  trace::Event want;
  if (NextExpected(&want)) {
    Diverge(r_->events, trace::FormatEvent(expected_->event_index(), want),
            "(the replay produced nothing more)");
    return;
  }
  // Board traces with the kernel log collected: the faults the kernel could
  // not handle are the ones the twin could not (by address).
  if (norm_->board() && kernel_log_) {
    const std::string want_faults = Addresses(expected_unhandled_),
                      got_faults = Addresses(got_unhandled_);
    if (want_faults != got_faults) {
      Diverge(r_->events, "unhandled faults in the board's kernel log: " + want_faults,
              "unhandled faults in the replay: " + got_faults);
    }
  }
}

bool Checker::NextExpected(trace::Event* want) {
  for (;;) {
    if (!expected_->Next(want)) return false;
    if (!norm_->board()) return true;
    if (want->kind == trace::EVENT_MMU_FAULT &&
        want->fault.latency_source == trace::LATENCY_UNKNOWN) {
      expected_unhandled_.push_back(want->fault.address);  // from the kernel log
    }
    // Inputs only (CPU maps, streams), kernel facts, and calls the replay
    // did not make.
    if (!norm_->Observable(want->kind)) continue;
    if (norm_->RoleOf(*want) == Normaliser::Role::kTakenFromRecording) continue;
    return true;
  }
}

// What a board recording and the twin must agree on: every ioctl's errno
// and what it returned (handles, VM ids, rounded sizes, VAs, group states,
// ...) as the ioctl table's board rule says.
bool Checker::BoardEqual(const trace::Event& want, const trace::Event& got) {
  if (want.kind != got.kind) return false;
  if (want.kind == trace::EVENT_MARKER) return want.marker == got.marker;
  if (want.kind == trace::EVENT_FILE) return want.file_op == got.file_op;
  const trace::Ioctl& w = want.ioctl;
  const trace::Ioctl& g = got.ioctl;
  if (w.file != g.file || w.request != g.request) return false;
  // Ioctls the twin leaves out (newer drivers', DRM core ones it answers
  // -ENOSYS) change nothing it models: their outcome is the board's.
  if (!norm_->Models(w.request)) {
    ++r_->not_modelled;
    return true;
  }
  if (w.result != g.result) return false;
  const uapi::IoctlDesc& desc = *uapi::FindIoctl(w.request);
  if (desc.board == uapi::BoardRule::kTakeOutputs) {
    ++r_->injected;
    return true;
  }
  if (!w.arg_out.empty() && !g.arg_out.empty()) {
    std::string a(w.arg_out), b(g.arg_out);
    if (norm_->NormaliseArgOut(w.request, &a)) ++r_->not_modelled;
    Mask(desc, &a, &b);
    if (a != b) return false;
  }
  for (const trace::UserBytes& u : w.user_out) {
    bool found = false;
    for (const trace::UserBytes& v : g.user_out) {
      if (v.address == u.address) found = v.data == u.data;
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace faultlab::replay
