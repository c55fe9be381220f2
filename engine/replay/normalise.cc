#include "engine/replay/normalise.h"

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/dev/device.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {

namespace {

constexpr size_t kFlags = offsetof(uapi::PanthorBoCreate, flags);
constexpr size_t kGranularity = offsetof(uapi::PanthorBoCreate, alloc_on_fault_granularity);

bool IsBoCreate(uint32_t request) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  return d != nullptr && d->id == uapi::IoctlId::kBoCreate;
}

bool IsWait(uint32_t request) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  return d != nullptr &&
         (d->id == uapi::IoctlId::kSyncobjWait || d->id == uapi::IoctlId::kSyncobjTimelineWait);
}

// A BO_CREATE argument with WB_MMAP set: flag bit 1 without a granularity
// (with one, the program asked for alloc-on-fault).
bool WbMmap(const std::string& arg) {
  if (arg.size() < kGranularity + 4) return false;
  uint32_t gran;
  std::memcpy(&gran, arg.data() + kGranularity, 4);
  return (arg[kFlags] & uapi::kPanthorBoAllocOnFault) && gran == 0;
}

}  // namespace

Normaliser::Normaliser(const trace::TraceHeader& header, Variant variant) : variant_(variant) {
  board_ = header.capture_source() == trace::CAPTURE_SOURCE_BOARD;
  if (!board_ || !HasAllocOnFault(variant)) return;
  for (const trace::ConfigEntry& c : header.config()) {
    int major = 0, minor = 0;
    if (c.key() == "driver_version" &&
        std::sscanf(c.value().c_str(), "%d.%d", &major, &minor) == 2) {
      wb_mmap_ = major > 1 || (major == 1 && minor >= 7);
    }
  }
}

bool Normaliser::Models(uint32_t request) const { return dev::Device::Models(request, variant_); }

bool Normaliser::Observable(trace::EventKind kind) const {
  return !board_ || kind == trace::EVENT_IOCTL || kind == trace::EVENT_MARKER ||
         kind == trace::EVENT_FILE;
}

Normaliser::Role Normaliser::RoleOf(const trace::Event& e) const {
  switch (e.kind) {
    case trace::EVENT_IOCTL:
      // A wait that ran out of host time on the board: the twin's virtual
      // time knows no such deadline.
      if (board_ && e.ioctl.result == -uapi::kETIME && IsWait(e.ioctl.request))
        return Role::kTakenFromRecording;
      return Role::kInput;
    case trace::EVENT_CS_SUBMIT:
    case trace::EVENT_JOB_ACCESS:
    case trace::EVENT_MARKER:
    case trace::EVENT_STATE_HASH:
    case trace::EVENT_CPU_MAP:
    case trace::EVENT_FILE:
    case trace::EVENT_GPU_RUN:
      return Role::kInput;
    default:
      return Role::kOutput;
  }
}

bool Normaliser::LegacyFileOp(const trace::Event& e, trace::FileOp* op) {
  if (e.kind != trace::EVENT_MARKER || e.marker.type != trace::MARKER_NOTE) return false;
  const absl::string_view label = e.marker.label;
  std::vector<absl::string_view> parts = absl::StrSplit(label, ':');
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &op->file)) return false;
  if (parts[0] == "open") {
    op->close = false;
    op->node = parts.size() > 2 && parts[2] == "primary" ? trace::NODE_PRIMARY : trace::NODE_RENDER;
    return true;
  }
  if (parts[0] == "close" && parts.size() == 2) {
    op->close = true;
    op->node = trace::FILE_NODE_UNSPECIFIED;
    return true;
  }
  return false;
}

void Normaliser::NormaliseArgIn(uint32_t request, std::string* arg) const {
  if (wb_mmap_ && IsBoCreate(request) && WbMmap(*arg))
    (*arg)[kFlags] &= ~uapi::kPanthorBoAllocOnFault;
}

bool Normaliser::NormaliseArgOut(uint32_t request, std::string* arg_out) const {
  if (!wb_mmap_ || !IsBoCreate(request) || !WbMmap(*arg_out)) return false;
  (*arg_out)[kFlags] &= ~uapi::kPanthorBoAllocOnFault;
  return true;
}

}  // namespace faultlab::replay
