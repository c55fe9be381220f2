#include "engine/replay/replayer.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/replay/apply.h"
#include "engine/replay/board_faults.h"
#include "engine/replay/check.h"
#include "engine/replay/normalise.h"
#include "engine/replay/rewrite.h"
#include "engine/replay/validate.h"
#include "engine/replay/version.h"
#include "engine/trace/reader.h"

namespace faultlab::replay {

namespace {

// The trace's readers: one for inputs, one for expectations.
struct Readers {
  std::unique_ptr<trace::ByteSource> in_src, want_src;
  std::unique_ptr<trace::TraceReader> inputs, expected;
};

absl::Status OpenReaders(
    const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
    const std::string& name, bool skip_damaged, Readers* r) {
  for (auto* src : {&r->in_src, &r->want_src}) {
    absl::StatusOr<std::unique_ptr<trace::ByteSource>> s = open();
    if (!s.ok()) return s.status();
    *src = *std::move(s);
  }
  trace::ReaderOptions ropts;
  ropts.skip_damaged = skip_damaged;
  r->inputs = std::make_unique<trace::TraceReader>(r->in_src.get(), name, ropts);
  r->expected = std::make_unique<trace::TraceReader>(r->want_src.get(), name, ropts);
  if (absl::Status s = r->inputs->Open(); !s.ok()) return s;
  if (absl::Status s = r->expected->Open(); !s.ok()) return s;
  if (r->inputs->header().capture_source() == trace::CAPTURE_SOURCE_SYNTHETIC) {
    // Synthetic events were never produced by the model: there is nothing to
    // check them against (engine/trace/synthetic.h).
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        ": a synthetic trace (from 'faultlab synth') cannot be replayed: its outputs were not "
        "produced by the model; record one with 'faultlab record'"));
  }
  return absl::OkStatus();
}

// `read` over the whole trace, before the replay (what comes later in it:
// the labels of BOs, a board's fault stream).
template <typename Read>
auto ScanWhole(const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
               const std::string& name, bool skip_damaged, Read read)
    -> decltype(read(std::declval<trace::TraceReader&>())) {
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> src = open();
  if (!src.ok()) return src.status();
  trace::ReaderOptions ropts;
  ropts.skip_damaged = skip_damaged;
  trace::TraceReader reader(src->get(), name, ropts);
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  return read(reader);
}

// A recorded output: on a board capture, what the board itself said.
void CountRecorded(const trace::Event& e, ReplayResult* r) {
  if (!r->board || e.kind != trace::EVENT_MMU_FAULT) return;
  if (e.fault.latency_source == trace::LATENCY_UNKNOWN) ++r->recorded_unhandled;
  if (e.fault.latency_source == trace::LATENCY_RECORDED) {
    ++r->recorded_measured;
    r->recorded_stream += e.fault.raised_ns != 0;
    r->recorded.Add(e);
  }
}

// A problem of the recording's event `index`, in the chunk at `offset`:
// "NAME: offset N: event E: problem", like the reader's.
absl::Status Located(const std::string& name, uint64_t offset, uint64_t index,
                     const absl::Status& s) {
  return absl::Status(
      s.code(), absl::StrCat(name, ": offset ", offset, ": event ", index, ": ", s.message()));
}

// The input loop: every recorded event normalised, then applied (or
// counted). `e` holds the first event; returns the first error.
absl::Status ApplyAll(const std::string& name, trace::TraceReader& inputs, const Normaliser& norm,
                      Applier& apply, trace::Event& e, const ReplayOptions& options,
                      ReplayResult* r) {
  bool have = true;
  while (have) {
    const Normaliser::Role role = norm.RoleOf(e);
    if (role == Normaliser::Role::kOutput) {
      CountRecorded(e, r);
      have = inputs.Next(&e);
      continue;
    }
    ++r->inputs;
    if (options.on_input) options.on_input(r->inputs);
    if (role == Normaliser::Role::kTakenFromRecording) {
      ++r->injected;
      have = inputs.Next(&e);
      continue;
    }
    trace::FileOp op;
    absl::Status s;
    const uint64_t chunk_offset = inputs.chunk_offset(), index = inputs.event_index();
    switch (e.kind) {
      case trace::EVENT_IOCTL:
        s = apply.Ioctl(e.ioctl);
        break;
      case trace::EVENT_CS_SUBMIT:
        apply.CsSubmit(e.cs_submit);
        break;
      case trace::EVENT_JOB_ACCESS: {
        // One job: consecutive ranges with the same job number.
        const trace::JobAccess first = e.access;
        std::vector<gpu::GpuAccess> ranges;
        while (have && e.kind == trace::EVENT_JOB_ACCESS && e.access.job == first.job) {
          if (ranges.size() == kMaxJobRanges) {
            s = absl::DataLossError(absl::StrCat("job ", first.job, " has more than ",
                                                 kMaxJobRanges, " access ranges"));
            break;
          }
          const bool oom = e.access.access == trace::ACCESS_TYPE_UNSPECIFIED;
          ranges.push_back({e.access.va, e.access.length_bytes, e.access.stride_bytes,
                            oom ? trace::ACCESS_WRITE : e.access.access, oom});
          have = inputs.Next(&e);
        }
        if (!s.ok()) return Located(name, chunk_offset, index, s);
        apply.Job(first, std::move(ranges));
        continue;  // `e` is already the next event
      }
      case trace::EVENT_FILE:
        s = apply.File(e.file_op, /*legacy=*/false);
        break;
      case trace::EVENT_MARKER:
        if (Normaliser::LegacyFileOp(e, &op)) {
          s = apply.File(op, /*legacy=*/true);
        } else {
          apply.Marker(e.marker);
        }
        break;
      case trace::EVENT_STATE_HASH:
        apply.StateHash();
        break;
      case trace::EVENT_CPU_MAP:
        apply.CpuMap(e.cpu_map);
        break;
      case trace::EVENT_GPU_RUN:
        s = apply.GpuRun(e.gpu_run);
        break;
      default:
        break;
    }
    if (!s.ok()) return Located(name, chunk_offset, index, s);
    have = inputs.Next(&e);
  }
  return inputs.status();
}

ReplayOutcome OutcomeOf(const ReplayResult& r, bool model_changed, bool what_if) {
  if (!r.status.ok()) return ReplayOutcome::kError;
  if (model_changed) return ReplayOutcome::kModelChanged;
  if (what_if) return ReplayOutcome::kWhatIf;
  return r.divergence_count ? ReplayOutcome::kDiverged : ReplayOutcome::kIdentical;
}

}  // namespace

ReplayResult Replay(const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
                    const std::string& name, const ReplayOptions& options) {
  ReplayResult r;
  Readers readers;
  if (absl::Status s = OpenReaders(open, name, options.skip_damaged, &readers); !s.ok()) {
    r.status = s;
    return r;
  }
  const trace::TraceHeader& header = readers.inputs->header();
  absl::StatusOr<dev::DeviceConfig> cfg = ConfigFromHeader(header);
  if (!cfg.ok()) {
    r.status = absl::Status(cfg.status().code(), absl::StrCat(name, ": ", cfg.status().message()));
    return r;
  }
  ApplyWhatIf(options.what_if, &*cfg);
  if (options.cost_model) {
    cfg->profile.cost = *options.cost_model;
    r.costs = options.cost_source.empty() ? "given" : options.cost_source;
    // One line of text in the report, a plain string in its JSON.
    for (char& ch : r.costs) {
      if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ch = '_';
    }
  }
  if (options.what_if.aof && !HasAllocOnFault(cfg->variant)) {
    r.status = absl::InvalidArgumentError(absl::StrCat(
        name, ": aof= makes BOs alloc-on-fault, which variant ", VariantName(cfg->variant),
        " does not have (the series' variants: series-fixed, series-v3)"));
    return r;
  }
  r.aof = options.what_if.aof.has_value();
  r.model_version = header.model_version();
  const bool model_changed = r.model_version != kModelVersion;
  const bool what_if = !options.what_if.empty();
  const bool compare = !what_if && !model_changed;

  const Normaliser norm(header, cfg->variant);
  r.board = norm.board();
  std::unique_ptr<Rewriter> rewrite =
      compare ? nullptr : std::make_unique<Rewriter>(options.what_if);
  auto scan = [&](auto read) { return ScanWhole(open, name, options.skip_damaged, read); };
  if (rewrite && options.what_if.aof && options.what_if.aof->label) {
    // aof=label=...: a BO's label comes after its creation; read them first.
    auto labels = scan([](trace::TraceReader& reader) { return ScanBoLabels(reader); });
    if (!labels.ok()) {
      r.status = labels.status();
      return r;
    }
    rewrite->set_labels(*std::move(labels));
  }
  // A board trace with a fault stream: its GPU work from the recorded faults.
  BoardFaults board_faults;
  if (r.board && options.gpu_work != ReplayOptions::GpuWork::kModel) {
    absl::StatusOr<BoardFaults> scanned =
        scan([](trace::TraceReader& reader) { return ScanBoardFaults(reader); });
    if (!scanned.ok()) {
      r.status = scanned.status();
      return r;
    }
    board_faults = *std::move(scanned);
    r.from_recorded_faults =
        board_faults.recorded > 0 || options.gpu_work == ReplayOptions::GpuWork::kRecorded;
    r.faults_unattributed = board_faults.unattributed;
    cfg->model_footprints = !r.from_recorded_faults;
    // The board faulted once per populated granule of what it allocated on
    // fault: accesses it never faulted on are not in the stream.
    if (r.from_recorded_faults && options.what_if.granularity_bytes) {
      r.not_derivable = "granularity: the board faulted once per granule of its own granularity";
    } else if (r.from_recorded_faults && options.what_if.aof) {
      r.not_derivable = "aof: the board never faulted on BOs it did not allocate on fault";
    }
  }
  dev::Device device(*cfg);
  Checker check(readers.expected.get(), &norm, options, &r, compare);
  device.set_observer(&check);
  if (options.on_fault_timing) device.set_fault_timing_observer(options.on_fault_timing);
  // Whatever the device emits while it is torn down (files closed on every
  // return path) is not part of the replay, and the checker dies first.
  struct Detach {
    dev::Device& d;
    ~Detach() { d.set_observer(nullptr); }
  } detach{device};
  Applier apply(&device, &norm, rewrite.get(), &r);
  if (r.from_recorded_faults) apply.set_board_faults(&board_faults);

  trace::Event e;
  if (readers.inputs->Next(&e))
    r.status = ApplyAll(name, *readers.inputs, norm, apply, e, options, &r);
  if (r.status.ok()) r.status = readers.inputs->status();
  if (!r.status.ok()) {
    r.outcome = ReplayOutcome::kError;
    return r;
  }
  check.CheckEnd();
  if (compare && !readers.expected->status().ok() && r.divergences.empty())
    r.status = readers.expected->status();
  r.device = device.stats();
  if (rewrite) {
    r.ids_remapped = rewrite->remapped();
    r.granularity_clamped = rewrite->granularity_clamped();
    r.aof_converted_bos = rewrite->aof_converted_bos();
    r.aof_converted_bytes = rewrite->aof_converted_bytes();
  }
  r.peak_resident_bytes = device.memory().peak_used_pages() * 4096;
  r.outcome = OutcomeOf(r, model_changed, what_if);
  return r;
}

}  // namespace faultlab::replay
