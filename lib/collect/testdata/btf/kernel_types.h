/* Stand-ins for the kernel's own types, shaped as on a 64-bit kernel, so
 * that the fixtures' struct panthor_vm has the layout questions a real one
 * has (nested anonymous structs, a work_struct whose size comes from the base
 * BTF). Not the kernel's definitions: only their shape matters here. */
#ifndef FAULTLAB_BTF_FIXTURE_KERNEL_TYPES_H
#define FAULTLAB_BTF_FIXTURE_KERNEL_TYPES_H
typedef unsigned int u32;
typedef unsigned long long u64;
typedef _Bool bool;
typedef struct {
  long counter;
} atomic_long_t;
typedef struct {
  int counter;
} refcount_t;
struct list_head {
  struct list_head *next, *prev;
};
struct work_struct;
typedef void (*work_func_t)(struct work_struct* work);
struct work_struct {
  atomic_long_t data;
  struct list_head entry;
  work_func_t func;
};
struct mutex {
  atomic_long_t owner;
  int wait_lock;
  struct list_head wait_list;
};
struct drm_gpuvm {
  const char* name;
  u64 mm_start, mm_range;
  void* rb_root[4];
  struct list_head list;
  refcount_t kref;
};
struct drm_gpu_scheduler {
  void* ops;
  u32 credit_limit;
  long timeout;
  const char* name;
  void* queues[8];
};
struct drm_sched_entity {
  struct list_head list;
  void* rq;
  unsigned int priority;
};
#endif
