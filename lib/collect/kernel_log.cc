#include "lib/collect/kernel_log.h"

#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace faultlab::collect {
namespace {

struct Message {
  uint64_t time_ns;
  std::string text;
};

}  // namespace

bool SecondsToNs(absl::string_view s, uint64_t* ns) {
  s = absl::StripAsciiWhitespace(s);
  const size_t dot = s.find('.');
  uint64_t sec = 0, frac = 0;
  if (dot == absl::string_view::npos)
    return absl::SimpleAtoi(s, &sec) && (*ns = sec * 1000000000, true);
  absl::string_view f = s.substr(dot + 1);
  if (!absl::SimpleAtoi(s.substr(0, dot), &sec) || f.empty() || f.size() > 9 ||
      !absl::SimpleAtoi(f, &frac)) {
    return false;
  }
  for (size_t i = f.size(); i < 9; ++i) frac *= 10;
  *ns = sec * 1000000000 + frac;
  return true;
}

namespace {

// Logical lines with their timestamps, whichever of the two formats.
std::vector<Message> Messages(absl::string_view text, uint64_t* lines) {
  std::vector<Message> out;
  uint64_t last = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    ++*lines;
    // /dev/kmsg: "PRI,SEQ,USEC,FLAGS[,...];message" with escaped newlines.
    const size_t semi = line.find(';');
    if (semi != absl::string_view::npos && !line.empty() && absl::ascii_isdigit(line[0])) {
      std::vector<absl::string_view> head = absl::StrSplit(line.substr(0, semi), ',');
      uint64_t usec = 0;
      if (head.size() >= 3 && absl::SimpleAtoi(head[2], &usec)) {
        last = usec * 1000;
        std::string msg(line.substr(semi + 1));
        for (size_t at; (at = msg.find("\\x0a")) != std::string::npos;) msg.replace(at, 4, "\n");
        for (absl::string_view part : absl::StrSplit(msg, '\n'))
          out.push_back({last, std::string(part)});
        continue;
      }
    }
    // dmesg: "[ 5678.901234] message"; lines without it continue the last.
    if (line[0] == '[') {
      const size_t close = line.find(']');
      uint64_t ns = 0;
      if (close != absl::string_view::npos && SecondsToNs(line.substr(1, close - 1), &ns)) {
        last = ns;
        out.push_back(
            {last, std::string(absl::StripLeadingAsciiWhitespace(line.substr(close + 1)))});
        continue;
      }
    }
    out.push_back({last, std::string(absl::StripAsciiWhitespace(line))});
  }
  return out;
}

bool ParseHex(absl::string_view s, uint64_t* v) {
  s = absl::StripAsciiWhitespace(s);
  if (absl::StartsWithIgnoreCase(s, "0x")) s.remove_prefix(2);
  return !s.empty() && absl::SimpleHexAtoi(s, v);
}

}  // namespace

KernelLog ParseKernelLog(absl::string_view text) {
  KernelLog log;
  constexpr absl::string_view kHead = "Unhandled Page fault in AS";
  KernelFault* open = nullptr;
  for (const Message& m : Messages(text, &log.lines)) {
    const size_t at = absl::string_view(m.text).find(kHead);
    if (at != std::string::npos) {
      open = nullptr;
      // "...AS%d at VA 0x%016llX"
      absl::string_view rest = absl::string_view(m.text).substr(at + kHead.size());
      const size_t va_at = rest.find(" at VA ");
      int as = -1;
      uint64_t va = 0;
      if (va_at == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, va_at), &as) ||
          !ParseHex(rest.substr(va_at + 7), &va)) {
        ++log.malformed;
        continue;
      }
      KernelFault f;
      f.time_ns = m.time_ns;
      f.as = as;
      f.va = va;
      // "panthor fb000000.gpu: [drm] *ERROR* Unhandled ..."
      if (absl::StartsWith(m.text, "panthor ")) {
        const size_t colon = m.text.find(':');
        if (colon != std::string::npos && colon > 8) f.device = m.text.substr(8, colon - 8);
      }
      log.faults.push_back(f);
      open = &log.faults.back();
      continue;
    }
    if (open && absl::StartsWith(m.text, "raw fault status:")) {
      uint64_t st = 0;
      if (ParseHex(absl::string_view(m.text).substr(17), &st) && st <= 0xffffffff) {
        open->status = static_cast<uint32_t>(st);
        open->exception = static_cast<uint32_t>(st & 0xff);
        open->has_status = true;
      } else {
        ++log.malformed;
      }
    }
  }
  return log;
}

}  // namespace faultlab::collect
