/* drm_client: a program written against libdrm and the panthor uAPI, run
 * under libfaultlab_shim.so by //agents/shim:shim_test. It finds the device as
 * libdrm does, queries it, creates a VM and BOs (one alloc-on-fault), binds
 * them, maps them, uses a syncobj, checks the kernel's errno on bad input, and
 * does it from several threads at once. Prints "ok ..." per check and exits
 * with the number of failures. (The panthor structs are written out here:
 * Debian 12's libdrm predates panthor_drm.h.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

struct obj_array { uint32_t stride, count; uint64_t array; };
struct dev_query { uint32_t type, size; uint64_t pointer; };
struct gpu_info { uint32_t gpu_id, gpu_rev, csf_id, l2_features, tiler_features, mem_features, mmu_features,
                  thread_features, max_threads, thread_max_workgroup_size, thread_max_barrier_size,
                  coherency_features, texture_features[4], as_present, pad0;
                  uint64_t shader_present, l2_present, tiler_present; uint32_t core_features, pad; };
struct vm_create { uint32_t flags, id; uint64_t user_va_range; };
struct vm_destroy { uint32_t id, pad; };
struct bo_create { uint64_t size; uint32_t flags, exclusive_vm_id, handle, alloc_on_fault_granularity; };
struct bo_mmap_offset { uint32_t handle, pad; uint64_t offset; };
struct vm_bind_op { uint32_t flags, bo_handle; uint64_t bo_offset, va, size; struct obj_array syncs; };
struct vm_bind { uint32_t vm_id, flags; struct obj_array ops; };

#define PANTHOR(id, type) DRM_IOWR(DRM_COMMAND_BASE + (id), type)
#define DEV_QUERY PANTHOR(0, struct dev_query)
#define VM_CREATE PANTHOR(1, struct vm_create)
#define VM_DESTROY PANTHOR(2, struct vm_destroy)
#define VM_BIND PANTHOR(3, struct vm_bind)
#define BO_CREATE PANTHOR(5, struct bo_create)
#define BO_MMAP_OFFSET PANTHOR(6, struct bo_mmap_offset)
#define BO_ALLOC_ON_FAULT (1u << 1)

static int failures;
#define CHECK(cond, ...)                         \
  do {                                           \
    if (cond) {                                  \
      printf("ok   " __VA_ARGS__);               \
    } else {                                     \
      printf("FAIL " __VA_ARGS__);               \
      printf("     (errno %d: %s)\n", errno, strerror(errno)); \
      ++failures;                                \
    }                                            \
    printf("\n");                                \
  } while (0)

static int xioctl(int fd, unsigned long req, void* arg) {
  int r;
  do r = ioctl(fd, req, arg); while (r == -1 && errno == EINTR);
  return r;
}

static uint32_t bo(int fd, uint64_t size, uint32_t flags, uint32_t gran) {
  struct bo_create c = {size, flags, 0, 0, gran};
  return xioctl(fd, BO_CREATE, &c) == 0 ? c.handle : 0;
}

static int bind(int fd, uint32_t vm, uint32_t handle, uint64_t va, uint64_t size) {
  struct vm_bind_op op = {0 /* MAP */, handle, 0, va, size, {0, 0, 0}};
  struct vm_bind b = {vm, 0, {sizeof(op), 1, (uint64_t)(uintptr_t)&op}};
  return xioctl(fd, VM_BIND, &b);
}

static void* worker(void* arg) {
  int fd = *(int*)arg, bad = 0;
  for (int i = 0; i < 200; ++i) {
    uint32_t h = bo(fd, 4096 * (1 + i % 8), 0, 0);
    struct drm_gem_close c = {h, 0};
    struct dev_query q = {0, sizeof(struct gpu_info), 0};
    if (!h || xioctl(fd, DRM_IOCTL_GEM_CLOSE, &c) != 0 || xioctl(fd, DEV_QUERY, &q) != 0) ++bad;
  }
  return (void*)(intptr_t)bad;
}

int main(void) {
  /* 1. Find the device as libdrm does. */
  drmDevicePtr devices[16];
  int n = drmGetDevices2(0, devices, 16), found = -1;
  for (int i = 0; i < n; ++i) {
    if (devices[i]->bustype == DRM_BUS_PLATFORM && (devices[i]->available_nodes & (1 << DRM_NODE_RENDER))) found = i;
  }
  CHECK(found >= 0, "drmGetDevices2 finds a platform device with a render node (%d device(s))", n);
  if (found < 0) return 1;
  CHECK(strcmp(devices[found]->nodes[DRM_NODE_RENDER], "/dev/dri/renderD128") == 0, "its render node is %s",
        devices[found]->nodes[DRM_NODE_RENDER]);
  CHECK(devices[found]->deviceinfo.platform->compatible[0] != NULL &&
            strstr(devices[found]->deviceinfo.platform->compatible[0], "mali") != NULL,
        "its compatible string is %s", devices[found]->deviceinfo.platform->compatible[0]);
  int fd = open(devices[found]->nodes[DRM_NODE_RENDER], O_RDWR | O_CLOEXEC);
  CHECK(fd >= 0, "open the render node");
  drmFreeDevices(devices, n);
  drmVersionPtr v = drmGetVersion(fd);
  CHECK(v && strcmp(v->name, "panthor") == 0 && v->version_major == 1, "drmGetVersion says %s %d.%d",
        v ? v->name : "?", v ? v->version_major : -1, v ? v->version_minor : -1);
  drmFreeVersion(v);
  char* rnode = drmGetRenderDeviceNameFromFd(fd);
  CHECK(rnode && strcmp(rnode, "/dev/dri/renderD128") == 0, "drmGetRenderDeviceNameFromFd: %s", rnode ? rnode : "?");
  free(rnode);
  errno = 0;
  CHECK(drmGetBusid(fd) == NULL && errno == EACCES, "GET_UNIQUE on the render node: EACCES (no DRM_RENDER_ALLOW)");
  int card = open("/dev/dri/card0", O_RDWR);
  char* busid = card >= 0 ? drmGetBusid(card) : NULL;
  CHECK(busid && strstr(busid, ".gpu") != NULL, "drmGetBusid on the primary node names the platform device: %s",
        busid ? busid : "?");
  drmFreeBusid(busid);
  drmVersionPtr cv = card >= 0 ? drmGetVersion(card) : NULL;
  CHECK(cv && strcmp(cv->name, "panthor") == 0, "the primary node answers VERSION too");
  drmFreeVersion(cv);
  if (card >= 0) close(card);

  /* 2. Query, create, bind, map. */
  struct gpu_info gi;
  memset(&gi, 0, sizeof(gi));
  struct dev_query q = {0, sizeof(gi), (uint64_t)(uintptr_t)&gi};
  CHECK(xioctl(fd, DEV_QUERY, &q) == 0 && gi.gpu_id != 0, "DEV_QUERY GPU_INFO: gpu_id 0x%x", gi.gpu_id);
  struct vm_create vc = {0, 0, 0};
  CHECK(xioctl(fd, VM_CREATE, &vc) == 0 && vc.id != 0, "VM_CREATE: vm %u", vc.id);
  uint32_t plain = bo(fd, 65536, 0, 0), aof = bo(fd, 2 << 20, BO_ALLOC_ON_FAULT, 65536);
  CHECK(plain && aof, "BO_CREATE: a plain BO (%u) and an alloc-on-fault BO (%u)", plain, aof);
  CHECK(bind(fd, vc.id, plain, 0x100000000ull, 65536) == 0, "VM_BIND maps the plain BO");
  CHECK(bind(fd, vc.id, aof, 0x100200000ull, 2 << 20) == 0, "VM_BIND maps the alloc-on-fault BO");
  struct bo_mmap_offset mo = {plain, 0, 0};
  CHECK(xioctl(fd, BO_MMAP_OFFSET, &mo) == 0, "BO_MMAP_OFFSET: 0x%llx", (unsigned long long)mo.offset);
  volatile uint32_t* p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)mo.offset);
  CHECK(p != MAP_FAILED && p[0] == 0 && p[16383] == 0, "mmap of the BO: its pages read as zero");
  if (p != MAP_FAILED) munmap((void*)p, 65536);
  struct bo_mmap_offset ao = {aof, 0, 0};
  void* ap = xioctl(fd, BO_MMAP_OFFSET, &ao) == 0 ? mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, (off_t)ao.offset)
                                                  : MAP_FAILED;
  CHECK(ap != MAP_FAILED, "mmap of the alloc-on-fault BO (populated at mmap, as drm_gem_shmem does)");
  if (ap != MAP_FAILED) munmap(ap, 2 << 20);

  /* 3. A syncobj. */
  uint32_t so = 0;
  CHECK(drmSyncobjCreate(fd, 0, &so) == 0 && so, "SYNCOBJ_CREATE");
  CHECK(drmSyncobjSignal(fd, &so, 1) == 0, "SYNCOBJ_SIGNAL");
  CHECK(drmSyncobjWait(fd, &so, 1, 0, 0, NULL) == 0, "SYNCOBJ_WAIT returns for a signalled syncobj");
  CHECK(drmSyncobjDestroy(fd, so) == 0, "SYNCOBJ_DESTROY");

  /* 4. The kernel's errno on bad input. */
  struct drm_gem_close gc = {4242, 0};
  errno = 0;
  CHECK(xioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc) == -1 && errno == EINVAL, "GEM_CLOSE of a bad handle: EINVAL");
  struct bo_create bc = {4096, 1u << 7, 0, 0, 0};
  errno = 0;
  CHECK(xioctl(fd, BO_CREATE, &bc) == -1 && errno == EINVAL, "BO_CREATE with an unknown flag: EINVAL");
  errno = 0;
  CHECK(bo(fd, 65536, BO_ALLOC_ON_FAULT, 3000) == 0 && errno == EINVAL, "alloc-on-fault granularity 3000: EINVAL");
  errno = 0;
  CHECK(bind(fd, vc.id, plain, 0x100000800ull, 4096) == -1 && errno == EINVAL, "VM_BIND at an unaligned VA: EINVAL");
  struct dev_query bq = {99, 8, (uint64_t)(uintptr_t)&gi};
  errno = 0;
  CHECK(xioctl(fd, DEV_QUERY, &bq) == -1 && errno == EINVAL, "DEV_QUERY of an unknown type: EINVAL");
  struct dev_query fq = {0, sizeof(gi), 8};
  errno = 0;
  CHECK(xioctl(fd, DEV_QUERY, &fq) == -1 && errno == EFAULT, "DEV_QUERY into an unmapped address: EFAULT");
  errno = 0;
  CHECK(ioctl(12345, DRM_IOCTL_VERSION, NULL) == -1 && errno == EBADF, "other fds pass through (EBADF)");

  /* 5. Several threads at once. */
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, worker, &fd);
  intptr_t bad = 0;
  for (int i = 0; i < 4; ++i) {
    void* r;
    pthread_join(t[i], &r);
    bad += (intptr_t)r;
  }
  CHECK(bad == 0, "4 threads x 200 BO create/close and queries: %ld failed", (long)bad);

  /* 6. dup: the same open file; closing one keeps the other. */
  int fd2 = dup(fd);
  close(fd);
  struct vm_destroy vd = {vc.id, 0};
  CHECK(fd2 >= 0 && xioctl(fd2, VM_DESTROY, &vd) == 0, "a dup'd fd keeps the file open after close()");
  close(fd2);
  return failures;
}
