/* The base ("vmlinux") BTF of the fixtures: the kernel's types. */
#include "kernel_types.h"
struct work_struct base_work;
struct mutex base_mutex;
struct drm_gpuvm base_gpuvm;
struct drm_gpu_scheduler base_sched;
struct drm_sched_entity base_entity;
refcount_t base_refcount;
