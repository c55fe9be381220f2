// The panthor uAPI up to driver 1.7 plus the alloc-on-fault series v3 (spec
// 2, seed patch): ioctl numbers, struct layouts with static_asserts on sizes
// and offsets, flags. Our own definitions of include/uapi/drm/panthor_drm.h
// facts. Which version a device reports is its variant's (base/variant.h).
#ifndef FAULTLAB_ENGINE_UAPI_PANTHOR_H_
#define FAULTLAB_ENGINE_UAPI_PANTHOR_H_

#include <cstddef>
#include <cstdint>

#include "engine/uapi/ioc.h"

namespace faultlab::uapi {

// Driver identity (panthor_drv.c); the minor version is the variant's.
constexpr int32_t kPanthorMajor = 1;
constexpr int32_t kPanthorPatchlevel = 0;
constexpr char kPanthorName[] = "panthor";
constexpr char kPanthorDesc[] = "Panthor DRM driver";
constexpr char kPanthorDate[] = "20230801";

// drm_panthor_obj_array (spec 2.4).
struct PanthorObjArray {
  uint32_t stride;
  uint32_t count;
  uint64_t array;  // user pointer
};
static_assert(sizeof(PanthorObjArray) == 16);

// drm_panthor_sync_op.
struct PanthorSyncOp {
  uint32_t flags;
  uint32_t handle;
  uint64_t timeline_value;
};
static_assert(sizeof(PanthorSyncOp) == 16);
constexpr uint32_t kPanthorSyncOpHandleTypeMask = 0xff;
constexpr uint32_t kPanthorSyncOpHandleTypeSyncobj = 0;
constexpr uint32_t kPanthorSyncOpHandleTypeTimelineSyncobj = 1;
constexpr uint32_t kPanthorSyncOpWait = 0;
constexpr uint32_t kPanthorSyncOpSignal = 1u << 31;

// DEV_QUERY.
struct PanthorDevQuery {
  uint32_t type;
  uint32_t size;
  uint64_t pointer;
};
static_assert(sizeof(PanthorDevQuery) == 16);
constexpr uint32_t kPanthorDevQueryGpuInfo = 0;
constexpr uint32_t kPanthorDevQueryCsifInfo = 1;
constexpr uint32_t kPanthorDevQueryTimestampInfo = 2;
constexpr uint32_t kPanthorDevQueryGroupPrioritiesInfo = 3;

// drm_panthor_gpu_info up to driver 1.7 (104 bytes): 1.7 named the former
// pad0 selected_coherency (gpu_features was appended after 1.7).
struct PanthorGpuInfo {
  uint32_t gpu_id;
  uint32_t gpu_rev;
  uint32_t csf_id;
  uint32_t l2_features;
  uint32_t tiler_features;
  uint32_t mem_features;
  uint32_t mmu_features;
  uint32_t thread_features;
  uint32_t max_threads;
  uint32_t thread_max_workgroup_size;
  uint32_t thread_max_barrier_size;
  uint32_t coherency_features;
  uint32_t texture_features[4];
  uint32_t as_present;
  uint32_t selected_coherency;  // 1.7; a pad before
  uint64_t shader_present;
  uint64_t l2_present;
  uint64_t tiler_present;
  uint32_t core_features;
  uint32_t pad;
};
static_assert(sizeof(PanthorGpuInfo) == 104);
static_assert(offsetof(PanthorGpuInfo, mmu_features) == 24);
static_assert(offsetof(PanthorGpuInfo, texture_features) == 48);
static_assert(offsetof(PanthorGpuInfo, as_present) == 64);
static_assert(offsetof(PanthorGpuInfo, shader_present) == 72);
static_assert(offsetof(PanthorGpuInfo, tiler_present) == 88);
static_assert(offsetof(PanthorGpuInfo, core_features) == 96);
// GPU_COHERENCY_* (panthor_regs.h): what selected_coherency holds.
constexpr uint32_t kGpuCoherencyAceLite = 0;
constexpr uint32_t kGpuCoherencyAce = 1;
constexpr uint32_t kGpuCoherencyNone = 31;
// PANTHOR_UOBJ_MIN_SIZE: offsetofend of the last mandatory field (spec 2.1).
constexpr uint32_t kPanthorGpuInfoMinSize = offsetof(PanthorGpuInfo, tiler_present) + 8;

struct PanthorCsifInfo {
  uint32_t csg_slot_count;
  uint32_t cs_slot_count;
  uint32_t cs_reg_count;
  uint32_t scoreboard_slot_count;
  uint32_t unpreserved_cs_reg_count;
  uint32_t pad;
};
static_assert(sizeof(PanthorCsifInfo) == 24);
constexpr uint32_t kPanthorCsifInfoMinSize = sizeof(PanthorCsifInfo);

// drm_panthor_timestamp_info up to driver 1.7 (24 bytes).
struct PanthorTimestampInfo {
  uint64_t timestamp_frequency;
  uint64_t current_timestamp;
  uint64_t timestamp_offset;
};
static_assert(sizeof(PanthorTimestampInfo) == 24);
constexpr uint32_t kPanthorTimestampInfoMinSize =
    offsetof(PanthorTimestampInfo, current_timestamp) + 8;

struct PanthorGroupPrioritiesInfo {
  uint8_t allowed_mask;
  uint8_t pad[3];
};
static_assert(sizeof(PanthorGroupPrioritiesInfo) == 4);
constexpr uint32_t kPanthorGroupPrioritiesInfoMinSize = sizeof(PanthorGroupPrioritiesInfo);

// VM_CREATE / VM_DESTROY / VM_BIND / VM_GET_STATE.
struct PanthorVmCreate {
  uint32_t flags;
  uint32_t id;
  uint64_t user_va_range;
};
static_assert(sizeof(PanthorVmCreate) == 16);

struct PanthorVmDestroy {
  uint32_t id;
  uint32_t pad;
};
static_assert(sizeof(PanthorVmDestroy) == 8);

struct PanthorVmBindOp {
  uint32_t flags;
  uint32_t bo_handle;
  uint64_t bo_offset;
  uint64_t va;
  uint64_t size;
  PanthorObjArray syncs;
};
static_assert(sizeof(PanthorVmBindOp) == 48);
static_assert(offsetof(PanthorVmBindOp, syncs) == 32);
constexpr uint32_t kPanthorVmBindOpMinSize = sizeof(PanthorVmBindOp);
constexpr uint32_t kPanthorVmBindOpMapReadonly = 1u << 0;
constexpr uint32_t kPanthorVmBindOpMapNoexec = 1u << 1;
constexpr uint32_t kPanthorVmBindOpMapUncached = 1u << 2;
constexpr uint32_t kPanthorVmBindOpTypeMask = 0xfu << 28;
constexpr uint32_t kPanthorVmBindOpTypeMap = 0u << 28;
constexpr uint32_t kPanthorVmBindOpTypeUnmap = 1u << 28;
constexpr uint32_t kPanthorVmBindOpTypeSyncOnly = 2u << 28;

struct PanthorVmBind {
  uint32_t vm_id;
  uint32_t flags;
  PanthorObjArray ops;
};
static_assert(sizeof(PanthorVmBind) == 24);
constexpr uint32_t kPanthorVmBindAsync = 1u << 0;

struct PanthorVmGetState {
  uint32_t vm_id;
  uint32_t state;
};
static_assert(sizeof(PanthorVmGetState) == 8);
constexpr uint32_t kPanthorVmStateUsable = 0;
constexpr uint32_t kPanthorVmStateUnusable = 1;

// BO_CREATE, with the series' granularity in the former pad (seed: the field
// is spelt alloc_on_faut_granularity there).
struct PanthorBoCreate {
  uint64_t size;
  uint32_t flags;
  uint32_t exclusive_vm_id;
  uint32_t handle;
  uint32_t alloc_on_fault_granularity;
};
static_assert(sizeof(PanthorBoCreate) == 24);
static_assert(offsetof(PanthorBoCreate, alloc_on_fault_granularity) == 20);
constexpr uint32_t kPanthorBoNoMmap = 1u << 0;
// Bit 1: ALLOC_ON_FAULT in the series (v3 4/8); mainline gave it to
// DRM_PANTHOR_BO_WB_MMAP in 1.7 (write-back cached CPU maps). One kernel has
// one of the two (base/variant.h).
constexpr uint32_t kPanthorBoAllocOnFault = 1u << 1;
constexpr uint32_t kPanthorBoWbMmap = 1u << 1;

struct PanthorBoMmapOffset {
  uint32_t handle;
  uint32_t pad;
  uint64_t offset;
};
static_assert(sizeof(PanthorBoMmapOffset) == 16);

// Groups and queues.
struct PanthorQueueCreate {
  uint8_t priority;
  uint8_t pad[3];
  uint32_t ringbuf_size;
};
static_assert(sizeof(PanthorQueueCreate) == 8);

struct PanthorGroupCreate {
  PanthorObjArray queues;
  uint8_t max_compute_cores;
  uint8_t max_fragment_cores;
  uint8_t max_tiler_cores;
  uint8_t priority;
  uint32_t pad;
  uint64_t compute_core_mask;
  uint64_t fragment_core_mask;
  uint64_t tiler_core_mask;
  uint32_t vm_id;
  uint32_t group_handle;
};
static_assert(sizeof(PanthorGroupCreate) == 56);
static_assert(offsetof(PanthorGroupCreate, priority) == 19);
static_assert(offsetof(PanthorGroupCreate, vm_id) == 48);
constexpr uint8_t kPanthorGroupPriorityLow = 0;
constexpr uint8_t kPanthorGroupPriorityMedium = 1;
constexpr uint8_t kPanthorGroupPriorityHigh = 2;
constexpr uint8_t kPanthorGroupPriorityRealtime = 3;

struct PanthorGroupDestroy {
  uint32_t group_handle;
  uint32_t pad;
};
static_assert(sizeof(PanthorGroupDestroy) == 8);

struct PanthorQueueSubmit {
  uint32_t queue_index;
  uint32_t stream_size;
  uint64_t stream_addr;
  uint32_t latest_flush;
  uint32_t pad;
  PanthorObjArray syncs;
};
static_assert(sizeof(PanthorQueueSubmit) == 40);
// panthor_job_create(): bits 30:24 of latest_flush are reserved.
constexpr uint32_t kPanthorLatestFlushReserved = 0x7f000000;

struct PanthorGroupSubmit {
  uint32_t group_handle;
  uint32_t pad;
  PanthorObjArray queue_submits;
};
static_assert(sizeof(PanthorGroupSubmit) == 24);

struct PanthorGroupGetState {
  uint32_t group_handle;
  uint32_t state;
  uint32_t fatal_queues;
  uint32_t pad;
};
static_assert(sizeof(PanthorGroupGetState) == 16);
constexpr uint32_t kPanthorGroupStateTimedout = 1u << 0;
constexpr uint32_t kPanthorGroupStateFatalFault = 1u << 1;
constexpr uint32_t kPanthorGroupStateInnocent = 1u << 2;

struct PanthorTilerHeapCreate {
  uint32_t vm_id;
  uint32_t initial_chunk_count;
  uint32_t chunk_size;
  uint32_t max_chunks;
  uint32_t target_in_flight;
  uint32_t handle;
  uint64_t tiler_heap_ctx_gpu_va;
  uint64_t first_heap_chunk_gpu_va;
};
static_assert(sizeof(PanthorTilerHeapCreate) == 40);

struct PanthorTilerHeapDestroy {
  uint32_t handle;
  uint32_t pad;
};
static_assert(sizeof(PanthorTilerHeapDestroy) == 8);

// Added after the series' 1.3 base (spec 2.2-2.4): 1.4 to 1.7.
struct PanthorBoSetLabel {  // 1.4
  uint32_t handle;
  uint32_t pad;
  uint64_t label;  // const char __user *, NUL-terminated, <= 4096 bytes with the NUL; 0 clears
};
static_assert(sizeof(PanthorBoSetLabel) == 16);
constexpr uint32_t kPanthorBoMaxLabelSize = 4096;

struct PanthorSetUserMmioOffset {  // 1.5
  uint64_t offset;
};
static_assert(sizeof(PanthorSetUserMmioOffset) == 8);
// The file's user MMIO region (mmap offsets, bytes): 1<<56 for 64-bit
// tasks, 1<<43 for compat ones (mmap2's 32-bit page offset); from 1.5 a
// file may pick either with SET_USER_MMIO_OFFSET. Its first page is the
// LATEST_FLUSH_ID register page (DRM_PANTHOR_USER_FLUSH_ID_MMIO_OFFSET).
constexpr uint64_t kPanthorUserMmioOffset32 = 1ULL << 43;
constexpr uint64_t kPanthorUserMmioOffset64 = 1ULL << 56;

struct PanthorBoSyncOp {  // 1.7
  uint32_t handle;
  uint32_t type;
  uint64_t offset;
  uint64_t size;
};
static_assert(sizeof(PanthorBoSyncOp) == 24);
constexpr uint32_t kPanthorBoSyncCpuCacheFlush = 0;
constexpr uint32_t kPanthorBoSyncCpuCacheFlushAndInvalidate = 1;

struct PanthorBoSync {  // 1.7
  PanthorObjArray ops;
};
static_assert(sizeof(PanthorBoSync) == 16);

struct PanthorBoQueryInfo {  // 1.7
  uint32_t handle;
  uint32_t extra_flags;
  uint32_t create_flags;
  uint32_t pad;
};
static_assert(sizeof(PanthorBoQueryInfo) == 16);
constexpr uint32_t kPanthorBoIsImported = 1u << 0;  // extra_flags

// Ioctl ids (DRM_PANTHOR_*) and numbers: DRM_IOWR(0x40 + id, struct).
enum PanthorIoctlId : uint32_t {
  kPanthorDevQueryId = 0,
  kPanthorVmCreateId,
  kPanthorVmDestroyId,
  kPanthorVmBindId,
  kPanthorVmGetStateId,
  kPanthorBoCreateId,
  kPanthorBoMmapOffsetId,
  kPanthorGroupCreateId,
  kPanthorGroupDestroyId,
  kPanthorGroupSubmitId,
  kPanthorGroupGetStateId,
  kPanthorTilerHeapCreateId,
  kPanthorTilerHeapDestroyId,   // the last of driver 1.3
  kPanthorBoSetLabelId,         // 1.4
  kPanthorSetUserMmioOffsetId,  // 1.5
  kPanthorBoSyncId,             // 1.7
  kPanthorBoQueryInfoId,        // 1.7
};

constexpr uint32_t PanthorIowr(uint32_t id, uint32_t size) {
  return DrmIowr(kDrmCommandBase + id, size);
}

constexpr uint32_t kPanthorIoctlDevQuery = PanthorIowr(kPanthorDevQueryId, sizeof(PanthorDevQuery));
constexpr uint32_t kPanthorIoctlVmCreate = PanthorIowr(kPanthorVmCreateId, sizeof(PanthorVmCreate));
constexpr uint32_t kPanthorIoctlVmDestroy =
    PanthorIowr(kPanthorVmDestroyId, sizeof(PanthorVmDestroy));
constexpr uint32_t kPanthorIoctlVmBind = PanthorIowr(kPanthorVmBindId, sizeof(PanthorVmBind));
constexpr uint32_t kPanthorIoctlVmGetState =
    PanthorIowr(kPanthorVmGetStateId, sizeof(PanthorVmGetState));
constexpr uint32_t kPanthorIoctlBoCreate = PanthorIowr(kPanthorBoCreateId, sizeof(PanthorBoCreate));
constexpr uint32_t kPanthorIoctlBoMmapOffset =
    PanthorIowr(kPanthorBoMmapOffsetId, sizeof(PanthorBoMmapOffset));
constexpr uint32_t kPanthorIoctlGroupCreate =
    PanthorIowr(kPanthorGroupCreateId, sizeof(PanthorGroupCreate));
constexpr uint32_t kPanthorIoctlGroupDestroy =
    PanthorIowr(kPanthorGroupDestroyId, sizeof(PanthorGroupDestroy));
constexpr uint32_t kPanthorIoctlGroupSubmit =
    PanthorIowr(kPanthorGroupSubmitId, sizeof(PanthorGroupSubmit));
constexpr uint32_t kPanthorIoctlGroupGetState =
    PanthorIowr(kPanthorGroupGetStateId, sizeof(PanthorGroupGetState));
constexpr uint32_t kPanthorIoctlTilerHeapCreate =
    PanthorIowr(kPanthorTilerHeapCreateId, sizeof(PanthorTilerHeapCreate));
constexpr uint32_t kPanthorIoctlTilerHeapDestroy =
    PanthorIowr(kPanthorTilerHeapDestroyId, sizeof(PanthorTilerHeapDestroy));
constexpr uint32_t kPanthorIoctlBoSetLabel =
    PanthorIowr(kPanthorBoSetLabelId, sizeof(PanthorBoSetLabel));
constexpr uint32_t kPanthorIoctlSetUserMmioOffset =
    PanthorIowr(kPanthorSetUserMmioOffsetId, sizeof(PanthorSetUserMmioOffset));
constexpr uint32_t kPanthorIoctlBoSync = PanthorIowr(kPanthorBoSyncId, sizeof(PanthorBoSync));
constexpr uint32_t kPanthorIoctlBoQueryInfo =
    PanthorIowr(kPanthorBoQueryInfoId, sizeof(PanthorBoQueryInfo));

// Spec 2.2's table, as numbers.
static_assert(kPanthorIoctlDevQuery == 0xC0106440);
static_assert(kPanthorIoctlVmCreate == 0xC0106441);
static_assert(kPanthorIoctlVmDestroy == 0xC0086442);
static_assert(kPanthorIoctlVmBind == 0xC0186443);
static_assert(kPanthorIoctlVmGetState == 0xC0086444);
static_assert(kPanthorIoctlBoCreate == 0xC0186445);
static_assert(kPanthorIoctlBoMmapOffset == 0xC0106446);
static_assert(kPanthorIoctlGroupCreate == 0xC0386447);
static_assert(kPanthorIoctlGroupDestroy == 0xC0086448);
static_assert(kPanthorIoctlGroupSubmit == 0xC0186449);
static_assert(kPanthorIoctlGroupGetState == 0xC010644A);
static_assert(kPanthorIoctlTilerHeapCreate == 0xC028644B);
static_assert(kPanthorIoctlTilerHeapDestroy == 0xC008644C);
static_assert(kPanthorIoctlBoSetLabel == 0xC010644D);
static_assert(kPanthorIoctlSetUserMmioOffset == 0xC008644E);
static_assert(kPanthorIoctlBoSync == 0xC010644F);
static_assert(kPanthorIoctlBoQueryInfo == 0xC0106450);

// Hardware constants the uAPI relies on.
constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kPageShift = 12;
// PANTHOR_VM_MIN_KERNEL_VA_SIZE (panthor_mmu.c).
constexpr uint64_t kPanthorVmMinKernelVaSize = 256ULL << 20;
// PANTHOR_MAX_VMS_PER_FILE (panthor_mmu.c).
constexpr uint32_t kPanthorMaxVmsPerFile = 32;

}  // namespace faultlab::uapi

#endif  // FAULTLAB_ENGINE_UAPI_PANTHOR_H_
