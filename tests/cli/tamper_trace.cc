// Test helper: copies a trace, changing it.
//   tamper_trace IN OUT                  1 ns more latency on its first MMU fault, so
//                                        that `faultlab replay` reports a divergence
//   tamper_trace IN OUT --header K=V     the header's field K (profile, variant,
//                                        policy) or config entry K set to V: a header
//                                        no recorder wrote (damaged input)
//   tamper_trace IN OUT --uncompressed   the same events, chunks stored raw (fuzz seeds
//                                        whose mutations reach the columns)
#include <iostream>
#include <string>

#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"

namespace {

using namespace faultlab::trace;

void SetHeader(TraceHeader* h, const std::string& key, const std::string& value) {
  if (key == "profile") return h->set_profile(value);
  if (key == "variant") return h->set_variant(value);
  if (key == "policy") return h->set_policy(value);
  for (ConfigEntry& e : *h->mutable_config()) {
    if (e.key() == key) return e.set_value(value);
  }
  ConfigEntry* e = h->add_config();
  e->set_key(key);
  e->set_value(value);
}

}  // namespace

int main(int argc, char** argv) {
  const bool header = argc == 5 && std::string(argv[3]) == "--header";
  const bool raw = argc == 4 && std::string(argv[3]) == "--uncompressed";
  if (argc != 3 && !header && !raw) {
    std::cerr << "usage: tamper_trace IN OUT [--header KEY=VALUE | --uncompressed]\n";
    return 2;
  }
  auto src = FileSource::Open(argv[1]);
  auto sink = FileSink::Open(argv[2]);
  if (!src.ok() || !sink.ok()) {
    std::cerr << (src.ok() ? sink.status() : src.status()) << "\n";
    return 4;
  }
  TraceReader reader(src->get(), argv[1]);
  if (absl::Status s = reader.Open(); !s.ok()) {
    std::cerr << s << "\n";
    return 3;
  }
  TraceHeader h = reader.header();
  if (header) {
    const std::string kv = argv[4];
    SetHeader(&h, kv.substr(0, kv.find('=')), kv.substr(kv.find('=') + 1));
  }
  WriterOptions opts;
  if (raw) opts.codec = CODEC_NONE;
  TraceWriter writer(sink->get(), h, opts);
  Event e;
  bool tampered = header || raw;
  while (reader.Next(&e)) {
    if (!tampered && e.kind == EVENT_MMU_FAULT) {  // (the default mode)
      e.fault.latency_ns += 1;
      tampered = true;
      std::cout << "tampered event " << reader.event_index() << "\n";
    }
    if (absl::Status s = writer.Append(e); !s.ok()) {
      std::cerr << s << "\n";
      return 4;
    }
  }
  if (!reader.status().ok() || !writer.Finish().ok() || !tampered) {
    std::cerr << "tamper_trace: " << (tampered ? "read/write failed" : "no MMU fault to tamper")
              << "\n";
    return 1;
  }
  return 0;
}
