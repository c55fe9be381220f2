// The one ioctl table: everything the project knows about each DRM core and
// panthor ioctl, keyed as the kernel keys its tables — by the ioctl number
// (drm_ioctl(): DRM_IOCTL_NR(cmd)), never by the full request word, whose
// size field is the caller's (an older or newer struct is the same ioctl). Each row holds:
//  - the kernel's definition (`cmd`: direction and its own struct size) and
//    name, the DRM permission flags, and the first driver version;
//  - the user memory the argument points at (arrays, strings; read or
//    written), with the object ids inside them;
//  - the object ids it creates and consumes in the argument;
//  - how a board replay treats it.
// The device front end dispatches on it, the shim's capture records nested
// memory from it, the what-if remapper rewrites ids from it, `faultlab dump`
// names requests from it, and board replays compare or take outputs by it.
// Adding an ioctl is one row here plus a handler in engine/dev
// (docs/engine.md "Adding an ioctl").
//
//   const IoctlDesc* d = FindIoctl(request);   // any caller size
//   if (d && d->id == IoctlId::kSyncobjWait) ...
#ifndef FAULTLAB_ENGINE_UAPI_IOCTLS_H_
#define FAULTLAB_ENGINE_UAPI_IOCTLS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/uapi/ioc.h"

namespace faultlab::uapi {

enum class IoctlId : uint8_t {
  // DRM core (drm_ioctls[]).
  kVersion,
  kGetUnique,
  kSetVersion,
  kGemClose,
  kGetCap,
  kSetClientCap,
  kPrimeHandleToFd,
  kPrimeFdToHandle,
  kSyncobjCreate,
  kSyncobjDestroy,
  kSyncobjHandleToFd,
  kSyncobjFdToHandle,
  kSyncobjWait,
  kSyncobjReset,
  kSyncobjSignal,
  kSyncobjTimelineWait,
  kSyncobjQuery,
  kSyncobjTransfer,
  kSyncobjTimelineSignal,
  // panthor (panthor_drm_driver_ioctls[]).
  kDevQuery,
  kVmCreate,
  kVmDestroy,
  kVmBind,
  kVmGetState,
  kBoCreate,
  kBoMmapOffset,
  kGroupCreate,
  kGroupDestroy,
  kGroupSubmit,
  kGroupGetState,
  kTilerHeapCreate,
  kTilerHeapDestroy,
  kBoSetLabel,
  kSetUserMmioOffset,
  kBoSync,
  kBoQueryInfo,
  kCount
};

// DRM ioctl permission flags (drm_ioctl.h).
constexpr uint32_t kDrmAuth = 1u << 0;
constexpr uint32_t kDrmMaster = 1u << 1;
constexpr uint32_t kDrmRootOnly = 1u << 2;
constexpr uint32_t kDrmRenderAllow = 1u << 5;

// A driver version (major.minor); {0, 0} for the DRM core's ioctls.
struct DriverVersion {
  int major = 0;
  int minor = 0;
  bool operator<=(const DriverVersion& o) const {
    return major != o.major ? major < o.major : minor <= o.minor;
  }
};

enum class ObjKind : uint8_t { kBo, kVm, kGroup, kHeap, kSyncobj };

// A u32 object id at `offset` in an argument (or an array element). With
// `when_mask`, the id means an object only if the u32 at `when_offset`,
// masked, equals `when_value` (VM_BIND names a BO only in MAP ops).
struct ObjRef {
  ObjKind kind = ObjKind::kBo;
  uint16_t offset = 0;
  uint16_t when_offset = 0;
  uint32_t when_mask = 0;
  uint32_t when_value = 0;
  bool Applies(const char* bytes, size_t size) const;
};

// User memory an argument (or an array element) points at.
struct Nested {
  enum class Dir : uint8_t { kIn, kOut };  // the kernel reads it / writes it
  enum class Layout : uint8_t {
    // A struct drm_panthor_obj_array {stride, count, array} at `at`, of
    // `elem_size`-byte kernel structs (copied element by element).
    kObjArray,
    // A u64 pointer at `at` to the u32 count at `count_at` elements of
    // `elem_size` bytes.
    kArray,
    // drm_copy_field(): a u64 pointer at `at`, a u64 length at `count_at`
    // (in: the buffer; out: the whole string); min of the two is written.
    kCopyField,
    // drm_getunique(): like kCopyField, but written only when the buffer
    // holds the whole string.
    kWholeField,
    // A u64 pointer at `at` to the u32 byte count at `count_at` (DEV_QUERY).
    kSized,
    // A u64 pointer at `at` to a NUL-terminated string of at most
    // `elem_size` bytes with its NUL (BO_SET_LABEL).
    kString,
  };
  Dir dir = Dir::kIn;
  Layout layout = Layout::kArray;
  uint16_t at = 0;
  uint16_t count_at = 0;
  uint16_t elem_size = 0;
  // kObjArray and kArray: inside each element, the ids it names and the
  // memory it points at.
  std::vector<ObjRef> element_refs;
  std::vector<Nested> element_nested;
};

// How a replay of a board capture treats the call.
enum class BoardRule : uint8_t {
  // Replayed; errno and every output must equal the board's (but `masked`).
  kCompare,
  // Replayed, outputs not compared: they are the board's hardware or
  // strings (GPU registers, timestamps, version strings, the platform
  // name). Counted as injected from the recording.
  kTakeOutputs,
};

struct IoctlDesc {
  IoctlId id = IoctlId::kCount;
  const char* name = "";  // the kernel's, without DRM_IOCTL_ ("PANTHOR_VM_BIND")
  uint32_t cmd = 0;       // the kernel's definition: direction and struct size
  uint32_t drm_flags = 0;
  DriverVersion since;  // panthor's version that added it; {0,0} for the core
  std::vector<Nested> nested;
  std::vector<ObjRef> creates;   // ids the kernel writes back (new objects)
  std::vector<ObjRef> consumes;  // ids the caller names
  BoardRule board = BoardRule::kCompare;
  // Board replays: bytes of the argument as returned that the board's
  // kernel chooses device-wide and the twin numbers its own way (offset,
  // length pairs): not compared.
  std::vector<std::pair<uint16_t, uint16_t>> masked;

  uint32_t nr() const { return IocNr(cmd); }
  uint32_t size() const { return IocSize(cmd); }
  bool panthor() const { return since.major != 0; }
};

// The row of `request`'s ioctl (any caller size; the type byte is not
// checked, as drm_ioctl() does not), or nullptr for a number the table lacks.
const IoctlDesc* FindIoctl(uint32_t request);
// The row of `id`.
const IoctlDesc& Ioctl(IoctlId id);
// Every row, in IoctlId order.
const std::vector<IoctlDesc>& AllIoctls();
// "PANTHOR_VM_BIND", or "" for a request the table does not have.
const char* IoctlName(uint32_t request);

// What drm_ioctl() copies for `request` against the kernel's `desc`:
// in_size is _IOC_SIZE(request) if both have _IOC_WRITE, else 0; out_size
// likewise with _IOC_READ; the kernel works on max(in, out, its own size)
// bytes, the tail zero-filled, and copies back only out_size bytes.
struct CopySizes {
  uint32_t in = 0;
  uint32_t out = 0;
  uint32_t kernel = 0;
};
CopySizes DrmCopySizes(uint32_t request, const IoctlDesc& desc);

// A range of user memory.
struct UserRange {
  uint64_t address;
  uint64_t length;
};
// Reads `n` bytes of user memory at `address` into `dst`; false where unreadable.
using UserReader = std::function<bool(void* dst, uint64_t address, size_t n)>;
// The user memory `desc`'s argument points at in direction `dir`: `arg_in`
// is the argument as passed (what in-memory arrays are found from) and
// `arg_out` as returned (output lengths); arrays are read through `read` to
// find what their elements point at. Ranges over `max_bytes` are left out
// (the kernel refuses far less), and then false is returned; output memory
// is left out when `result` < 0.
bool UserRanges(const IoctlDesc& desc, Nested::Dir dir, const std::string& arg_in,
                const std::string& arg_out, int result, const UserReader& read,
                std::vector<UserRange>* out, uint64_t max_bytes = 1 << 20);

}  // namespace faultlab::uapi

#endif  // FAULTLAB_ENGINE_UAPI_IOCTLS_H_
