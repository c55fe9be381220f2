// A stand-in for faultlab-replay-worker that misbehaves on purpose, for
// sandbox_test: what it does is its --name.
//   ok       writes a valid Result      crash    dies on SIGABRT, saying why
//   grow     touches 512 MiB and waits  spin     burns CPU forever
//   sleep    sleeps forever             garbage  writes what is no Update
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "proto/replay_worker.pb.h"

int main(int argc, char** argv) {
  std::string name;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--name") name = argv[i + 1];
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
