#include "lib/args/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace faultlab::args {

void Args::Declare(const std::string& name, bool takes_value, char short_name) {
  declared_[name] = takes_value;
  if (short_name) short_names_[short_name] = name;
}

absl::Status Args::Parse(int argc, const char* const* argv) {
  bool flags_done = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (flags_done || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (absl::StartsWith(arg, "--")) {
      name = arg.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    } else {
      auto it = short_names_.find(arg[1]);
      if (arg.size() != 2 || it == short_names_.end()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
      }
      name = it->second;
    }
    auto it = declared_.find(name);
    if (it == declared_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '--", name, "'"));
    }
    if (it->second && !has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat("option '--", name, "' needs a value"));
      }
      value = argv[++i];
    } else if (!it->second && has_value) {
      return absl::InvalidArgumentError(absl::StrCat("option '--", name, "' takes no value"));
    }
    values_[name].push_back(value);
  }
  return absl::OkStatus();
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

absl::Status Args::GetUint(const std::string& name, uint64_t* out) const {
  if (!Has(name)) return absl::OkStatus();
  const std::string v = Get(name);
  uint64_t parsed;
  const bool ok = absl::StartsWith(v, "0x") ? absl::SimpleHexAtoi(v.substr(2), &parsed)
                                            : absl::SimpleAtoi(v, &parsed);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("option '--", name, "': '", v, "' is not a non-negative integer"));
  }
  *out = parsed;
  return absl::OkStatus();
}

}  // namespace faultlab::args
