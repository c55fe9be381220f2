// The column encoding of a chunk's events (docs/trace-format.md, "Columns").
//
// A chunk's events are stored field by field: one byte column per (event kind,
// field, sub-field, part). The column id is
//     kind << 16 | field << 8 | sub_field << 4 | part
// where `field`/`sub_field` are the field numbers of proto/trace.proto and
// `part` is 0 for values (and byte-string lengths), 1 for concatenated byte
// data, 2 for repeated-field counts. Kind 0 holds the columns every event has:
// its kind and its virtual time. Values are LEB128 varints, zigzag-coded when
// signed, and delta-coded (zigzag of the difference to the previous value in
// the same column) for addresses, timestamps and job ids; hashes are fixed
// 8-byte little-endian. Delta state restarts in every chunk, so each chunk
// decodes on its own.
//
// The column block is: for each non-empty column in ascending id order,
// varint(id) varint(byte length) bytes. Readers ignore ids they do not know,
// which is how kinds and fields added later stay readable by older builds.
//
//   ChunkEncoder enc;
//   enc.Append(event);            // many times
//   std::string block = enc.Finish();
//
//   ChunkDecoder dec;
//   absl::Status s = dec.Reset(block, event_count);
//   Event e;
//   while (dec.Next(&e)) { ... }
//   s = dec.status();             // malformed data, if any
#ifndef FAULTLAB_ENGINE_TRACE_COLUMNS_H_
#define FAULTLAB_ENGINE_TRACE_COLUMNS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/trace/event.h"

namespace faultlab::trace {

enum class ColumnEncoding : uint8_t {
  kVarint,   // unsigned LEB128
  kZigzag,   // signed, zigzag LEB128
  kDelta,    // zigzag LEB128 of (value - previous value in this column)
  kFixed64,  // 8 bytes little-endian
  kLength,   // byte-string length (part 0); the bytes go to the kData column
  kData,     // concatenated byte strings (part 1)
  kCount,    // element count of a repeated field (part 2)
};

// X(enum name, kind, field, sub_field, encoding, proto field name)
#define FAULTLAB_TRACE_COLUMNS(X)                            \
  X(Kind, 0, 1, 0, kVarint, "kind")                          \
  X(Time, 0, 2, 0, kDelta, "virtual_ns")                     \
  X(IoctlFile, 1, 1, 0, kVarint, "file")                     \
  X(IoctlRequest, 1, 2, 0, kVarint, "request")               \
  X(IoctlResult, 1, 3, 0, kZigzag, "result")                 \
  X(IoctlArgInLen, 1, 4, 0, kLength, "arg_in")               \
  X(IoctlArgInData, 1, 4, 0, kData, "arg_in")                \
  X(IoctlArgOutLen, 1, 5, 0, kLength, "arg_out")             \
  X(IoctlArgOutData, 1, 5, 0, kData, "arg_out")              \
  X(IoctlUserInCount, 1, 6, 0, kCount, "user_in")            \
  X(IoctlUserInAddr, 1, 6, 1, kDelta, "address")             \
  X(IoctlUserInLen, 1, 6, 2, kLength, "data")                \
  X(IoctlUserInData, 1, 6, 2, kData, "data")                 \
  X(IoctlUserOutCount, 1, 7, 0, kCount, "user_out")          \
  X(IoctlUserOutAddr, 1, 7, 1, kDelta, "address")            \
  X(IoctlUserOutLen, 1, 7, 2, kLength, "data")               \
  X(IoctlUserOutData, 1, 7, 2, kData, "data")                \
  X(IoctlRecordedNs, 1, 8, 0, kDelta, "recorded_ns")         \
  X(IoctlDurationNs, 1, 9, 0, kVarint, "duration_ns")        \
  X(AccessJob, 2, 1, 0, kDelta, "job")                       \
  X(AccessVm, 2, 2, 0, kVarint, "vm")                        \
  X(AccessVa, 2, 3, 0, kDelta, "va")                         \
  X(AccessLength, 2, 4, 0, kVarint, "length_bytes")          \
  X(AccessStride, 2, 5, 0, kVarint, "stride_bytes")          \
  X(AccessType, 2, 6, 0, kVarint, "access")                  \
  X(AccessFile, 2, 7, 0, kVarint, "file")                    \
  X(AccessGroup, 2, 8, 0, kVarint, "group")                  \
  X(AccessQueue, 2, 9, 0, kVarint, "queue")                  \
  X(AccessSignal, 2, 10, 0, kVarint, "signal_syncobj")       \
  X(CsGroup, 3, 1, 0, kVarint, "group")                      \
  X(CsQueue, 3, 2, 0, kVarint, "queue")                      \
  X(CsStreamVa, 3, 3, 0, kDelta, "stream_va")                \
  X(CsWordsLen, 3, 4, 0, kLength, "words")                   \
  X(CsWordsData, 3, 4, 0, kData, "words")                    \
  X(CsReadsCount, 3, 5, 0, kCount, "reads")                  \
  X(CsReadsAddr, 3, 5, 1, kDelta, "address")                 \
  X(CsReadsLen, 3, 5, 2, kLength, "data")                    \
  X(CsReadsData, 3, 5, 2, kData, "data")                     \
  X(CsJob, 3, 6, 0, kDelta, "job")                           \
  X(FaultAs, 4, 1, 0, kVarint, "as")                         \
  X(FaultVm, 4, 2, 0, kVarint, "vm")                         \
  X(FaultAddress, 4, 3, 0, kDelta, "address")                \
  X(FaultStatus, 4, 4, 0, kVarint, "status")                 \
  X(FaultOutcome, 4, 5, 0, kVarint, "outcome")               \
  X(FaultPages, 4, 6, 0, kVarint, "pages")                   \
  X(FaultPtPages, 4, 7, 0, kVarint, "pt_pages")              \
  X(FaultMetadata, 4, 8, 0, kVarint, "metadata")             \
  X(FaultLatencyNs, 4, 9, 0, kVarint, "latency_ns")          \
  X(FaultLatencySource, 4, 10, 0, kVarint, "latency_source") \
  X(FaultRaisedNs, 4, 11, 0, kVarint, "raised_ns")           \
  X(FaultWorkNs, 4, 12, 0, kVarint, "work_ns")               \
  X(AllocKind, 5, 1, 0, kVarint, "kind")                     \
  X(AllocClass, 5, 2, 0, kVarint, "alloc_class")             \
  X(AllocSize, 5, 3, 0, kVarint, "size_bytes")               \
  X(AllocVm, 5, 4, 0, kVarint, "vm")                         \
  X(HeapHandle, 6, 1, 0, kVarint, "heap")                    \
  X(HeapVm, 6, 2, 0, kVarint, "vm")                          \
  X(HeapRequested, 6, 3, 0, kVarint, "requested_bytes")      \
  X(HeapGranted, 6, 4, 0, kVarint, "granted_bytes")          \
  X(HeapFallback, 6, 5, 0, kVarint, "fallback")              \
  X(CpuFile, 7, 1, 0, kVarint, "file")                       \
  X(CpuHandle, 7, 2, 0, kVarint, "handle")                   \
  X(CpuOffset, 7, 3, 0, kVarint, "offset")                   \
  X(CpuLength, 7, 4, 0, kVarint, "length_bytes")             \
  X(CpuResult, 7, 5, 0, kZigzag, "result")                   \
  X(CpuUnmap, 7, 6, 0, kVarint, "unmap")                     \
  X(CpuPopulated, 7, 7, 0, kVarint, "populated_pages")       \
  X(OopsFunctionLen, 8, 1, 0, kLength, "function")           \
  X(OopsFunctionData, 8, 1, 0, kData, "function")            \
  X(OopsMessageLen, 8, 2, 0, kLength, "message")             \
  X(OopsMessageData, 8, 2, 0, kData, "message")              \
  X(OopsVm, 8, 3, 0, kVarint, "vm")                          \
  X(MarkerType, 9, 1, 0, kVarint, "type")                    \
  X(MarkerId, 9, 2, 0, kVarint, "id")                        \
  X(MarkerLabelLen, 9, 3, 0, kLength, "label")               \
  X(MarkerLabelData, 9, 3, 0, kData, "label")                \
  X(HashScope, 10, 1, 0, kVarint, "scope")                   \
  X(HashObject, 10, 2, 0, kVarint, "object")                 \
  X(HashValue, 10, 3, 0, kFixed64, "hash")                   \
  X(FileId, 11, 1, 0, kVarint, "file")                       \
  X(FileNodeType, 11, 2, 0, kVarint, "node")                 \
  X(FileClose, 11, 3, 0, kVarint, "close")                   \
  X(GpuRunUntil, 12, 1, 0, kDelta, "until_ns")               \
  X(GpuRunWritesCount, 12, 2, 0, kCount, "cpu_writes")       \
  X(GpuRunWritesAddr, 12, 2, 1, kDelta, "address")           \
  X(GpuRunWritesLen, 12, 2, 2, kLength, "data")              \
  X(GpuRunWritesData, 12, 2, 2, kData, "data")

enum class Col : uint8_t {
#define FAULTLAB_COL_ENUM(name, kind, field, sub, enc, proto_name) name,
  FAULTLAB_TRACE_COLUMNS(FAULTLAB_COL_ENUM)
#undef FAULTLAB_COL_ENUM
      kCount
};

constexpr int kNumColumns = static_cast<int>(Col::kCount);

struct ColumnInfo {
  uint32_t id;
  uint8_t kind;
  uint8_t field;
  uint8_t sub_field;
  ColumnEncoding encoding;
  const char* name;        // e.g. "IoctlArgInLen"
  const char* proto_name;  // the field name in proto/trace.proto
};

// The column table, indexed by Col.
const std::array<ColumnInfo, kNumColumns>& Columns();

// Encodes events into one column block.
class ChunkEncoder {
 public:
  ChunkEncoder();

  // Adds one event. Unknown kinds are a programming error (CHECK).
  void Append(const Event& e);

  // Events appended since the last Finish().
  uint32_t event_count() const { return event_count_; }
  // Bytes the column block would have now (excluding its small directory).
  size_t raw_bytes() const { return raw_bytes_; }

  // Returns the column block and resets the encoder (delta state included).
  std::string Finish();

 private:
  void PutU(Col c, uint64_t v);
  // A field most events leave 0 (a board's fault stream): the column is
  // written only once a value is not 0 (the zeros before it then too), so
  // traces without it keep their bytes and an absent column reads as zeros.
  void PutSparseU(Col c, uint64_t v);
  void PutZ(Col c, int64_t v);
  void PutD(Col c, uint64_t v);
  void PutF(Col c, uint64_t v);
  void PutB(Col len, Col data, absl::string_view bytes);
  void PutCopies(Col count, Col addr, Col len, Col data, const std::vector<UserBytes>& copies);
  // One kind's columns, in proto/trace.proto's field order.
  void Put(const Ioctl& x);
  void Put(const JobAccess& x);
  void Put(const CsSubmit& x);
  void Put(const MmuFault& x);
  void Put(const AllocFailure& x);
  void Put(const HeapGrow& x);
  void Put(const CpuMap& x);
  void Put(const Oops& x);
  void Put(const Marker& x);
  void Put(const StateHash& x);
  void Put(const FileOp& x);
  void Put(const GpuRun& x);

  std::array<std::string, kNumColumns> cols_;
  std::array<uint32_t, kNumColumns> sparse_zeros_{};  // PutSparseU's zeros not yet written
  std::array<uint64_t, kNumColumns> prev_{};
  uint32_t event_count_ = 0;
  size_t raw_bytes_ = 0;
};

// Decodes one column block. Never reads out of bounds: malformed input stops
// decoding and is reported through status(), naming the column.
class ChunkDecoder {
 public:
  // Parses the column directory of `block`, which must outlive decoding, and
  // prepares to decode `event_count` events.
  absl::Status Reset(absl::string_view block, uint32_t event_count);

  // Decodes the next event into `*e`. Returns false at the end of the chunk or
  // on malformed data (then status() says what). Events of kinds this build
  // does not know are skipped and counted in unknown_kind_events().
  bool Next(Event* e);

  // OK, or what was malformed. Also checks at the end that every column was
  // consumed exactly.
  const absl::Status& status() const { return status_; }

  uint64_t unknown_kind_events() const { return unknown_kind_events_; }
  uint64_t unknown_columns() const { return unknown_columns_; }

 private:
  uint64_t GetU(Col c);
  uint32_t GetU32(Col c);
  int64_t GetZ(Col c);
  uint64_t GetD(Col c);
  uint64_t GetF(Col c);
  absl::string_view GetB(Col len, Col data);
  void GetCopies(Col count, Col addr, Col len, Col data, std::vector<UserBytes>* out);
  // One kind's columns (the encoder's Put, mirrored).
  void Get(Ioctl* x);
  void Get(JobAccess* x);
  void Get(CsSubmit* x);
  void Get(MmuFault* x);
  void Get(AllocFailure* x);
  void Get(HeapGrow* x);
  void Get(CpuMap* x);
  void Get(Oops* x);
  void Get(Marker* x);
  void Get(StateHash* x);
  void Get(FileOp* x);
  void Get(GpuRun* x);
  void Fail(Col c, const char* problem);
  bool CheckConsumed();

  std::array<const char*, kNumColumns> pos_{};
  std::array<const char*, kNumColumns> end_{};
  std::array<uint64_t, kNumColumns> prev_{};
  uint32_t remaining_ = 0;
  bool failed_ = false;
  absl::Status status_;
  uint64_t unknown_kind_events_ = 0;
  uint64_t unknown_columns_ = 0;
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_COLUMNS_H_
