#include "lib/collect/kprobes.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/collect/kernel_log.h"

namespace faultlab::collect {
namespace {

std::string Off(int64_t o) { return absl::StrCat(o < 0 ? "-" : "+", o < 0 ? -o : o); }

// "name=value" fields after the probe's "(...)" location; values as the
// kernel prints them: 0x-hex (xN types) or signed decimal (sN).
bool Fields(absl::string_view rest, std::map<std::string, int64_t>* out) {
  const size_t close = rest.find(')');
  if (close != absl::string_view::npos) rest = rest.substr(close + 1);
  for (absl::string_view kv : absl::StrSplit(rest, ' ', absl::SkipEmpty())) {
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos || eq == 0) return false;
    absl::string_view v = kv.substr(eq + 1);
    uint64_t u = 0;
    int64_t s = 0;
    if (absl::ConsumePrefix(&v, "0x")) {
      if (!absl::SimpleHexAtoi(v, &u)) return false;
      s = static_cast<int64_t>(u);
    } else if (!absl::SimpleAtoi(v, &s)) {
      return false;
    }
    (*out)[std::string(kv.substr(0, eq))] = s;
  }
  return true;
}

}  // namespace

std::vector<ProbeDef> FaultProbes(const FaultOffsets* o) {
  std::string entry = "p:faultlab/fault_work panthor_vm_fault_work";
  if (o) {
    absl::StrAppend(&entry, " work=$arg1:x64 status=", Off(o->status),
                    "($arg1):x32 addr=", Off(o->addr), "($arg1):x64 as=", Off(o->as_id),
                    "($arg1):s32");
  }
  return {
      {"faultlab/fault_work", entry, true},
      {"faultlab/fault_work_ret", "r:faultlab/fault_work_ret panthor_vm_fault_work", true},
      {"faultlab/mmu_irq", "p:faultlab/mmu_irq panthor_mmu_irq_handler status=$arg2:x32", true},
      {"faultlab/report_fault", "p:faultlab/report_fault panthor_sched_report_mmu_fault", false},
      {"faultlab/map_ret", "r:faultlab/map_ret panthor_vm_map_on_demand_locked ret=$retval:s32",
       false},
  };
}

KprobeTrace ParseKprobeTrace(absl::string_view text) {
  KprobeTrace t;
  std::map<uint64_t, std::vector<KprobeFault>> open;  // pid -> works entered, innermost last
  std::map<int32_t, uint64_t> irq_at;                 // AS -> its last IRQ not yet taken
  uint64_t irq_any = 0;                               // an IRQ whose AS is not known
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    ++t.lines;
    // "  kworker/u16:2-123     [003] d..1.  1234.567890: fault_work: (...) a=0x1"
    const size_t bracket = line.find(" [");
    const size_t colon = line.find(": ", bracket == absl::string_view::npos ? 0 : bracket);
    if (bracket == absl::string_view::npos || colon == absl::string_view::npos) continue;
    absl::string_view event = line.substr(colon + 2);
    const size_t name_end = event.find(':');
    if (name_end == absl::string_view::npos) continue;
    const absl::string_view name = event.substr(0, name_end);
    if (name != "fault_work" && name != "fault_work_ret" && name != "mmu_irq" &&
        name != "report_fault" && name != "map_ret") {
      continue;  // not ours
    }
    absl::string_view task = absl::StripAsciiWhitespace(line.substr(0, bracket));
    const size_t dash = task.rfind('-');
    uint64_t pid = 0, ns = 0;
    const absl::string_view before = line.substr(0, colon);
    const size_t sp = before.rfind(' ');
    std::map<std::string, int64_t> f;
    if (dash == absl::string_view::npos || !absl::SimpleAtoi(task.substr(dash + 1), &pid) ||
        sp == absl::string_view::npos || !SecondsToNs(before.substr(sp + 1), &ns) ||
        !Fields(event.substr(name_end + 1), &f)) {
      ++t.malformed;
      continue;
    }
    std::vector<KprobeFault>& works = open[pid];
    if (name == "mmu_irq") {
      ++t.irqs;
      // Bits [15:0] fault, [31:16] error, one per AS (panthor_mmu_fault_mask()).
      if (f.count("status")) {
        const uint32_t bits = static_cast<uint32_t>(f["status"]);
        for (int32_t as = 0; as < 16; ++as) {
          if ((bits | bits >> 16) & (1u << as)) irq_at[as] = ns;
        }
      } else {
        irq_any = ns;
      }
    } else if (name == "fault_work") {
      KprobeFault w;
      w.start_ns = ns;
      if (f.count("status") && f.count("addr") && f.count("as")) {
        w.has_fields = true;
        w.work = static_cast<uint64_t>(f.count("work") ? f["work"] : 0);
        w.status = static_cast<uint32_t>(f["status"]);
        w.va = static_cast<uint64_t>(f["addr"]);
        w.as = static_cast<int32_t>(f["as"]);
      }
      // The IRQ that queued it: its AS's latest, once.
      auto irq = irq_at.find(w.as);
      if (irq != irq_at.end() && irq->second <= ns) {
        w.irq_ns = irq->second;
        irq_at.erase(irq);
      } else if (irq_any && irq_any <= ns) {
        w.irq_ns = irq_any;
        irq_any = 0;
      }
      works.push_back(w);
    } else if (works.empty()) {
      ++t.unmatched;  // a return, report or map_ret outside any work
    } else if (name == "report_fault") {
      works.back().unhandled = true;
    } else if (name == "map_ret") {
      works.back().has_ret = f.count("ret") > 0;
      works.back().ret = static_cast<int32_t>(f.count("ret") ? f["ret"] : 0);
    } else {  // fault_work_ret
      KprobeFault w = works.back();
      works.pop_back();
      if (ns < w.start_ns) {
        ++t.malformed;
        continue;
      }
      w.end_ns = ns;
      t.faults.push_back(w);
    }
  }
  for (const auto& [pid, works] : open) t.unmatched += works.size();
  return t;
}

std::string FormatFaultWork(const KprobeFault& f, uint32_t pid) {
  auto at = [](uint64_t ns) {
    return absl::StrFormat("%llu.%06llu", static_cast<unsigned long long>(ns / 1000000000),
                           static_cast<unsigned long long>(ns % 1000000000 / 1000));
  };
  const std::string task = absl::StrFormat("%16s-%-7u [000] .....", "kworker/u17:0", pid);
  std::string s;
  if (f.irq_ns) {
    absl::StrAppendFormat(&s,
                          "%16s-%-7u [000] d.h1. %s: mmu_irq: (panthor_mmu_irq_handler+0x0/0x1c0 "
                          "[panthor]) status=0x%x\n",
                          "irq/45-panthor", 45u, at(f.irq_ns), 1u << (f.as & 15));
  }
  absl::StrAppendFormat(&s, "%s %s: fault_work: (panthor_vm_fault_work+0x0/0xd0 [panthor])", task,
                        at(f.start_ns));
  if (f.has_fields) {
    absl::StrAppendFormat(&s, " work=0x%x status=0x%x addr=0x%x as=%d", f.work, f.status, f.va,
                          f.as);
  }
  s += "\n";
  if (f.has_ret) {
    absl::StrAppendFormat(&s,
                          "%s %s: map_ret: (panthor_vm_fault_work+0x64/0xd0 [panthor] <- "
                          "panthor_vm_map_on_demand_locked) ret=%d\n",
                          task, at(f.end_ns), f.ret);
  }
  if (f.unhandled) {
    absl::StrAppendFormat(
        &s, "%s %s: report_fault: (panthor_sched_report_mmu_fault+0x0/0x40 [panthor])\n", task,
        at(f.end_ns));
  }
  absl::StrAppendFormat(
      &s, "%s %s: fault_work_ret: (process_one_work+0x1f0/0x3f0 <- panthor_vm_fault_work)\n", task,
      at(f.end_ns));
  return s;
}

}  // namespace faultlab::collect
