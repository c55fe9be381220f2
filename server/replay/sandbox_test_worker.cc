// A stand-in for faultlab-replay-worker that misbehaves on purpose, for
// sandbox_test: what it does is its --name.
//   ok       writes a valid Result      crash    dies on SIGABRT, saying why
//   grow     touches 512 MiB and waits  spin     burns CPU forever
//   sleep    sleeps forever             garbage  writes what is no Update
//   grow-shmem  touches 512 MiB of a memfd and waits
//   map-trace   maps its --trace, reads all of it, waits 300 ms, then as ok
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "proto/replay_worker.pb.h"

int main(int argc, char** argv) {
  std::string name, trace;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--name") name = argv[i + 1];
    if (std::string(argv[i]) == "--trace") trace = argv[i + 1];
  }
  if (name == "map-trace") {
    const int fd = open(trace.c_str(), O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return 1;
    const auto* p =
        static_cast<const volatile char*>(mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0));
    if (p == MAP_FAILED) return 1;
    for (off_t i = 0; i < st.st_size; i += 4096) (void)p[i];
    usleep(300'000);  // six of the sandbox's looks at it
    name = "ok";
  }
  if (name == "grow-shmem") {
    const size_t size = size_t{512} << 20;
    const int fd = memfd_create("grow", 0);
    if (fd < 0 || ftruncate(fd, size) != 0) return 1;
    auto* p = static_cast<char*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (p == MAP_FAILED) return 1;
    std::memset(p, 1, size);
    sleep(60);
    return p[12345];
  }
  if (name == "ok") {
    faultlab::worker::Update u;
    u.mutable_result()->set_outcome("identical");
    u.mutable_result()->set_report("outcome: identical\n");
    const std::string body = u.SerializeAsString();
    std::cout << static_cast<char>(body.size()) << body << std::flush;  // one-byte varint
    return 0;
  }
  if (name == "crash") {
    std::cerr << "engine/mem/memory.cc:201: CHECK failed: frame 7 freed twice\n";
    abort();
  }
  if (name == "grow") {
    std::vector<char> v(512 << 20);
    std::memset(v.data(), 1, v.size());
    sleep(60);
    return v[12345];
  }
  if (name == "spin") {
    for (volatile uint64_t i = 0;; ++i) {
    }
  }
  if (name == "sleep") {
    sleep(60);
    return 0;
  }
  std::cout << "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage" << std::flush;
  sleep(60);
  return 0;
}
