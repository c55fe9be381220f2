// Args: the command-line parser of the faultlab tools. Flags may come anywhere
// after the verb (`faultlab dump FILE --limit 5` == `faultlab dump --limit 5 FILE`),
// as `--name value` or `--name=value`; `--` ends flag parsing. Each verb
// declares its flags, so a misspelt flag is an error that names it.
//
//   Args args;
//   args.Declare("limit", /*takes_value=*/true);
//   args.Declare("skip-damaged", false);
//   absl::Status s = args.Parse(argc - 2, argv + 2);
//   uint64_t limit = 0;
//   s = args.GetUint("limit", &limit);
#ifndef FAULTLAB_LIB_ARGS_ARGS_H_
#define FAULTLAB_LIB_ARGS_ARGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace faultlab::args {

class Args {
 public:
  // `short_name` (e.g. 'o') is optional.
  void Declare(const std::string& name, bool takes_value, char short_name = 0);

  absl::Status Parse(int argc, const char* const* argv);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value given for `name`, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& name) const;
  // Parses an unsigned integer (decimal or 0x-hex); leaves `*out` alone if absent.
  absl::Status GetUint(const std::string& name, uint64_t* out) const;

  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, bool> declared_;  // name -> takes_value
  std::map<char, std::string> short_names_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace faultlab::args

#endif  // FAULTLAB_LIB_ARGS_ARGS_H_
