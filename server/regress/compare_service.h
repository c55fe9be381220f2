// CompareService: two runs, or two groups of runs, judged by their recorded
// fault latencies with the same test the regression detector uses
// (CompareRuns; docs/regressions.md). proto/ingest.proto, service Compare.
#ifndef FAULTLAB_SERVER_REGRESS_COMPARE_SERVICE_H_
#define FAULTLAB_SERVER_REGRESS_COMPARE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "proto/ingest.grpc.pb.h"
#include "server/auth/tokens.h"
#include "server/regress/analyzer.h"
#include "server/store/store.h"

namespace faultlab::server {

class CompareService final : public api::Compare::Service {
 public:
  CompareService(Store* store, const Tokens* tokens, AnalyzerOptions options)
      : store_(store), tokens_(tokens), options_(options) {}
  grpc::Status Runs(grpc::ServerContext*, const api::CompareRequest* req,
                    api::CompareResponse* out) override;

 private:
  Store* store_;
  const Tokens* tokens_;
  AnalyzerOptions options_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REGRESS_COMPARE_SERVICE_H_
