#include "agents/shim/fake_fs.h"

#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/shim/real.h"

namespace faultlab::shim {

int FakeFs::NodeOfPath(const char* path) {
  if (!path) return -1;
  if (strcmp(path, kCardPath) == 0) return 0;
  if (strcmp(path, kRenderPath) == 0) return 1;
  return -1;
}

bool FakeFs::SysfsDevice(const std::string& path, std::string* rest) {
  for (const char* base : {"/sys/dev/char/226:0/device", "/sys/dev/char/226:128/device"}) {
    if (absl::StartsWith(path, base)) {
      *rest = path.substr(strlen(base));
      return rest->empty() || (*rest)[0] == '/';
    }
  }
  return false;
}

std::string FakeFs::Uevent() const {
  const profiles::Profile& p = profile_();
  std::string addr = p.unique.substr(0, p.unique.find('.'));
  return absl::StrCat(
      "DRIVER=panthor\nOF_NAME=gpu\nOF_FULLNAME=/gpu@", addr, "\nOF_COMPATIBLE_0=", p.compatible,
      "\nOF_COMPATIBLE_1=arm,mali-valhall-csf\nOF_COMPATIBLE_N=2\nMODALIAS=of:NgpuT(null)C",
      p.compatible, "Carm,mali-valhall-csf\n");
}

FakeFs::Kind FakeFs::Lookup(const std::string& path, int* node) const {
  const int n = NodeOfPath(path.c_str());
  if (n >= 0) {
    if (node) *node = n;
    return Kind::kCharDev;
  }
  if (path == "/dev/dri" || path == "/dev/dri/") return Kind::kDir;
  std::string rest;
  if (SysfsDevice(path, &rest)) {
    if (rest.empty() || rest == "/" || rest == "/drm" || rest == "/drm/card0" ||
        rest == "/drm/renderD128") {
      return Kind::kDir;
    }
    if (rest == "/uevent") return Kind::kFile;
    if (rest == "/subsystem" || rest == "/driver") return Kind::kLink;
    if (live_text_ &&
        (rest == "/devfreq" || rest == "/power" || rest == "/devfreq/" + profile_().unique)) {
      return Kind::kDir;
    }
  }
  // A live file is one when its text can be made (fdinfo: a descriptor of ours).
  if (std::string text, name = LiveName(path); !name.empty() && live_text_(name, &text))
    return Kind::kFile;
  if (path == "/sys/dev/char/226:0" || path == "/sys/dev/char/226:128") return Kind::kLink;
  return Kind::kNone;
}

void FakeFs::FakeStat(Kind k, int node, struct stat* st) {
  memset(st, 0, sizeof(*st));
  st->st_nlink = 1;
  st->st_blksize = 4096;
  switch (k) {
    case Kind::kCharDev:
      st->st_mode = S_IFCHR | 0666;
      st->st_rdev = makedev(226, node == 0 ? 0 : 128);
      st->st_ino = 1000 + node;
      break;
    case Kind::kDir:
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      break;
    case Kind::kLink:
      st->st_mode = S_IFLNK | 0777;
      break;
    default:
      st->st_mode = S_IFREG | 0444;
      st->st_size = 4096;
  }
}

bool FakeFs::Stat(const char* path, struct stat* st, bool follow) const {
  int node = 0;
  const Kind k = Lookup(path ? path : "", &node);
  if (k == Kind::kNone) return false;
  FakeStat(k == Kind::kLink && follow ? Kind::kDir : k, node, st);
  return true;
}

void FakeFs::StatNode(int node, struct stat* st) { FakeStat(Kind::kCharDev, node, st); }

std::string FakeFs::LinkTarget(const std::string& path) const {
  std::string rest;
  if (SysfsDevice(path, &rest)) {
    if (rest == "/subsystem") return "../../../bus/platform";
    if (rest == "/driver") return "../../../bus/platform/drivers/panthor";
    return "";
  }
  if (path == "/sys/dev/char/226:0" || path == "/sys/dev/char/226:128") {
    return absl::StrCat("../../devices/platform/", profile_().unique, "/drm/",
                        path == "/sys/dev/char/226:0" ? "card0" : "renderD128");
  }
  return "";
}

std::string FakeFs::RealPath(const std::string& path) const {
  std::string rest;
  if (SysfsDevice(path, &rest))
    return absl::StrCat("/sys/devices/platform/", profile_().unique, rest);
  return Lookup(path) != Kind::kNone ? path : "";
}

std::vector<std::string> FakeFs::List(const std::string& path) const {
  std::string rest;
  if (path == "/dev/dri" || path == "/dev/dri/") return {".", "..", "card0", "renderD128"};
  std::vector<std::string> names = {".", ".."};
  if (!SysfsDevice(path, &rest)) return names;
  if (rest == "/drm") return {".", "..", "card0", "renderD128"};
  if (live_text_ && rest == "/devfreq") names.push_back(profile_().unique);
  if (live_text_ && rest == "/devfreq/" + profile_().unique) {
    names.insert(names.end(), DevfreqFiles().begin(), DevfreqFiles().end());
  }
  if (live_text_ && rest == "/power") {
    names.insert(names.end(), PowerFiles().begin(), PowerFiles().end());
  }
  return names;
}

const std::vector<std::string>& FakeFs::DevfreqFiles() {
  static const auto* files = new std::vector<std::string>{"available_frequencies",
                                                          "available_governors",
                                                          "cur_freq",
                                                          "governor",
                                                          "max_freq",
                                                          "min_freq",
                                                          "polling_interval",
                                                          "target_freq",
                                                          "trans_stat"};
  return *files;
}

const std::vector<std::string>& FakeFs::PowerFiles() {
  static const auto* files =
      new std::vector<std::string>{"autosuspend_delay_ms", "control", "runtime_active_time",
                                   "runtime_status", "runtime_suspended_time"};
  return *files;
}

std::string FakeFs::LiveName(const std::string& path) const {
  if (!live_text_) return "";
  std::string rest;
  if (SysfsDevice(path, &rest)) {
    const std::string devfreq = "/devfreq/" + profile_().unique + "/";
    for (const auto& [dir, files] : {std::make_pair(devfreq, &DevfreqFiles()),
                                     std::make_pair(std::string("/power/"), &PowerFiles())}) {
      if (!absl::StartsWith(rest, dir)) continue;
      const std::string file = rest.substr(dir.size());
      for (const std::string& f : *files) {
        if (f == file) return (dir == devfreq ? "devfreq/" : "power/") + file;
      }
    }
    return "";
  }
  // /proc/self/fdinfo/N, /proc/thread-self/fdinfo/N, /proc/<our pid>/fdinfo/N.
  for (const std::string& base :
       {std::string("/proc/self/fdinfo/"), std::string("/proc/thread-self/fdinfo/"),
        absl::StrCat("/proc/", getpid(), "/fdinfo/")}) {
    int fd = -1;
    if (absl::StartsWith(path, base) && absl::SimpleAtoi(path.substr(base.size()), &fd)) {
      return absl::StrCat("fdinfo/", fd);
    }
  }
  return "";
}

std::string FakeFs::KernelFdinfo(int fd) {
  REAL(open);
  REAL(close);
  std::string text;
  const int f = real_open(absl::StrCat("/proc/self/fdinfo/", fd).c_str(), O_RDONLY | O_CLOEXEC);
  char buf[512];
  for (ssize_t n; f >= 0 && (n = read(f, buf, sizeof(buf))) > 0;) text.append(buf, n);
  if (f >= 0) real_close(f);
  return text;
}

bool FakeFs::Text(const std::string& path, std::string* out) const {
  if (std::string rest; SysfsDevice(path, &rest) && rest == "/uevent") {
    *out = Uevent();
    return true;
  }
  const std::string name = LiveName(path);
  return !name.empty() && live_text_(name, out);
}

}  // namespace faultlab::shim
