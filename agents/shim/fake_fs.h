// FakeFs: the device's files as libdrm reads them (spec 7.4) — /dev/dri with
// card0 and renderD128, and their sysfs entries under /sys/dev/char/226:N
// (the device directory, its uevent, its subsystem and driver links) — for
// the twin in this process or the loopback kernel. Every other path is not
// ours and passes through.
//
//   FakeFs fs([] { return profile; });
//   int node;
//   if (fs.Lookup("/dev/dri/renderD128", &node) == FakeFs::Kind::kCharDev) ...
#ifndef FAULTLAB_AGENTS_SHIM_FAKE_FS_H_
#define FAULTLAB_AGENTS_SHIM_FAKE_FS_H_

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/profiles/profile.h"

namespace faultlab::shim {

constexpr char kCardPath[] = "/dev/dri/card0";
constexpr char kRenderPath[] = "/dev/dri/renderD128";

class FakeFs {
 public:
  enum class Kind { kNone, kCharDev, kDir, kFile, kLink };

  // `profile` names the device (its platform name and compatible string).
  explicit FakeFs(std::function<const profiles::Profile&()> profile)
      : profile_(std::move(profile)) {}

  // 0 for card0, 1 for renderD128, -1 for any other path.
  static int NodeOfPath(const char* path);
  // What a path of ours is; `*node` for the device nodes.
  Kind Lookup(const std::string& path, int* node = nullptr) const;
  // stat() of a path: false when it is not ours. A link is followed (a
  // directory) when `follow`.
  bool Stat(const char* path, struct stat* st, bool follow) const;
  static void StatNode(int node, struct stat* st);
  // The target of a link of ours ("" when not ours).
  std::string LinkTarget(const std::string& path) const;
  // realpath() of a path of ours ("" when not ours).
  std::string RealPath(const std::string& path) const;
  // The uevent file's text.
  std::string Uevent() const;
  // The entries of a directory of ours.
  std::vector<std::string> List(const std::string& path) const;

  // Files whose text the device makes as they are read (emulate mode):
  // `text(name, &out)` for "devfreq/<file>" (the device's devfreq
  // directory), "power/<file>" (its runtime PM) and "fdinfo/<fd>" (a
  // descriptor of this process); false when there is no such file.
  using LiveText = std::function<bool(const std::string& name, std::string* out)>;
  void set_live_text(LiveText text) { live_text_ = std::move(text); }
  // The text of a file of ours; false when `path` is not one.
  bool Text(const std::string& path, std::string* out) const;
  // What the kernel says in /proc/self/fdinfo/`fd` (pos, flags, mnt_id,
  // ino): the lines a device descriptor's fdinfo starts with.
  static std::string KernelFdinfo(int fd);
  // devfreq's and runtime PM's files (sysfs), as `ls` lists them.
  static const std::vector<std::string>& DevfreqFiles();
  static const std::vector<std::string>& PowerFiles();

 private:
  // Is `path` under /sys/dev/char/226:{0,128}/device? (*rest: what follows)
  static bool SysfsDevice(const std::string& path, std::string* rest);
  // The live file `path` would be ("devfreq/cur_freq", "fdinfo/5"), or "":
  // whether it is there is the text's to say.
  std::string LiveName(const std::string& path) const;
  static void FakeStat(Kind k, int node, struct stat* st);

  std::function<const profiles::Profile&()> profile_;
  LiveText live_text_;
};

// A directory of ours open: what readdir() walks.
struct FakeDir {
  std::vector<std::string> names;
  size_t next = 0;
  struct dirent ent;
  struct dirent64 ent64;
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_FAKE_FS_H_
