/* drm_client: a program written against libdrm and the panthor uAPI, run
 * under libfaultlab_shim.so by //tests/e2e:shim_test. It finds the device as
 * libdrm does, queries it, creates a VM and BOs (one alloc-on-fault), binds
 * them, maps them, uses a syncobj, checks the kernel's errno on bad input,
 * uses what drivers up to 1.6 added, and does it from several threads at once. Prints "ok ..." per
 * check and exits with the number of failures. (The panthor structs are written out here: Debian
 * 12's libdrm predates panthor_drm.h.) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

struct obj_array {
  uint32_t stride, count;
  uint64_t array;
};
struct dev_query {
  uint32_t type, size;
  uint64_t pointer;
};
struct gpu_info {
  uint32_t gpu_id, gpu_rev, csf_id, l2_features, tiler_features, mem_features, mmu_features,
      thread_features, max_threads, thread_max_workgroup_size, thread_max_barrier_size,
      coherency_features, texture_features[4], as_present, pad0;
  uint64_t shader_present, l2_present, tiler_present;
  uint32_t core_features, pad;
};
struct vm_create {
  uint32_t flags, id;
  uint64_t user_va_range;
};
struct vm_destroy {
  uint32_t id, pad;
};
struct bo_create {
  uint64_t size;
  uint32_t flags, exclusive_vm_id, handle, alloc_on_fault_granularity;
};
struct bo_mmap_offset {
  uint32_t handle, pad;
  uint64_t offset;
};
struct vm_bind_op {
  uint32_t flags, bo_handle;
  uint64_t bo_offset, va, size;
  struct obj_array syncs;
};
struct vm_bind {
  uint32_t vm_id, flags;
  struct obj_array ops;
};
struct queue_create {
  uint8_t priority, pad[3];
  uint32_t ringbuf_size;
};
struct group_create {
  struct obj_array queues;
  uint8_t max_compute_cores, max_fragment_cores, max_tiler_cores, priority;
  uint32_t pad;
  uint64_t compute_core_mask, fragment_core_mask, tiler_core_mask;
  uint32_t vm_id, group_handle;
};
struct sync_op {
  uint32_t flags, handle;
  uint64_t timeline_value;
};
struct queue_submit {
  uint32_t queue_index, stream_size;
  uint64_t stream_addr;
  uint32_t latest_flush, pad;
  struct obj_array syncs;
};
struct group_submit {
  uint32_t group_handle, pad;
  struct obj_array queue_submits;
};
struct group_get_state {
  uint32_t group_handle, state, fatal_queues, pad;
};
struct tiler_heap_destroy {
  uint32_t handle, pad;
};
struct timestamp_info {
  uint64_t timestamp_frequency, current_timestamp, timestamp_offset;
};
struct group_priorities_info {
  uint8_t allowed_mask, pad[3];
};
struct bo_set_label {
  uint32_t handle, pad;
  uint64_t label;
};
struct set_user_mmio_offset {
  uint64_t offset;
};

#define PANTHOR(id, type) DRM_IOWR(DRM_COMMAND_BASE + (id), type)
#define DEV_QUERY PANTHOR(0, struct dev_query)
#define VM_CREATE PANTHOR(1, struct vm_create)
#define VM_DESTROY PANTHOR(2, struct vm_destroy)
#define VM_BIND PANTHOR(3, struct vm_bind)
#define BO_CREATE PANTHOR(5, struct bo_create)
#define BO_MMAP_OFFSET PANTHOR(6, struct bo_mmap_offset)
#define GROUP_CREATE PANTHOR(7, struct group_create)
#define GROUP_SUBMIT PANTHOR(9, struct group_submit)
#define GROUP_GET_STATE PANTHOR(10, struct group_get_state)
#define TILER_HEAP_DESTROY PANTHOR(12, struct tiler_heap_destroy)
#define BO_SET_LABEL PANTHOR(13, struct bo_set_label)
#define SET_USER_MMIO_OFFSET PANTHOR(14, struct set_user_mmio_offset)
#define USER_MMIO_OFFSET_32BIT (1ull << 43)
#define USER_MMIO_OFFSET_64BIT (1ull << 56)
#define BO_ALLOC_ON_FAULT (1u << 1)
#define GROUP_STATE_TIMEDOUT (1u << 0)
#define GROUP_STATE_FATAL_FAULT (1u << 1)
#define SYNC_OP_SIGNAL (1u << 31)

/* CSF instructions (spec 7.5): opcode in [63:56]. */
#define CS(op, bits) (((uint64_t)(op) << 56) | (uint64_t)(bits))
#define MOVE48(d, imm) CS(1, ((uint64_t)(d) << 48) | ((uint64_t)(imm)&0xffffffffffffull))
#define MOVE32(d, imm) CS(2, ((uint64_t)(d) << 48) | (uint32_t)(imm))
#define STORE_MULTIPLE(base, addr, mask) \
  CS(21, ((uint64_t)(base) << 48) | ((uint64_t)(addr) << 40) | ((uint64_t)(mask) << 16))
#define LOAD_MULTIPLE(base, addr, mask) \
  CS(20, ((uint64_t)(base) << 48) | ((uint64_t)(addr) << 40) | ((uint64_t)(mask) << 16))
/* SYNC_WAIT32.gt: until the u32 at the address pair exceeds the data register. */
#define SYNC_WAIT32_GT(data, addr) \
  CS(39, ((uint64_t)(addr) << 40) | ((uint64_t)(data) << 32) | (1ull << 28))

static uint64_t shader_present;

static uint32_t group(int fd, uint32_t vm) {
  struct queue_create q = {1, {0, 0, 0}, 16384};
  struct group_create g;
  memset(&g, 0, sizeof(g));
  g.queues = (struct obj_array){sizeof(q), 1, (uint64_t)(uintptr_t)&q};
  g.max_compute_cores = g.max_fragment_cores = g.max_tiler_cores = 1;
  g.priority = 1; /* medium */
  g.compute_core_mask = g.fragment_core_mask = shader_present;
  g.tiler_core_mask = 1;
  g.vm_id = vm;
  return ioctl(fd, GROUP_CREATE, &g) == 0 ? g.group_handle : 0;
}

/* Writes `n` instruction words at `cs` (a CPU mapping of the stream BO at
 * GPU VA `va`), submits them to `grp` signalling a new syncobj, and waits. */
static int run_stream(int fd, uint32_t grp, volatile uint64_t* cs, uint64_t va,
                      const uint64_t* words, int n, int* submit_ret) {
  for (int i = 0; i < n; ++i) cs[i] = words[i];
  uint32_t so = 0;
  drmSyncobjCreate(fd, 0, &so);
  struct sync_op sig = {SYNC_OP_SIGNAL, so, 0};
  struct queue_submit qs = {
      0, (uint32_t)(n * 8), va, 0, 0, {sizeof(sig), 1, (uint64_t)(uintptr_t)&sig}};
  struct group_submit gs = {grp, 0, {sizeof(qs), 1, (uint64_t)(uintptr_t)&qs}};
  *submit_ret = ioctl(fd, GROUP_SUBMIT, &gs);
  int w = drmSyncobjWait(fd, &so, 1, INT64_MAX, 0, NULL);
  drmSyncobjDestroy(fd, so);
  return w;
}

/* Writes `n` words at `cs` (GPU VA `va`) and submits them to queue 0 of
 * `grp` with no syncobj: nothing will wait for them. */
static int submit_nowait(int fd, uint32_t grp, volatile uint64_t* cs, uint64_t va,
                         const uint64_t* words, int n) {
  for (int i = 0; i < n; ++i) cs[i] = words[i];
  struct queue_submit qs = {0, (uint32_t)(n * 8), va, 0, 0, {0, 0, 0}};
  struct group_submit gs = {grp, 0, {sizeof(qs), 1, (uint64_t)(uintptr_t)&qs}};
  return ioctl(fd, GROUP_SUBMIT, &gs);
}

/* Polls `*p` every 100 us for up to 2 s: did it become `want`? No call. */
static int poll_u32(volatile uint32_t* p, uint32_t want) {
  for (int i = 0; i < 20000 && *p != want; ++i) usleep(100);
  return *p == want;
}

/* Reads `dir`/`name` (or `dir` alone when `name` is "") with open()+read(),
 * as sysfs readers do. */
static void read_sysfs(const char* dir, const char* name, char* out, size_t size) {
  char path[512];
  snprintf(path, sizeof(path), name[0] ? "%s/%s" : "%s", dir, name);
  out[0] = '\0';
  const int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return;
  const ssize_t n = read(f, out, size - 1);
  out[n > 0 ? n : 0] = '\0';
  close(f);
}

/* Threads submitting and waiting at once: each its own group and its own
 * slice of the stream BO, storing its number into the alloc-on-fault BO. */
struct submitter {
  int fd;
  uint32_t vm;
  volatile uint64_t* cs;
  uint64_t cs_va, target_va;
  int index, ok;
};

static void* submit_worker(void* arg) {
  struct submitter* s = arg;
  uint32_t g = group(s->fd, s->vm);
  const uint64_t words[] = {MOVE48(2, s->target_va + 0x8000 + 4 * s->index),
                            MOVE32(10, 100 + s->index), STORE_MULTIPLE(10, 2, 1)};
  int sret = -1;
  for (int round = 0; round < 25 && g; ++round) {
    if (run_stream(s->fd, g, s->cs + 64 * s->index, s->cs_va + 512 * s->index, words, 3, &sret) !=
            0 ||
        sret != 0) {
      return NULL;
    }
  }
  s->ok = g != 0;
  return NULL;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct signaller {
  int fd;
  uint32_t so;
};
static void* signal_later(void* arg) {
  struct signaller* s = arg;
  usleep(100 * 1000);
  drmSyncobjSignal(s->fd, &s->so, 1);
  return NULL;
}

/* A wait in a file that another thread closes meanwhile. */
struct waiter {
  int fd;
  uint32_t so;
  int ret;
  int64_t took_ns;
};
static void* wait_in_closing_file(void* arg) {
  struct waiter* w = arg;
  int64_t t0 = now_ns();
  w->ret = drmSyncobjWait(w->fd, &w->so, 1, t0 + 150000000ll,
                          DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL);
  w->took_ns = now_ns() - t0;
  return NULL;
}

static struct group_get_state state_of(int fd, uint32_t grp) {
  struct group_get_state st = {grp, 0, 0, 0};
  ioctl(fd, GROUP_GET_STATE, &st);
  return st;
}

static int failures;
#define CHECK(cond, ...)                                       \
  do {                                                         \
    if (cond) {                                                \
      printf("ok   " __VA_ARGS__);                             \
    } else {                                                   \
      printf("FAIL " __VA_ARGS__);                             \
      printf("     (errno %d: %s)\n", errno, strerror(errno)); \
      ++failures;                                              \
    }                                                          \
    printf("\n");                                              \
  } while (0)

static int xioctl(int fd, unsigned long req, void* arg) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r == -1 && errno == EINTR);
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

/* --storm N: at least N GPU faults of varied shapes, for calibration
 * (docs/cost-model.md "Calibration"): alloc-on-fault BOs of 4 KiB granules
 * (one page a fault; a page-table page at each new 2 MiB), 64 KiB granules
 * (16 pages), and 64 KiB granules whose pages an mmap populated first (the
 * fault only maps them), stored into by command streams, one store per
 * granule, 64 stores a job. Prints the faults it asked for. */
static int storm(int fd, long want) {
  struct gpu_info gi;
  memset(&gi, 0, sizeof(gi));
  struct dev_query q = {0, sizeof(gi), (uint64_t)(uintptr_t)&gi};
  struct vm_create vc = {0, 0, 0};
  if (xioctl(fd, DEV_QUERY, &q) != 0 || xioctl(fd, VM_CREATE, &vc) != 0) return 1;
  shader_present = gi.shader_present;
  const uint64_t cs_va = 0x200000000ull;
  uint32_t csbo = bo(fd, 65536, 0, 0);
  struct bo_mmap_offset cso = {csbo, 0, 0};
  if (!csbo || bind(fd, vc.id, csbo, cs_va, 65536) != 0 || xioctl(fd, BO_MMAP_OFFSET, &cso) != 0)
    return 1;
  volatile uint64_t* cs =
      mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)cso.offset);
  uint32_t grp = group(fd, vc.id);
  if (cs == MAP_FAILED || !grp) return 1;
  /* The three shapes, round robin, 4096 granules each at most. */
  struct {
    uint64_t va, gran, size, next;
    int premapped;
  } shapes[3] = {{0x300000000ull, 4096, 16ull << 20, 0, 0},
                 {0x400000000ull, 65536, 256ull << 20, 0, 0},
                 {0x500000000ull, 65536, 256ull << 20, 0, 1}};
  for (int i = 0; i < 3; ++i) {
    uint32_t h = bo(fd, shapes[i].size, BO_ALLOC_ON_FAULT, (uint32_t)shapes[i].gran);
    if (!h || bind(fd, vc.id, h, shapes[i].va, shapes[i].size) != 0) return 1;
    if (shapes[i].premapped) {
      struct bo_mmap_offset o = {h, 0, 0};
      void* m = xioctl(fd, BO_MMAP_OFFSET, &o) == 0
                    ? mmap(NULL, shapes[i].size, PROT_READ, MAP_SHARED, fd, (off_t)o.offset)
                    : MAP_FAILED;
      if (m == MAP_FAILED) return 1;
      munmap(m, shapes[i].size);
    }
  }
  long asked = 0;
  for (int s = 0, idle = 0; asked < want && idle < 3; s = (s + 1) % 3) {
    uint64_t words[2 * 64 + 1];
    int n = 0;
    words[n++] = MOVE32(10, 0x5707);
    for (int k = 0; k < 64 && asked < want && shapes[s].next < shapes[s].size; ++k, ++asked) {
      words[n++] = MOVE48(2, shapes[s].va + shapes[s].next);
      words[n++] = STORE_MULTIPLE(10, 2, 1);
      shapes[s].next += shapes[s].gran;
    }
    idle = n == 1 ? idle + 1 : 0; /* three empty in a row: every BO stored into */
    if (n == 1) continue;
    int ret = 0;
    if (run_stream(fd, grp, cs, cs_va, words, n, &ret) != 0 || ret != 0) return 1;
  }
  printf("storm: %ld faults asked for\n", asked);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--storm") == 0) {
    int sfd = drmOpenRender(128);
    return sfd < 0 ? 1 : storm(sfd, atol(argv[2]));
  }
  /* 1. Find the device as libdrm does. */
  drmDevicePtr devices[16];
  int n = drmGetDevices2(0, devices, 16), found = -1;
  for (int i = 0; i < n; ++i) {
    if (devices[i]->bustype == DRM_BUS_PLATFORM &&
        (devices[i]->available_nodes & (1 << DRM_NODE_RENDER)))
      found = i;
  }
  CHECK(found >= 0, "drmGetDevices2 finds a platform device with a render node (%d device(s))", n);
  if (found < 0) return 1;
  CHECK(strcmp(devices[found]->nodes[DRM_NODE_RENDER], "/dev/dri/renderD128") == 0,
        "its render node is %s", devices[found]->nodes[DRM_NODE_RENDER]);
  CHECK(devices[found]->deviceinfo.platform->compatible[0] != NULL &&
            strstr(devices[found]->deviceinfo.platform->compatible[0], "mali") != NULL,
        "its compatible string is %s", devices[found]->deviceinfo.platform->compatible[0]);
  int fd = open(devices[found]->nodes[DRM_NODE_RENDER], O_RDWR | O_CLOEXEC);
  CHECK(fd >= 0, "open the render node");
  drmFreeDevices(devices, n);
  if (fd < 0) return 1; /* nothing below can run */
  drmVersionPtr v = drmGetVersion(fd);
  CHECK(v && strcmp(v->name, "panthor") == 0 && v->version_major == 1,
        "drmGetVersion says %s %d.%d", v ? v->name : "?", v ? v->version_major : -1,
        v ? v->version_minor : -1);
  drmFreeVersion(v);
  int rfd = drmOpenRender(128);
  drmVersionPtr rv = rfd >= 0 ? drmGetVersion(rfd) : NULL;
  CHECK(rv && strcmp(rv->name, "panthor") == 0, "drmOpenRender(128) opens it too");
  drmFreeVersion(rv);
  if (rfd >= 0) close(rfd);
  char* rnode = drmGetRenderDeviceNameFromFd(fd);
  CHECK(rnode && strcmp(rnode, "/dev/dri/renderD128") == 0, "drmGetRenderDeviceNameFromFd: %s",
        rnode ? rnode : "?");
  free(rnode);
  errno = 0;
  CHECK(drmGetBusid(fd) == NULL && errno == EACCES,
        "GET_UNIQUE on the render node: EACCES (no DRM_RENDER_ALLOW)");
  int card = open("/dev/dri/card0", O_RDWR);
  char* busid = card >= 0 ? drmGetBusid(card) : NULL;
  CHECK(busid && strstr(busid, ".gpu") != NULL,
        "drmGetBusid on the primary node names the platform device: %s", busid ? busid : "?");
  drmFreeBusid(busid);
  drmVersionPtr cv = card >= 0 ? drmGetVersion(card) : NULL;
  CHECK(cv && strcmp(cv->name, "panthor") == 0, "the primary node answers VERSION too");
  drmFreeVersion(cv);
  if (card >= 0) close(card);

  /* 2. Query, create, bind, map. */
  struct gpu_info gi;
  memset(&gi, 0, sizeof(gi));
  struct dev_query q = {0, sizeof(gi), (uint64_t)(uintptr_t)&gi};
  CHECK(xioctl(fd, DEV_QUERY, &q) == 0 && gi.gpu_id != 0, "DEV_QUERY GPU_INFO: gpu_id 0x%x",
        gi.gpu_id);
  shader_present = gi.shader_present;
  struct vm_create vc = {0, 0, 0};
  CHECK(xioctl(fd, VM_CREATE, &vc) == 0 && vc.id != 0, "VM_CREATE: vm %u", vc.id);
  uint32_t plain = bo(fd, 65536, 0, 0), aof = bo(fd, 2 << 20, BO_ALLOC_ON_FAULT, 65536);
  CHECK(plain && aof, "BO_CREATE: a plain BO (%u) and an alloc-on-fault BO (%u)", plain, aof);
  CHECK(bind(fd, vc.id, plain, 0x100000000ull, 65536) == 0, "VM_BIND maps the plain BO");
  CHECK(bind(fd, vc.id, aof, 0x100200000ull, 2 << 20) == 0, "VM_BIND maps the alloc-on-fault BO");
  struct bo_mmap_offset mo = {plain, 0, 0};
  CHECK(xioctl(fd, BO_MMAP_OFFSET, &mo) == 0, "BO_MMAP_OFFSET: 0x%llx",
        (unsigned long long)mo.offset);
  volatile uint32_t* p =
      mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)mo.offset);
  CHECK(p != MAP_FAILED && p[0] == 0 && p[16383] == 0, "mmap of the BO: its pages read as zero");
  /* Two maps of one BO are the same pages, as the kernel's shmem pages are:
   * a store through one is there through the other at once. */
  volatile uint32_t* p2 = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, (off_t)mo.offset);
  if (p != MAP_FAILED) p[100] = 0xc0ffee;
  CHECK(p2 != MAP_FAILED && p2 != p && p2[100] == 0xc0ffee,
        "a second mmap of the BO sees the first one's store at once");
  if (p != MAP_FAILED) p[100] = 0;
  if (p2 != MAP_FAILED) munmap((void*)p2, 65536);
  if (p != MAP_FAILED) munmap((void*)p, 65536);
  struct bo_mmap_offset ao = {aof, 0, 0};
  void* ap = xioctl(fd, BO_MMAP_OFFSET, &ao) == 0
                 ? mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, (off_t)ao.offset)
                 : MAP_FAILED;
  CHECK(ap != MAP_FAILED,
        "mmap of the alloc-on-fault BO (populated at mmap, as drm_gem_shmem does)");
  if (ap != MAP_FAILED) munmap(ap, 2 << 20);

  /* 3. A command stream that stores into an alloc-on-fault BO nobody has
   * touched: the store faults, the fault path populates the page, the value
   * lands, the syncobj signals, and the CPU reads it back through mmap. */
  uint32_t csbo = bo(fd, 65536, 0, 0), target = bo(fd, 2 << 20, BO_ALLOC_ON_FAULT, 65536);
  const uint64_t cs_va = 0x100400000ull, target_va = 0x100600000ull;
  CHECK(csbo && target && bind(fd, vc.id, csbo, cs_va, 65536) == 0 &&
            bind(fd, vc.id, target, target_va, 2 << 20) == 0,
        "a stream BO and an untouched alloc-on-fault BO, bound");
  struct bo_mmap_offset cso = {csbo, 0, 0};
  volatile uint64_t* cs =
      xioctl(fd, BO_MMAP_OFFSET, &cso) == 0
          ? mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)cso.offset)
          : MAP_FAILED;
  uint32_t g1 = group(fd, vc.id);
  CHECK(cs != MAP_FAILED && g1, "GROUP_CREATE, and the stream BO mapped for the CPU");
  const uint64_t store[] = {MOVE48(2, target_va + 0x4000), MOVE32(10, 0xfeedface),
                            MOVE32(11, 0x600d), STORE_MULTIPLE(10, 2, 3)};
  int sret = -1;
  int wret = run_stream(fd, g1, cs, cs_va, store, 4, &sret);
  CHECK(sret == 0 && wret == 0,
        "GROUP_SUBMIT of the stream, and SYNCOBJ_WAIT returns when it ends");
  struct bo_mmap_offset to = {target, 0, 0};
  volatile uint32_t* tv = xioctl(fd, BO_MMAP_OFFSET, &to) == 0
                              ? mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, (off_t)to.offset)
                              : MAP_FAILED;
  CHECK(tv != MAP_FAILED && tv[0x4000 / 4] == 0xfeedface && tv[0x4004 / 4] == 0x600d,
        "the GPU's stores read back through mmap: 0x%x 0x%x", tv != MAP_FAILED ? tv[0x4000 / 4] : 0,
        tv != MAP_FAILED ? tv[0x4004 / 4] : 0);
  CHECK(state_of(fd, g1).state == 0, "the group is fine");
  /* Today's 40-byte SYNCOBJ_WAIT (with deadline_nsec): the same ioctl, and the
   * mapping already holds the GPU's store when it returns (IGT's group_submit). */
  struct syncobj_wait40 {
    uint64_t handles;
    int64_t timeout_nsec;
    uint32_t count_handles, flags, first_signaled, pad;
    uint64_t deadline_nsec;
  } w40;
  uint32_t so40 = 0;
  drmSyncobjCreate(fd, 0, &so40);
  struct sync_op sig40 = {SYNC_OP_SIGNAL, so40, 0};
  const uint64_t store40[] = {MOVE48(2, target_va + 0x4100), MOVE32(10, 0xdeadbeef),
                              STORE_MULTIPLE(10, 2, 1)};
  for (int i = 0; i < 3; ++i) cs[192 + i] = store40[i];
  struct queue_submit qs40 = {0, 3 * 8, cs_va + 1536,
                              0, 0,     {sizeof(sig40), 1, (uint64_t)(uintptr_t)&sig40}};
  struct group_submit gs40 = {g1, 0, {sizeof(qs40), 1, (uint64_t)(uintptr_t)&qs40}};
  memset(&w40, 0, sizeof(w40));
  w40.handles = (uint64_t)(uintptr_t)&so40;
  w40.timeout_nsec = INT64_MAX;
  w40.count_handles = 1;
  const int s40 = xioctl(fd, GROUP_SUBMIT, &gs40);
  const int r40 = xioctl(fd, DRM_IOWR(0xC3, struct syncobj_wait40), &w40);
  CHECK(s40 == 0 && r40 == 0 && tv != MAP_FAILED && tv[0x4100 / 4] == 0xdeadbeef,
        "SYNCOBJ_WAIT with the 40-byte argument (0x%lx): the store is there: 0x%x",
        (unsigned long)DRM_IOWR(0xC3, struct syncobj_wait40),
        tv != MAP_FAILED ? tv[0x4100 / 4] : 0);
  drmSyncobjDestroy(fd, so40);
  if (tv != MAP_FAILED) munmap((void*)tv, 2 << 20);

  /* A stream that loads what the CPU wrote into another BO and stores it. */
  uint32_t data = bo(fd, 65536, 0, 0);
  const uint64_t data_va = 0x100800000ull;
  struct bo_mmap_offset dmo = {data, 0, 0};
  volatile uint32_t* dm =
      data && bind(fd, vc.id, data, data_va, 65536) == 0 && xioctl(fd, BO_MMAP_OFFSET, &dmo) == 0
          ? mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)dmo.offset)
          : MAP_FAILED;
  if (dm != MAP_FAILED) dm[0x100 / 4] = 0x12345678;
  const uint64_t copy[] = {MOVE48(4, data_va + 0x100), LOAD_MULTIPLE(20, 4, 1),
                           MOVE48(2, target_va + 0xc000), STORE_MULTIPLE(20, 2, 1)};
  wret = run_stream(fd, g1, cs, cs_va, copy, 4, &sret);
  tv = xioctl(fd, BO_MMAP_OFFSET, &to) == 0
           ? mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, (off_t)to.offset)
           : MAP_FAILED;
  CHECK(dm != MAP_FAILED && sret == 0 && wret == 0 && tv != MAP_FAILED &&
            tv[0xc000 / 4] == 0x12345678,
        "a stream loads what the CPU wrote through a mapping and stores it: 0x%x",
        tv != MAP_FAILED ? tv[0xc000 / 4] : 0);
  if (tv != MAP_FAILED) munmap((void*)tv, 2 << 20);

  /* SYNC_WAIT32: queue 0 of a two-queue group blocks until a flag in the data
   * BO is > 0; the CPU sets it through its mapping and submits a sync point
   * to queue 1; the waiter runs on and stores. */
  struct queue_create q2[2] = {{1, {0, 0, 0}, 16384}, {1, {0, 0, 0}, 16384}};
  struct group_create g2c;
  memset(&g2c, 0, sizeof(g2c));
  g2c.queues = (struct obj_array){sizeof(q2[0]), 2, (uint64_t)(uintptr_t)q2};
  g2c.max_compute_cores = g2c.max_fragment_cores = g2c.max_tiler_cores = 1;
  g2c.priority = 1;
  g2c.compute_core_mask = g2c.fragment_core_mask = shader_present;
  g2c.tiler_core_mask = 1;
  g2c.vm_id = vc.id;
  const int g2ok = xioctl(fd, GROUP_CREATE, &g2c) == 0;
  if (dm != MAP_FAILED) dm[0x200 / 4] = 0;
  const uint64_t waiter[] = {MOVE48(2, data_va + 0x200), MOVE32(10, 0),
                             SYNC_WAIT32_GT(10, 2),      MOVE48(4, data_va + 0x300),
                             MOVE32(11, 0x5ca1ab1e),     STORE_MULTIPLE(11, 4, 1)};
  for (int i = 0; i < 6; ++i) cs[128 + i] = waiter[i];
  uint32_t wso = 0, pso = 0;
  drmSyncobjCreate(fd, 0, &wso);
  drmSyncobjCreate(fd, 0, &pso);
  struct sync_op wsig = {SYNC_OP_SIGNAL, wso, 0}, psig = {SYNC_OP_SIGNAL, pso, 0};
  struct queue_submit wq = {0, 6 * 8, cs_va + 1024,
                            0, 0,     {sizeof(wsig), 1, (uint64_t)(uintptr_t)&wsig}};
  struct group_submit wgs = {g2c.group_handle, 0, {sizeof(wq), 1, (uint64_t)(uintptr_t)&wq}};
  /* (without the data BO, the waiter would fault on the flag's address at a
   * moment only the GPU knows) */
  const int wsub = g2ok && dm != MAP_FAILED ? xioctl(fd, GROUP_SUBMIT, &wgs) : -1;
  if (dm != MAP_FAILED) dm[0x200 / 4] = 1; /* the CPU releases it ... */
  struct queue_submit sq = {1, 0, 0, 0, 0, {sizeof(psig), 1, (uint64_t)(uintptr_t)&psig}};
  struct group_submit pgs = {g2c.group_handle, 0, {sizeof(sq), 1, (uint64_t)(uintptr_t)&sq}};
  const int psub = g2ok ? xioctl(fd, GROUP_SUBMIT, &pgs) : -1; /* ... seen by this submit */
  const int wwait = drmSyncobjWait(fd, &wso, 1, INT64_MAX, 0, NULL);
  CHECK(g2ok && wsub == 0 && psub == 0 && wwait == 0 && dm != MAP_FAILED &&
            dm[0x300 / 4] == 0x5ca1ab1e && state_of(fd, g2c.group_handle).state == 0,
        "SYNC_WAIT32 blocks a queue until the CPU's write, seen at the next submit: 0x%x",
        dm != MAP_FAILED ? dm[0x300 / 4] : 0);
  drmSyncobjDestroy(fd, wso);
  drmSyncobjDestroy(fd, pso);

  /* The live device: the GPU runs while the program polls, sleeps or asks
   * for a group's state — no wait drives it (IGT's scheduler tests). */
  volatile uint64_t* lcs = cs + 1024; /* the stream BO's bytes 8 KiB on */
  const uint64_t lcs_va = cs_va + 8192;
  uint32_t gl = group(fd, vc.id);
  if (dm != MAP_FAILED) dm[0x400 / 4] = dm[0x404 / 4] = dm[0x408 / 4] = 0;
  const uint64_t lstore[] = {MOVE48(2, data_va + 0x400), MOVE32(10, 0x1175),
                             STORE_MULTIPLE(10, 2, 1)};
  const int ls = dm != MAP_FAILED ? submit_nowait(fd, gl, lcs, lcs_va, lstore, 3) : -1;
  CHECK(ls == 0 && poll_u32(&dm[0x400 / 4], 0x1175),
        "live: a program polling its mapping sees the GPU's store (no wait made)");
  /* A SYNC_WAIT the CPU's write releases, with no call after it. */
  const uint64_t lwait[] = {MOVE48(2, data_va + 0x404), MOVE32(10, 0),
                            SYNC_WAIT32_GT(10, 2),      MOVE48(4, data_va + 0x408),
                            MOVE32(11, 0x5ca1ab1e),     STORE_MULTIPLE(11, 4, 1)};
  const int lw = dm != MAP_FAILED ? submit_nowait(fd, gl, lcs + 16, lcs_va + 128, lwait, 6) : -1;
  usleep(20000);
  const uint32_t before = dm != MAP_FAILED ? dm[0x408 / 4] : 1;
  if (dm != MAP_FAILED) dm[0x404 / 4] = 1;
  CHECK(
      lw == 0 && before == 0 && poll_u32(&dm[0x408 / 4], 0x5ca1ab1e) && state_of(fd, gl).state == 0,
      "live: a CPU write releases a blocked SYNC_WAIT with no call after it");
  /* A faulting stream: the group turns FATAL_FAULT while the program asks. */
  uint32_t gf = group(fd, vc.id);
  const uint64_t lwild[] = {MOVE48(2, 0x7f0000000ull), MOVE32(10, 1), STORE_MULTIPLE(10, 2, 1)};
  const int lf = submit_nowait(fd, gf, lcs + 32, lcs_va + 256, lwild, 3);
  int fatal = 0;
  for (int i = 0; i < 2000 && !fatal; ++i) {
    fatal = (state_of(fd, gf).state & GROUP_STATE_FATAL_FAULT) != 0;
    if (!fatal) usleep(1000);
  }
  CHECK(lf == 0 && fatal, "live: GROUP_GET_STATE turns FATAL_FAULT without a wait");
  /* sysfs as panthor has it: idle for 150 ms, the GPU is runtime-suspended
   * and devfreq has dropped to its lowest OPP. */
  /* Room for the directory and any d_name (256 bytes). */
  char dvf[320], pwr[256], status[32] = "", cur[32] = "", min[32] = "", gov[32] = "";
  /* devfreq's directory is named after the platform device. */
  snprintf(dvf, sizeof(dvf), "/sys/dev/char/226:128/device/devfreq");
  DIR* dd = opendir(dvf);
  for (struct dirent* de; dd && (de = readdir(dd));) {
    if (de->d_name[0] != '.') {
      snprintf(dvf, sizeof(dvf), "/sys/dev/char/226:128/device/devfreq/%s", de->d_name);
      break;
    }
  }
  if (dd) closedir(dd);
  snprintf(pwr, sizeof(pwr), "/sys/dev/char/226:128/device/power");
  {
    usleep(150000);
    read_sysfs(pwr, "runtime_status", status, sizeof(status));
    read_sysfs(dvf, "cur_freq", cur, sizeof(cur));
    read_sysfs(dvf, "min_freq", min, sizeof(min));
    read_sysfs(dvf, "governor", gov, sizeof(gov));
    CHECK(strcmp(status, "suspended\n") == 0 && cur[0] && strcmp(cur, min) == 0 &&
              strcmp(gov, "simple_ondemand\n") == 0,
          "sysfs: idle, the GPU is runtime-suspended at its lowest OPP (%.*s, %.*s Hz)",
          (int)strcspn(status, "\n"), status, (int)strcspn(cur, "\n"), cur);
  }
  /* A stalled job: the job timeout passes while the program sleeps. */
  const char* tmo = getenv("FAULTLAB_JOB_TIMEOUT_MS");
  const long timeout_ms = tmo ? atol(tmo) : 5000; /* panthor's JOB_TIMEOUT_MS */
  uint32_t gs = group(fd, vc.id);
  if (dm != MAP_FAILED) dm[0x40c / 4] = 0;
  const uint64_t lstall[] = {MOVE48(2, data_va + 0x40c), MOVE32(10, 0), SYNC_WAIT32_GT(10, 2)};
  const int lt = dm != MAP_FAILED ? submit_nowait(fd, gs, lcs + 48, lcs_va + 384, lstall, 3) : -1;
  const uint32_t running = state_of(fd, gs).state;
  /* Busy for three quarters of the timeout: active, at the top OPP. */
  usleep((useconds_t)(timeout_ms * 750));
  {
    char max[32] = "", trans[2048] = "";
    read_sysfs(pwr, "runtime_status", status, sizeof(status));
    read_sysfs(dvf, "cur_freq", cur, sizeof(cur));
    read_sysfs(dvf, "max_freq", max, sizeof(max));
    read_sysfs(dvf, "trans_stat", trans, sizeof(trans));
    CHECK(strcmp(status, "active\n") == 0 && cur[0] && strcmp(cur, max) == 0 &&
              strstr(trans, "Total transition : ") != NULL &&
              atoi(strstr(trans, "Total transition : ") + 19) >= 2,
          "sysfs: a busy GPU is active and devfreq raised it to its top OPP (%.*s Hz)",
          (int)strcspn(cur, "\n"), cur);
  }
  usleep((useconds_t)(timeout_ms * 1250));
  CHECK(lt == 0 && running == 0 && (state_of(fd, gs).state & GROUP_STATE_TIMEDOUT),
        "live: a stalled job times out during the program's sleep (%ld ms)", timeout_ms);

  /* Descriptors across two opens of the device: a syncobj fd, a sync_file,
   * a dma-buf. */
  {
    int fd2 = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
    uint32_t sa = 0, sb = 0;
    int sfd = -1;
    drmSyncobjCreate(fd, 0, &sa);
    const int exported = drmSyncobjHandleToFD(fd, sa, &sfd);
    const int imported = fd2 >= 0 && exported == 0 ? drmSyncobjFDToHandle(fd2, sfd, &sb) : -1;
    const int before = drmSyncobjWait(fd2, &sb, 1, 0, 0, NULL);
    drmSyncobjSignal(fd, &sa, 1);
    CHECK(
        exported == 0 && imported == 0 && before != 0 &&
            drmSyncobjWait(fd2, &sb, 1, 0, 0, NULL) == 0,
        "a syncobj fd imports on another open of the device: signalled on one, seen on the other");
    if (sfd >= 0) close(sfd);
    /* A sync_file of a job's fence: not readable while a SYNC_WAIT holds the
     * job, readable once the CPU releases it; SYNC_IOC_FILE_INFO says so;
     * imported into a syncobj of the other file. */
    uint32_t js = 0;
    drmSyncobjCreate(fd, 0, &js);
    if (dm != MAP_FAILED) dm[0x410 / 4] = 0;
    const uint64_t jwait[] = {MOVE48(2, data_va + 0x410), MOVE32(10, 0), SYNC_WAIT32_GT(10, 2)};
    for (int i = 0; i < 3; ++i) lcs[64 + i] = jwait[i];
    struct sync_op jsig = {SYNC_OP_SIGNAL, js, 0};
    struct queue_submit jq = {0, 3 * 8, lcs_va + 512,
                              0, 0,     {sizeof(jsig), 1, (uint64_t)(uintptr_t)&jsig}};
    uint32_t gj = group(fd, vc.id);
    struct group_submit jgs = {gj, 0, {sizeof(jq), 1, (uint64_t)(uintptr_t)&jq}};
    const int jsub = dm != MAP_FAILED ? xioctl(fd, GROUP_SUBMIT, &jgs) : -1;
    int sync_fd = -1;
    const int sx = drmSyncobjExportSyncFile(fd, js, &sync_fd);
    struct pollfd pf = {sync_fd, POLLIN, 0};
    const int early = sx == 0 ? poll(&pf, 1, 0) : -1;
    if (dm != MAP_FAILED) dm[0x410 / 4] = 1;
    const int late = sx == 0 ? poll(&pf, 1, 2000) : -1;
    struct sync_file_info {
      char name[32];
      int32_t status;
      uint32_t flags, num_fences, pad;
      uint64_t sync_fence_info;
    } sfi;
    memset(&sfi, 0, sizeof(sfi));
    const int info = sx == 0 ? ioctl(sync_fd, _IOWR('>', 4, struct sync_file_info), &sfi) : -1;
    uint32_t sj = 0;
    drmSyncobjCreate(fd2, 0, &sj);
    const int imp = sx == 0 ? drmSyncobjImportSyncFile(fd2, sj, sync_fd) : -1;
    CHECK(jsub == 0 && sx == 0 && early == 0 && late == 1 && (pf.revents & POLLIN) && info == 0 &&
              sfi.status == 1 && sfi.num_fences == 1 && imp == 0 &&
              drmSyncobjWait(fd2, &sj, 1, 0, 0, NULL) == 0,
          "a sync_file: poll() readable once its job ends (%d, then %d), FILE_INFO status %d, "
          "imported on the other file",
          early, late, sfi.status);
    if (sync_fd >= 0) close(sync_fd);
    /* A dma-buf: its size by lseek, its mmap the BO's bytes, imported on the
     * other file as the same BO and on this one as the same handle. */
    int dfd = -1;
    uint32_t same = 0, other = 0;
    const int px = drmPrimeHandleToFD(fd, data, DRM_CLOEXEC | DRM_RDWR, &dfd);
    const off_t size = px == 0 ? lseek(dfd, 0, SEEK_END) : -1;
    volatile uint32_t* dmb =
        px == 0 ? mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0) : MAP_FAILED;
    if (dmb != MAP_FAILED) dmb[0x500 / 4] = 0xd1ab0f;
    const int p1 = px == 0 ? drmPrimeFDToHandle(fd, dfd, &same) : -1;
    const int p2 = px == 0 && fd2 >= 0 ? drmPrimeFDToHandle(fd2, dfd, &other) : -1;
    CHECK(px == 0 && size == 65536 && dmb != MAP_FAILED && dm != MAP_FAILED &&
              dm[0x500 / 4] == 0xd1ab0f && p1 == 0 && same == data && p2 == 0 && other != 0,
          "a dma-buf: lseek says 64 KiB, its map is the BO's bytes, it imports as the same BO");
    if (dmb != MAP_FAILED) munmap((void*)dmb, 65536);
    if (dfd >= 0) close(dfd);
    if (fd2 >= 0) close(fd2);
  }
  /* fdinfo as gputop and nvtop read it. */
  {
    char path[64], info[4096] = "";
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    read_sysfs(path, "", info, sizeof(info));
    const char* engine = strstr(info, "drm-engine-panthor:\t");
    CHECK(
        strstr(info, "drm-driver:\tpanthor\n") && strstr(info, "drm-client-id:\t") && engine &&
            atoll(engine + 20) > 0 && strstr(info, "drm-total-memory:\t") &&
            strstr(info, "drm-resident-memory:\t") && strstr(info, "pos:\t"),
        "fdinfo: the DRM keys (driver, client id, engine time %lld ns, memory) after the kernel's",
        engine ? atoll(engine + 20) : -1);
  }
  if (dm != MAP_FAILED) munmap((void*)dm, 65536);

  /* An unknown instruction: the queue turns fatal; the wait still returns. */
  uint32_t g2 = group(fd, vc.id);
  const uint64_t invalid[] = {MOVE32(1, 1), CS(0x7f, 0)};
  wret = run_stream(fd, g2, cs, cs_va, invalid, 2, &sret);
  struct group_get_state st2 = state_of(fd, g2);
  CHECK(sret == 0 && wret == 0 && (st2.state & GROUP_STATE_FATAL_FAULT) && st2.fatal_queues == 1,
        "an unknown CS instruction: FATAL_FAULT, queue 0 fatal, the wait returned");
  const uint64_t nop[] = {CS(0, 0)};
  errno = 0;
  run_stream(fd, g2, cs, cs_va, nop, 1, &sret);
  CHECK(sret == -1 && errno == EINVAL, "the fatal group takes no new submit: EINVAL");

  /* A store to an unmapped address: the fault path makes the group fatal. */
  uint32_t g3 = group(fd, vc.id);
  const uint64_t wild[] = {MOVE48(2, 0x7f0000000ull), MOVE32(10, 1), STORE_MULTIPLE(10, 2, 1)};
  wret = run_stream(fd, g3, cs, cs_va, wild, 3, &sret);
  CHECK(sret == 0 && wret == 0 && (state_of(fd, g3).state & GROUP_STATE_FATAL_FAULT),
        "a store to an unmapped address: the group is fatal, the wait returned");
  /* Four threads, each submitting and waiting 25 times at once. */
  pthread_t st[4];
  struct submitter subs[4];
  for (int i = 0; i < 4; ++i) {
    subs[i] = (struct submitter){fd, vc.id, cs + 64, cs_va + 512, target_va, i, 0};
    pthread_create(&st[i], NULL, submit_worker, &subs[i]);
  }
  int all = 1;
  for (int i = 0; i < 4; ++i) {
    pthread_join(st[i], NULL);
    all = all && subs[i].ok;
  }
  tv = xioctl(fd, BO_MMAP_OFFSET, &to) == 0
           ? mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, (off_t)to.offset)
           : MAP_FAILED;
  int stored = tv != MAP_FAILED;
  for (int i = 0; i < 4 && stored; ++i) stored = tv[(0x8000 + 4 * i) / 4] == (uint32_t)(100 + i);
  CHECK(all && stored, "4 threads x 25 submits and waits at once, each store landed");
  if (tv != MAP_FAILED) munmap((void*)tv, 2 << 20);
  if (cs != MAP_FAILED) munmap((void*)cs, 65536);

  /* 4. A syncobj. */
  uint32_t so = 0;
  CHECK(drmSyncobjCreate(fd, 0, &so) == 0 && so, "SYNCOBJ_CREATE");
  CHECK(drmSyncobjSignal(fd, &so, 1) == 0, "SYNCOBJ_SIGNAL");
  CHECK(drmSyncobjWait(fd, &so, 1, 0, 0, NULL) == 0,
        "SYNCOBJ_WAIT returns for a signalled syncobj");
  CHECK(drmSyncobjDestroy(fd, so) == 0, "SYNCOBJ_DESTROY");
  /* WAIT_FOR_SUBMIT: the wait lets go of the twin and blocks in host time
   * until another thread signals; without one it times out on CLOCK_MONOTONIC. */
  uint32_t later = 0;
  drmSyncobjCreate(fd, 0, &later);
  struct signaller sg = {fd, later};
  pthread_t sig_thread;
  pthread_create(&sig_thread, NULL, signal_later, &sg);
  int64_t t0 = now_ns();
  int wr = drmSyncobjWait(fd, &later, 1, t0 + 5000000000ll, DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT,
                          NULL);
  pthread_join(sig_thread, NULL);
  CHECK(wr == 0 && now_ns() - t0 >= 90000000ll,
        "WAIT_FOR_SUBMIT returns when another thread signals (%lld ms)",
        (long long)((now_ns() - t0) / 1000000));
  uint32_t never = 0;
  drmSyncobjCreate(fd, 0, &never);
  t0 = now_ns();
  errno = 0;
  wr = drmSyncobjWait(fd, &never, 1, t0 + 50000000ll, DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL);
  CHECK(wr == -ETIME && now_ns() - t0 >= 45000000ll,
        "and times out on CLOCK_MONOTONIC without one: ETIME (%lld ms)",
        (long long)((now_ns() - t0) / 1000000));
  drmSyncobjDestroy(fd, later);
  drmSyncobjDestroy(fd, never);
  /* Closing a file while another thread waits in it: the kernel holds the
     file for the call, so the wait runs to its timeout; then it is released. */
  struct waiter cw = {open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC), 0, 0, 0};
  drmSyncobjCreate(cw.fd, 0, &cw.so);
  pthread_t cwt;
  pthread_create(&cwt, NULL, wait_in_closing_file, &cw);
  usleep(40 * 1000);
  int closed = close(cw.fd);
  pthread_join(cwt, NULL);
  CHECK(closed == 0 && cw.ret == -ETIME && cw.took_ns >= 140000000ll,
        "a file closed while another thread waits in it: the wait still times out (%lld ms)",
        (long long)(cw.took_ns / 1000000));

  /* 5. The kernel's errno on bad input. */
  struct drm_gem_close gc = {4242, 0};
  errno = 0;
  CHECK(xioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc) == -1 && errno == EINVAL,
        "GEM_CLOSE of a bad handle: EINVAL");
  struct bo_create bc = {4096, 1u << 7, 0, 0, 0};
  errno = 0;
  CHECK(xioctl(fd, BO_CREATE, &bc) == -1 && errno == EINVAL,
        "BO_CREATE with an unknown flag: EINVAL");
  errno = 0;
  CHECK(bo(fd, 65536, BO_ALLOC_ON_FAULT, 3000) == 0 && errno == EINVAL,
        "alloc-on-fault granularity 3000: EINVAL");
  errno = 0;
  CHECK(bind(fd, vc.id, plain, 0x100000800ull, 4096) == -1 && errno == EINVAL,
        "VM_BIND at an unaligned VA: EINVAL");
  struct dev_query bq = {99, 8, (uint64_t)(uintptr_t)&gi};
  errno = 0;
  CHECK(xioctl(fd, DEV_QUERY, &bq) == -1 && errno == EINVAL,
        "DEV_QUERY of an unknown type: EINVAL");
  struct dev_query fq = {0, sizeof(gi), 8};
  errno = 0;
  CHECK(xioctl(fd, DEV_QUERY, &fq) == -1 && errno == EFAULT,
        "DEV_QUERY into an unmapped address: EFAULT");
  errno = 0;
  CHECK(ioctl(12345, DRM_IOCTL_VERSION, NULL) == -1 && errno == EBADF,
        "other fds pass through (EBADF)");

  /* 5b. What drivers 1.1-1.6 added (the twin's series variants report 1.6). */
  struct timestamp_info ts[2];
  memset(ts, 0, sizeof(ts));
  struct dev_query tq = {2, sizeof(ts[0]), (uint64_t)(uintptr_t)&ts[0]};
  int tq0 = xioctl(fd, DEV_QUERY, &tq);
  struct bo_create spin = {1 << 20, 0, 0, 0, 0}; /* work between the two reads */
  xioctl(fd, BO_CREATE, &spin);
  tq.pointer = (uint64_t)(uintptr_t)&ts[1];
  CHECK(tq0 == 0 && xioctl(fd, DEV_QUERY, &tq) == 0 && ts[0].timestamp_frequency > 0 &&
            ts[1].current_timestamp >= ts[0].current_timestamp,
        "DEV_QUERY TIMESTAMP_INFO (1.1): %llu Hz, the timestamp does not go back",
        (unsigned long long)ts[0].timestamp_frequency);
  struct group_priorities_info pi = {0, {0, 0, 0}};
  struct dev_query pq = {3, sizeof(pi), (uint64_t)(uintptr_t)&pi};
  CHECK(xioctl(fd, DEV_QUERY, &pq) == 0 && (pi.allowed_mask & 3) == 3,
        "DEV_QUERY GROUP_PRIORITIES_INFO (1.2): allowed mask 0x%x", pi.allowed_mask);
  static char long_label[4097];
  memset(long_label, 'x', 4096);
  struct bo_set_label sl = {plain, 0, (uint64_t)(uintptr_t) "frame-0 colour"};
  CHECK(xioctl(fd, BO_SET_LABEL, &sl) == 0, "BO_SET_LABEL (1.4) names a BO");
  sl.label = (uint64_t)(uintptr_t)long_label; /* 4096 characters and the NUL */
  errno = 0;
  CHECK(xioctl(fd, BO_SET_LABEL, &sl) == -1 && errno == E2BIG,
        "a label of 4097 bytes with its NUL: E2BIG");
  long_label[4095] = 0;
  CHECK(xioctl(fd, BO_SET_LABEL, &sl) == 0, "4096 bytes with the NUL: accepted");
  sl.label = 8;
  errno = 0;
  CHECK(xioctl(fd, BO_SET_LABEL, &sl) == -1 && errno == EFAULT, "an unreadable label: EFAULT");
  struct bo_set_label nl = {4242, 0, 0};
  errno = 0;
  CHECK(xioctl(fd, BO_SET_LABEL, &nl) == -1 && errno == ENOENT, "a label for no BO: ENOENT");
  /* The LATEST_FLUSH_ID page (1.5): one page, shared, read-only. */
  volatile uint32_t* flush =
      mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)USER_MMIO_OFFSET_64BIT);
  CHECK(flush != MAP_FAILED, "mmap of the LATEST_FLUSH_ID page at 1<<56: flush id %u",
        flush != MAP_FAILED ? flush[0] : 0);
  if (flush != MAP_FAILED) munmap((void*)flush, 4096);
  errno = 0;
  CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)USER_MMIO_OFFSET_64BIT) ==
                MAP_FAILED &&
            errno == EINVAL,
        "a writable map of it: EINVAL");
  struct set_user_mmio_offset mo32 = {12345};
  errno = 0;
  CHECK(xioctl(fd, SET_USER_MMIO_OFFSET, &mo32) == -1 && errno == EINVAL,
        "SET_USER_MMIO_OFFSET to anything but the two offsets: EINVAL");
  mo32.offset = USER_MMIO_OFFSET_32BIT;
  CHECK(xioctl(fd, SET_USER_MMIO_OFFSET, &mo32) == 0, "SET_USER_MMIO_OFFSET to 1<<43");
  flush = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)USER_MMIO_OFFSET_32BIT);
  CHECK(flush != MAP_FAILED, "the page then maps at 1<<43");
  if (flush != MAP_FAILED) munmap((void*)flush, 4096);
  errno = 0;
  CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)USER_MMIO_OFFSET_64BIT) == MAP_FAILED &&
            errno == EINVAL,
        "and no longer at 1<<56: EINVAL");
  mo32.offset = USER_MMIO_OFFSET_64BIT;
  xioctl(fd, SET_USER_MMIO_OFFSET, &mo32);
  /* GROUP_SUBMIT's stream and flush-id checks (panthor_job_create()). */
  uint32_t g4 = group(fd, vc.id);
  struct queue_submit badq = {0, 0, 0x100400000ull, 0, 0, {sizeof(struct sync_op), 0, 0}};
  struct group_submit bgs = {g4, 0, {sizeof(badq), 1, (uint64_t)(uintptr_t)&badq}};
  errno = 0;
  CHECK(xioctl(fd, GROUP_SUBMIT, &bgs) == -1 && errno == EINVAL,
        "GROUP_SUBMIT of a stream address without a size: EINVAL");
  badq.stream_addr = 0;
  badq.latest_flush = 1u << 24;
  errno = 0;
  CHECK(xioctl(fd, GROUP_SUBMIT, &bgs) == -1 && errno == EINVAL,
        "latest_flush with a reserved bit (24-30) set: EINVAL");
  struct tiler_heap_destroy hd = {vc.id << 16 | 1, 0};
  errno = 0;
  CHECK(xioctl(fd, TILER_HEAP_DESTROY, &hd) == -1 && errno == ENOENT,
        "TILER_HEAP_DESTROY on a VM that never had a heap: ENOENT");

  /* 6. Several threads at once. */
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, worker, &fd);
  intptr_t bad = 0;
  for (int i = 0; i < 4; ++i) {
    void* r;
    pthread_join(t[i], &r);
    bad += (intptr_t)r;
  }
  CHECK(bad == 0, "4 threads x 200 BO create/close and queries: %ld failed", (long)bad);

  /* 7. dup: the same open file; closing one keeps the other. */
  int fd2 = dup(fd);
  close(fd);
  struct vm_destroy vd = {vc.id, 0};
  CHECK(fd2 >= 0 && xioctl(fd2, VM_DESTROY, &vd) == 0,
        "a dup'd fd keeps the file open after close()");
  close(fd2);
  return failures;
}
