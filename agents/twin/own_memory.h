// This process's memory read and written as the kernel's copy_{from,to}_user
// would: false where the range is not mapped (or not writable). The shim
// and the twin inside it get addresses from the program they serve.
//
// Within the calling thread's stack above its frame (where ioctl arguments
// usually are) a plain copy: that memory is surely mapped. Elsewhere
// process_vm_readv/writev on the process itself; where those calls are
// missing — qemu-user does not emulate them (ENOSYS), and that is how the
// arm64 builds are tested (docs/build.md "arm64") — through a pipe: a
// write() from, or a read() into, an address the kernel (or qemu) cannot
// use fails with EFAULT rather than a signal.
#ifndef FAULTLAB_AGENTS_TWIN_OWN_MEMORY_H_
#define FAULTLAB_AGENTS_TWIN_OWN_MEMORY_H_

#include <cstddef>
#include <cstdint>

namespace faultlab::twin {

bool ReadOwn(void* dst, uint64_t src, size_t n);
bool WriteOwn(uint64_t dst, const void* src, size_t n);

namespace internal {
// The fallback itself: n bytes from `from` to `to` through this thread's
// pipe; false when either end is unusable (tests call it directly).
bool ThroughPipe(void* to, const void* from, size_t n);
}  // namespace internal

}  // namespace faultlab::twin

#endif  // FAULTLAB_AGENTS_TWIN_OWN_MEMORY_H_
