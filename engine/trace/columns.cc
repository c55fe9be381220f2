#include "engine/trace/columns.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/trace/varint.h"

namespace faultlab::trace {
namespace {

constexpr uint8_t PartOf(ColumnEncoding e) {
  return e == ColumnEncoding::kData ? 1 : e == ColumnEncoding::kCount ? 2 : 0;
}

constexpr uint32_t MakeId(uint8_t kind, uint8_t field, uint8_t sub, ColumnEncoding e) {
  return static_cast<uint32_t>(kind) << 16 | static_cast<uint32_t>(field) << 8 |
         static_cast<uint32_t>(sub) << 4 | PartOf(e);
}

constexpr std::array<ColumnInfo, kNumColumns> kColumns = {{
#define FAULTLAB_COL_INFO(name, kind, field, sub, enc, proto_name) \
  ColumnInfo{MakeId(kind, field, sub, ColumnEncoding::enc),        \
             kind,                                                 \
             field,                                                \
             sub,                                                  \
             ColumnEncoding::enc,                                  \
             #name,                                                \
             proto_name},
    FAULTLAB_TRACE_COLUMNS(FAULTLAB_COL_INFO)
#undef FAULTLAB_COL_INFO
}};

// Column index by id, sorted by id, for the directory lookup.
struct IdIndex {
  std::array<std::pair<uint32_t, Col>, kNumColumns> sorted;
  IdIndex() {
    for (int i = 0; i < kNumColumns; ++i) sorted[i] = {kColumns[i].id, static_cast<Col>(i)};
    std::sort(sorted.begin(), sorted.end());
  }
  bool Find(uint32_t id, Col* out) const {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), std::make_pair(id, Col{}));
    if (it == sorted.end() || it->first != id) return false;
    *out = it->second;
    return true;
  }
};

const IdIndex& Index() {
  static const IdIndex* index = new IdIndex();
  return *index;
}

inline size_t I(Col c) { return static_cast<size_t>(c); }

}  // namespace

const std::array<ColumnInfo, kNumColumns>& Columns() { return kColumns; }

// ---------------------------------------------------------------------------
// Encoder

ChunkEncoder::ChunkEncoder() = default;

inline void ChunkEncoder::PutU(Col c, uint64_t v) {
  std::string& s = cols_[I(c)];
  const size_t before = s.size();
  PutVarint(s, v);
  raw_bytes_ += s.size() - before;
}

inline void ChunkEncoder::PutSparseU(Col c, uint64_t v) {
  uint32_t& zeros = sparse_zeros_[I(c)];
  if (v == 0 && cols_[I(c)].empty()) {
    ++zeros;
    return;
  }
  for (; zeros > 0; --zeros) PutU(c, 0);
  PutU(c, v);
}

inline void ChunkEncoder::PutZ(Col c, int64_t v) { PutU(c, ZigZag(v)); }

inline void ChunkEncoder::PutD(Col c, uint64_t v) {
  const uint64_t delta = v - prev_[I(c)];  // wraps; decoder adds back modulo 2^64
  prev_[I(c)] = v;
  PutU(c, ZigZag(static_cast<int64_t>(delta)));
}

inline void ChunkEncoder::PutF(Col c, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  cols_[I(c)].append(b, 8);
  raw_bytes_ += 8;
}

inline void ChunkEncoder::PutB(Col len, Col data, absl::string_view bytes) {
  PutU(len, bytes.size());
  cols_[I(data)].append(bytes.data(), bytes.size());
  raw_bytes_ += bytes.size();
}

void ChunkEncoder::PutCopies(Col count, Col addr, Col len, Col data,
                             const std::vector<UserBytes>& copies) {
  PutU(count, copies.size());
  for (const UserBytes& u : copies) {
    PutD(addr, u.address);
    PutB(len, data, u.data);
  }
}

void ChunkEncoder::Put(const Ioctl& x) {
  PutU(Col::IoctlFile, x.file);
  PutU(Col::IoctlRequest, x.request);
  PutZ(Col::IoctlResult, x.result);
  PutB(Col::IoctlArgInLen, Col::IoctlArgInData, x.arg_in);
  PutB(Col::IoctlArgOutLen, Col::IoctlArgOutData, x.arg_out);
  PutCopies(Col::IoctlUserInCount, Col::IoctlUserInAddr, Col::IoctlUserInLen, Col::IoctlUserInData,
            x.user_in);
  PutCopies(Col::IoctlUserOutCount, Col::IoctlUserOutAddr, Col::IoctlUserOutLen,
            Col::IoctlUserOutData, x.user_out);
  PutD(Col::IoctlRecordedNs, x.recorded_ns);
  PutU(Col::IoctlDurationNs, x.duration_ns);
}

void ChunkEncoder::Put(const JobAccess& x) {
  PutD(Col::AccessJob, x.job);
  PutU(Col::AccessVm, x.vm);
  PutD(Col::AccessVa, x.va);
  PutU(Col::AccessLength, x.length_bytes);
  PutU(Col::AccessStride, x.stride_bytes);
  PutU(Col::AccessType, x.access);
  PutU(Col::AccessFile, x.file);
  PutU(Col::AccessGroup, x.group);
  PutU(Col::AccessQueue, x.queue);
  PutU(Col::AccessSignal, x.signal_syncobj);
}

void ChunkEncoder::Put(const CsSubmit& x) {
  PutU(Col::CsGroup, x.group);
  PutU(Col::CsQueue, x.queue);
  PutD(Col::CsStreamVa, x.stream_va);
  PutB(Col::CsWordsLen, Col::CsWordsData, x.words);
  PutCopies(Col::CsReadsCount, Col::CsReadsAddr, Col::CsReadsLen, Col::CsReadsData, x.reads);
  PutD(Col::CsJob, x.job);
}

void ChunkEncoder::Put(const MmuFault& x) {
  PutU(Col::FaultAs, x.as);
  PutU(Col::FaultVm, x.vm);
  PutD(Col::FaultAddress, x.address);
  PutU(Col::FaultStatus, x.status);
  PutU(Col::FaultOutcome, x.outcome);
  PutU(Col::FaultPages, x.pages);
  PutU(Col::FaultPtPages, x.pt_pages);
  PutU(Col::FaultMetadata, x.metadata);
  PutU(Col::FaultLatencyNs, x.latency_ns);
  PutU(Col::FaultLatencySource, x.latency_source);
  PutSparseU(Col::FaultRaisedNs, x.raised_ns);
  PutSparseU(Col::FaultWorkNs, x.work_ns);
}

void ChunkEncoder::Put(const AllocFailure& x) {
  PutU(Col::AllocKind, x.kind);
  PutU(Col::AllocClass, x.alloc_class);
  PutU(Col::AllocSize, x.size_bytes);
  PutU(Col::AllocVm, x.vm);
}

void ChunkEncoder::Put(const HeapGrow& x) {
  PutU(Col::HeapHandle, x.heap);
  PutU(Col::HeapVm, x.vm);
  PutU(Col::HeapRequested, x.requested_bytes);
  PutU(Col::HeapGranted, x.granted_bytes);
  PutU(Col::HeapFallback, x.fallback);
}

void ChunkEncoder::Put(const CpuMap& x) {
  PutU(Col::CpuFile, x.file);
  PutU(Col::CpuHandle, x.handle);
  PutU(Col::CpuOffset, x.offset);
  PutU(Col::CpuLength, x.length_bytes);
  PutZ(Col::CpuResult, x.result);
  PutU(Col::CpuUnmap, x.unmap);
  PutU(Col::CpuPopulated, x.populated_pages);
}

void ChunkEncoder::Put(const Oops& x) {
  PutB(Col::OopsFunctionLen, Col::OopsFunctionData, x.function);
  PutB(Col::OopsMessageLen, Col::OopsMessageData, x.message);
  PutU(Col::OopsVm, x.vm);
}

void ChunkEncoder::Put(const Marker& x) {
  PutU(Col::MarkerType, x.type);
  PutU(Col::MarkerId, x.id);
  PutB(Col::MarkerLabelLen, Col::MarkerLabelData, x.label);
}

void ChunkEncoder::Put(const StateHash& x) {
  PutU(Col::HashScope, x.scope);
  PutU(Col::HashObject, x.object);
  PutF(Col::HashValue, x.hash);
}

void ChunkEncoder::Put(const FileOp& x) {
  PutU(Col::FileId, x.file);
  PutU(Col::FileNodeType, x.node);
  PutU(Col::FileClose, x.close);
}

void ChunkEncoder::Put(const GpuRun& x) {
  PutD(Col::GpuRunUntil, x.until_ns);
  PutCopies(Col::GpuRunWritesCount, Col::GpuRunWritesAddr, Col::GpuRunWritesLen,
            Col::GpuRunWritesData, x.cpu_writes);
}

void ChunkEncoder::Append(const Event& e) {
  PutU(Col::Kind, e.kind);
  PutD(Col::Time, e.virtual_ns);
  switch (e.kind) {
    case EVENT_IOCTL:
      Put(e.ioctl);
      break;
    case EVENT_JOB_ACCESS:
      Put(e.access);
      break;
    case EVENT_CS_SUBMIT:
      Put(e.cs_submit);
      break;
    case EVENT_MMU_FAULT:
      Put(e.fault);
      break;
    case EVENT_ALLOC_FAILURE:
      Put(e.alloc_failure);
      break;
    case EVENT_HEAP_GROW:
      Put(e.heap_grow);
      break;
    case EVENT_CPU_MAP:
      Put(e.cpu_map);
      break;
    case EVENT_OOPS:
      Put(e.oops);
      break;
    case EVENT_MARKER:
      Put(e.marker);
      break;
    case EVENT_STATE_HASH:
      Put(e.state_hash);
      break;
    case EVENT_FILE:
      Put(e.file_op);
      break;
    case EVENT_GPU_RUN:
      Put(e.gpu_run);
      break;
    default:
      FAULTLAB_CHECK(false, "a writer appended an event of unknown kind ", e.kind);
  }
  ++event_count_;
}

std::string ChunkEncoder::Finish() {
  std::string block;
  block.reserve(raw_bytes_ + 4 * kNumColumns);
  // Ascending id order makes the block byte-stable; kColumns is not sorted by
  // id, so walk the sorted index.
  for (const auto& [id, col] : Index().sorted) {
    std::string& s = cols_[I(col)];
    if (s.empty()) continue;
    PutVarint(block, id);
    PutVarint(block, s.size());
    block.append(s);
    s.clear();
  }
  prev_.fill(0);
  sparse_zeros_.fill(0);
  event_count_ = 0;
  raw_bytes_ = 0;
  return block;
}

// ---------------------------------------------------------------------------
// Decoder

absl::Status ChunkDecoder::Reset(absl::string_view block, uint32_t event_count) {
  pos_.fill(nullptr);
  end_.fill(nullptr);
  prev_.fill(0);
  remaining_ = event_count;
  failed_ = false;
  status_ = absl::OkStatus();
  const char* p = block.data();
  const char* end = p + block.size();
  uint32_t last_id = 0;
  bool first = true;
  while (p < end) {
    uint64_t id, len;
    const char* at = p;
    p = GetVarint(p, end, &id);
    if (p != nullptr) p = GetVarint(p, end, &len);
    if (p == nullptr || len > static_cast<uint64_t>(end - p)) {
      return absl::DataLossError(absl::StrCat("column directory: bad entry at byte ",
                                              at - block.data(), " of ", block.size()));
    }
    if (id > 0xffffffffu || (!first && id <= last_id)) {
      return absl::DataLossError(absl::StrCat("column directory: column id ", id, " out of order"));
    }
    first = false;
    last_id = static_cast<uint32_t>(id);
    Col c;
    if (Index().Find(static_cast<uint32_t>(id), &c)) {
      pos_[I(c)] = p;
      end_[I(c)] = p + len;
    } else {
      ++unknown_columns_;  // a kind or field from a newer writer
    }
    p += len;
  }
  return absl::OkStatus();
}

void ChunkDecoder::Fail(Col c, const char* problem) {
  if (failed_) return;
  failed_ = true;
  status_ = absl::DataLossError(
      absl::StrCat("column ", kColumns[I(c)].name, " (id ", kColumns[I(c)].id, "): ", problem));
}

inline uint64_t ChunkDecoder::GetU(Col c) {
  // A column a chunk does not have at all reads as zeros: fields added later
  // (versioning rule: zero means "not recorded") stay readable in old traces.
  if (pos_[I(c)] == nullptr) return 0;
  uint64_t v;
  const char* p = GetVarint(pos_[I(c)], end_[I(c)], &v);
  if (p == nullptr) {
    Fail(c, pos_[I(c)] == end_[I(c)] ? "ends early" : "bad varint");
    return 0;
  }
  pos_[I(c)] = p;
  return v;
}

inline uint32_t ChunkDecoder::GetU32(Col c) {
  const uint64_t v = GetU(c);
  if (v > 0xffffffffu) {
    Fail(c, "value out of range");
    return 0;
  }
  return static_cast<uint32_t>(v);
}

inline int64_t ChunkDecoder::GetZ(Col c) { return UnZigZag(GetU(c)); }

inline uint64_t ChunkDecoder::GetD(Col c) {
  const uint64_t v = prev_[I(c)] + static_cast<uint64_t>(UnZigZag(GetU(c)));
  prev_[I(c)] = v;
  return v;
}

inline uint64_t ChunkDecoder::GetF(Col c) {
  const char* p = pos_[I(c)];
  if (p == nullptr) return 0;
  if (end_[I(c)] - p < 8) {
    Fail(c, "ends early");
    return 0;
  }
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  pos_[I(c)] = p + 8;
  return v;
}

inline absl::string_view ChunkDecoder::GetB(Col len, Col data) {
  const uint64_t n = GetU(len);
  const char* p = pos_[I(data)];
  if (n == 0) return {};
  if (p == nullptr || static_cast<uint64_t>(end_[I(data)] - p) < n) {
    Fail(data, "ends early");
    return {};
  }
  pos_[I(data)] = p + n;
  return absl::string_view(p, n);
}

void ChunkDecoder::GetCopies(Col count, Col addr, Col len, Col data, std::vector<UserBytes>* out) {
  out->clear();
  const uint64_t n = GetU(count);
  // Every element needs at least two bytes (address and length), so a count
  // larger than the address column cannot be honest: reject before resizing.
  if (n > static_cast<uint64_t>(end_[I(addr)] - pos_[I(addr)])) {
    Fail(count, "count exceeds its columns");
    return;
  }
  for (uint64_t i = 0; i < n && !failed_; ++i) {
    UserBytes u;
    u.address = GetD(addr);
    u.data = GetB(len, data);
    out->push_back(u);
  }
}

bool ChunkDecoder::CheckConsumed() {
  for (int i = 0; i < kNumColumns; ++i) {
    if (pos_[i] != end_[i]) {
      Fail(static_cast<Col>(i), "has bytes left after the last event");
      return false;
    }
  }
  return true;
}

void ChunkDecoder::Get(Ioctl* x) {
  x->file = GetU32(Col::IoctlFile);
  x->request = GetU32(Col::IoctlRequest);
  x->result = static_cast<int32_t>(GetZ(Col::IoctlResult));
  x->arg_in = GetB(Col::IoctlArgInLen, Col::IoctlArgInData);
  x->arg_out = GetB(Col::IoctlArgOutLen, Col::IoctlArgOutData);
  GetCopies(Col::IoctlUserInCount, Col::IoctlUserInAddr, Col::IoctlUserInLen, Col::IoctlUserInData,
            &x->user_in);
  GetCopies(Col::IoctlUserOutCount, Col::IoctlUserOutAddr, Col::IoctlUserOutLen,
            Col::IoctlUserOutData, &x->user_out);
  x->recorded_ns = GetD(Col::IoctlRecordedNs);
  x->duration_ns = GetU(Col::IoctlDurationNs);
}

void ChunkDecoder::Get(JobAccess* x) {
  x->job = GetD(Col::AccessJob);
  x->vm = GetU32(Col::AccessVm);
  x->va = GetD(Col::AccessVa);
  x->length_bytes = GetU(Col::AccessLength);
  x->stride_bytes = GetU(Col::AccessStride);
  x->access = static_cast<AccessType>(GetU32(Col::AccessType));
  x->file = GetU32(Col::AccessFile);
  x->group = GetU32(Col::AccessGroup);
  x->queue = GetU32(Col::AccessQueue);
  x->signal_syncobj = GetU32(Col::AccessSignal);
}

void ChunkDecoder::Get(CsSubmit* x) {
  x->group = GetU32(Col::CsGroup);
  x->queue = GetU32(Col::CsQueue);
  x->stream_va = GetD(Col::CsStreamVa);
  x->words = GetB(Col::CsWordsLen, Col::CsWordsData);
  GetCopies(Col::CsReadsCount, Col::CsReadsAddr, Col::CsReadsLen, Col::CsReadsData, &x->reads);
  x->job = GetD(Col::CsJob);
}

void ChunkDecoder::Get(MmuFault* x) {
  x->as = GetU32(Col::FaultAs);
  x->vm = GetU32(Col::FaultVm);
  x->address = GetD(Col::FaultAddress);
  x->status = GetU32(Col::FaultStatus);
  x->outcome = static_cast<FaultOutcome>(GetU32(Col::FaultOutcome));
  x->pages = GetU32(Col::FaultPages);
  x->pt_pages = GetU32(Col::FaultPtPages);
  x->metadata = GetU32(Col::FaultMetadata);
  x->latency_ns = GetU(Col::FaultLatencyNs);
  x->latency_source = static_cast<LatencySource>(GetU32(Col::FaultLatencySource));
  x->raised_ns = GetU(Col::FaultRaisedNs);
  x->work_ns = GetU(Col::FaultWorkNs);
}

void ChunkDecoder::Get(AllocFailure* x) {
  x->kind = static_cast<AllocKind>(GetU32(Col::AllocKind));
  x->alloc_class = static_cast<AllocClass>(GetU32(Col::AllocClass));
  x->size_bytes = GetU(Col::AllocSize);
  x->vm = GetU32(Col::AllocVm);
}

void ChunkDecoder::Get(HeapGrow* x) {
  x->heap = GetU32(Col::HeapHandle);
  x->vm = GetU32(Col::HeapVm);
  x->requested_bytes = GetU(Col::HeapRequested);
  x->granted_bytes = GetU(Col::HeapGranted);
  x->fallback = GetU(Col::HeapFallback) != 0;
}

void ChunkDecoder::Get(CpuMap* x) {
  x->file = GetU32(Col::CpuFile);
  x->handle = GetU32(Col::CpuHandle);
  x->offset = GetU(Col::CpuOffset);
  x->length_bytes = GetU(Col::CpuLength);
  x->result = static_cast<int32_t>(GetZ(Col::CpuResult));
  x->unmap = GetU(Col::CpuUnmap) != 0;
  x->populated_pages = GetU32(Col::CpuPopulated);
}

void ChunkDecoder::Get(Oops* x) {
  x->function = GetB(Col::OopsFunctionLen, Col::OopsFunctionData);
  x->message = GetB(Col::OopsMessageLen, Col::OopsMessageData);
  x->vm = GetU32(Col::OopsVm);
}

void ChunkDecoder::Get(Marker* x) {
  x->type = static_cast<MarkerType>(GetU32(Col::MarkerType));
  x->id = GetU(Col::MarkerId);
  x->label = GetB(Col::MarkerLabelLen, Col::MarkerLabelData);
}

void ChunkDecoder::Get(StateHash* x) {
  x->scope = static_cast<HashScope>(GetU32(Col::HashScope));
  x->object = GetU32(Col::HashObject);
  x->hash = GetF(Col::HashValue);
}

void ChunkDecoder::Get(FileOp* x) {
  x->file = GetU32(Col::FileId);
  x->node = static_cast<FileNode>(GetU32(Col::FileNodeType));
  x->close = GetU(Col::FileClose) != 0;
}

void ChunkDecoder::Get(GpuRun* x) {
  x->until_ns = GetD(Col::GpuRunUntil);
  GetCopies(Col::GpuRunWritesCount, Col::GpuRunWritesAddr, Col::GpuRunWritesLen,
            Col::GpuRunWritesData, &x->cpu_writes);
}

bool ChunkDecoder::Next(Event* e) {
  while (true) {
    if (failed_) return false;
    if (remaining_ == 0) {
      CheckConsumed();
      return false;
    }
    --remaining_;
    const uint64_t kind = GetU(Col::Kind);
    e->kind = static_cast<EventKind>(kind);
    e->virtual_ns = GetD(Col::Time);
    switch (kind) {
      case EVENT_IOCTL:
        Get(&e->ioctl);
        break;
      case EVENT_JOB_ACCESS:
        Get(&e->access);
        break;
      case EVENT_CS_SUBMIT:
        Get(&e->cs_submit);
        break;
      case EVENT_MMU_FAULT:
        Get(&e->fault);
        break;
      case EVENT_ALLOC_FAILURE:
        Get(&e->alloc_failure);
        break;
      case EVENT_HEAP_GROW:
        Get(&e->heap_grow);
        break;
      case EVENT_CPU_MAP:
        Get(&e->cpu_map);
        break;
      case EVENT_OOPS:
        Get(&e->oops);
        break;
      case EVENT_MARKER:
        Get(&e->marker);
        break;
      case EVENT_STATE_HASH:
        Get(&e->state_hash);
        break;
      case EVENT_FILE:
        Get(&e->file_op);
        break;
      case EVENT_GPU_RUN:
        Get(&e->gpu_run);
        break;
      default:
        // A kind from a newer writer: its columns were skipped at Reset().
        if (!failed_) {
          ++unknown_kind_events_;
          continue;
        }
    }
    return !failed_;
  }
}

}  // namespace faultlab::trace
