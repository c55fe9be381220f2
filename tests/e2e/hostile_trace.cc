// Test helper for hostile_test.sh: a recorded trace made hostile.
//   hostile_trace columns IN OUT     the last chunk stored raw, one byte short, its
//                                    checksums made right: damaged columns, well framed
//   hostile_trace wait-count IN OUT  the first successful SYNCOBJ_WAIT's handle count
//                                    set to 2^32 - 1: well formed, impossible
//   hostile_trace job-bomb IN OUT    the first job's first range swept byte by byte,
//                                    eight times over: the job runs to panthor's 5 s
//                                    job timeout (seconds of host work in a replay)
#include <cstddef>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "engine/trace/frame.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioctls.h"

namespace {

using namespace faultlab;
using namespace faultlab::trace;

bool IsWait(const Event& e) {
  const uapi::IoctlDesc* d = e.kind == EVENT_IOCTL ? uapi::FindIoctl(e.ioctl.request) : nullptr;
  return d && d->id == uapi::IoctlId::kSyncobjWait && e.ioctl.result == 0 &&
         e.ioctl.arg_in.size() >= sizeof(uapi::DrmSyncobjWait);
}

// The last chunk frame of `bytes` re-made around a block one byte short.
std::string DamageLastChunk(const std::string& bytes) {
  size_t at = kPreambleSize, last = 0;
  while (at + kFrameHeaderSize <= bytes.size()) {
    FrameHeader fh;
    if (!ParseFrameHeader(bytes.data() + at, &fh)) break;
    if (fh.type == kFrameChunk) last = at;
    at += kFrameHeaderSize + fh.payload_size;
  }
  FrameHeader fh;
  ParseFrameHeader(bytes.data() + last, &fh);
  ChunkEnvelope env;
  env.ParseFromString(bytes.substr(last + kFrameHeaderSize, fh.payload_size));
  env.set_payload(env.payload().substr(0, env.payload().size() - 1));
  env.set_raw_size(env.payload().size());
  std::string out = bytes.substr(0, last);
  AppendFrame(out, kFrameChunk, env.SerializeAsString());
  return out + bytes.substr(last + kFrameHeaderSize + fh.payload_size);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: hostile_trace columns|wait-count|job-bomb IN OUT\n";
    return 2;
  }
  const std::string mode = argv[1];
  auto src = FileSource::Open(argv[2]);
  if (!src.ok()) {
    std::cerr << src.status() << "\n";
    return 4;
  }
  TraceReader reader(src->get(), argv[2]);
  if (absl::Status s = reader.Open(); !s.ok()) {
    std::cerr << s << "\n";
    return 3;
  }
  std::string bytes;
  StringSink sink(&bytes);
  WriterOptions opts;
  if (mode == "columns") opts.codec = CODEC_NONE;
  TraceWriter writer(&sink, reader.header(), opts);
  EventArena arena;
  Event e;
  bool done = false;
  while (reader.Next(&e)) {
    Event copy = arena.Own(e);
    if (!done && mode == "wait-count" && IsWait(copy)) {
      std::string arg(copy.ioctl.arg_in);
      const uint32_t count = 0xffffffffu;
      std::memcpy(arg.data() + offsetof(uapi::DrmSyncobjWait, count_handles), &count, 4);
      copy.ioctl.arg_in = arena.Keep(arg);
      done = true;
    }
    if (!done && mode == "job-bomb" && copy.kind == EVENT_JOB_ACCESS) {
      copy.access.stride_bytes = 1;
      for (int i = 0; i < 8; ++i) {
        if (!writer.Append(copy).ok()) return 4;
      }
      done = true;
    }
    if (!writer.Append(copy).ok()) return 4;
  }
  if (!reader.status().ok() || !writer.Finish().ok()) {
    std::cerr << "hostile_trace: read/write failed\n";
    return 4;
  }
  if (mode == "columns") {
    bytes = DamageLastChunk(bytes);
    done = true;
  }
  if (!done) {
    std::cerr << "hostile_trace: nothing to make hostile for " << mode << "\n";
    return 1;
  }
  auto out = FileSink::Open(argv[3]);
  if (!out.ok() || !(*out)->Write(bytes).ok() || !(*out)->Close().ok()) return 4;
  return 0;
}
