/* The module ("panthor") split BTF of the fixtures: struct panthor_vm with
 * the alloc-on-fault series' fault member (seed patch, panthor_mmu.c). */
#include "kernel_types.h"
struct panthor_device;
struct io_pgtable_ops;
struct panthor_vm {
  struct drm_gpuvm base;
  struct drm_gpu_scheduler sched;
  struct drm_sched_entity entity;
  struct panthor_device* ptdev;
  u64 memattr;
  struct io_pgtable_ops* pgtbl_ops;
  void* root_page_table;
  struct mutex op_lock;
  void* op_ctx;
  struct mutex mm_lock;
  struct {
    int id;
    refcount_t active_cnt;
    struct list_head lru_node;
  } as;
  struct {
    void* pool;
    struct mutex lock;
  } heaps;
  struct list_head node;
  bool for_mcu;
  bool destroyed;
  bool unusable;
  struct {
    struct work_struct work;
    u32 status;
    u64 addr;
  } fault;
};
struct panthor_vm fixture_vm;
