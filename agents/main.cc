// faultlab-agent: one board's daemon — runs a schedule of workloads on the
// twin, records each run into a bounded on-disk spool, and streams the
// spool to a faultlab-server, surviving its outages (docs/agent.md). With
// --exec it runs one program under the device shim instead (exec.h).
//
//   faultlab-agent --board NAME [--server HOST:PORT] [--token T] [--spool-dir DIR]
//                  [--workloads W,...] [--runs N] [--http-addr HOST:PORT] ...
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agents/agent.h"
#include "agents/command.h"
#include "agents/exec.h"
#include "agents/spool.h"
#include "lib/http/http.h"

namespace faultlab::agent {
namespace {

sigset_t g_signals;

// The channel to --server: TLS when asked, reconnecting about as fast as
// the agent's own backoff (gRPC's default waits up to 2 minutes between
// attempts after an outage). Null, having said why, when --tls-ca is unreadable.
std::shared_ptr<grpc::Channel> ServerChannel(const Command& c) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (c.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!c.tls_ca.empty()) {
      std::ifstream in(c.tls_ca);
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) {
        std::cerr << "faultlab-agent: --tls-ca " << c.tls_ca
                  << ": cannot read the CA certificate\n";
        return nullptr;
      }
      ssl.pem_root_certs = pem.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(c.agent.server, creds, channel_args);
}

// What this agent is about to do, in one line.
std::string Plan(const Command& c, const Spool& spool, const http::Server* http) {
  const AgentOptions& o = c.agent;
  const std::string what =
      c.exec
          ? absl::StrCat("running ", c.program[0],
                         !c.real              ? " on the twin (--exec)"
                         : !c.backend.empty() ? " on the loopback kernel at " + c.backend.substr(5)
                                              : " on this board's kernel (--device real)")
          : absl::StrCat("workloads ", absl::StrJoin(o.workloads, ","), ", ",
                         o.runs ? absl::StrCat(o.runs, " run(s)") : std::string("until stopped"));
  const std::string aof =
      c.aof.empty() ? ""
                    : absl::StrCat(", programs' BOs alloc-on-fault: ", c.aof,
                                   c.aof_granularity.empty() ? "" : " in ", c.aof_granularity);
  return absl::StrCat("faultlab-agent[", o.board, "]: ", o.profile, "/", o.variant, "/", o.policy,
                      ", ", what, aof, "; server ", o.server, "; spool ", c.spool_dir, " (",
                      spool.traces(), " trace(s) waiting)",
                      http ? absl::StrCat("; metrics on port ", http->port()) : std::string());
}

// --exec: the program's trace uploaded (or left spooled); its exit status.
int UploadProgramTrace(const Command& c, Agent& agent, int program_status) {
  agent.Start();
  // Wait for the acknowledgement (or give up and leave it spooled).
  const bool drained = agent.WaitDrained(
      std::chrono::milliseconds(c.drain_timeout_s ? c.drain_timeout_s * 1000 : 10000));
  agent.Stop();
  const std::string who = absl::StrCat("faultlab-agent[", c.agent.board, "]: ");
  if (drained) {
    std::cerr << who << "trace uploaded to " << c.agent.server << "\n";
  } else {
    std::cerr << who << c.agent.server << " did not take the trace; it stays spooled in "
              << c.spool_dir << " for the next agent run\n";
  }
  return program_status;
}

// The schedule: runs until a signal, or with --runs until every run is
// uploaded (or --drain-timeout passes: exit 4).
int RunSchedule(const Command& c, Agent& agent, const Spool& spool) {
  const std::string who = absl::StrCat("faultlab-agent[", c.agent.board, "]: ");
  agent.Start();
  std::atomic<int> signalled{0};
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    const timespec tick = {0, 200 * 1000 * 1000};
    while (!done) {
      const int sig = sigtimedwait(&g_signals, nullptr, &tick);
      if (sig > 0) {
        signalled = sig;
        agent.Stop();
        return;
      }
    }
  });
  int rc = 0;
  if (c.agent.runs > 0) {
    const bool drained = agent.WaitDrained(std::chrono::milliseconds(c.drain_timeout_s * 1000));
    if (signalled == 0 && !drained) {
      std::cerr << who << "--drain-timeout: " << spool.traces() << " trace(s) still in "
                << c.spool_dir << "; the next start uploads them\n";
      rc = 4;
    } else if (signalled == 0) {
      std::cerr << who << c.agent.runs << " run(s) recorded and uploaded\n";
    }
  } else {
    agent.WaitDrained(std::chrono::milliseconds(0));  // returns on Stop()
  }
  agent.Stop();
  done = true;
  waiter.join();
  if (signalled != 0) {
    std::cerr << who << "signal " << signalled.load() << ", stopping; " << spool.traces()
              << " trace(s) stay in " << c.spool_dir << "\n";
  }
  return rc;
}

int Main(int argc, char** argv) {
  sigemptyset(&g_signals);
  sigaddset(&g_signals, SIGINT);
  sigaddset(&g_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &g_signals, nullptr);  // before any thread starts

  absl::StatusOr<Command> c = ParseCommand(argc, argv);
  if (!c.ok()) {
    std::cerr << "faultlab-agent: " << c.status().message() << "\n(see faultlab-agent --help)\n";
    return 2;
  }
  if (c->help) {
    std::cout << kUsage;
    return 0;
  }
  auto spool = Spool::Open(c->spool_dir, c->spool_max_bytes);
  if (!spool.ok()) {
    std::cerr << "faultlab-agent: spool: " << spool.status().message() << "\n";
    return 4;
  }
  std::shared_ptr<grpc::Channel> channel = ServerChannel(*c);
  if (!channel) return 2;
  const Command& command = *c;
  Spool* const spooled = spool->get();
  c->agent.run_program = [&command, spooled](const std::string& workload) {
    return RunWorkloadProgram(command, workload, spooled);
  };
  Agent agent(c->agent, channel, spool->get());
  std::unique_ptr<http::Server> http;
  if (!c->http_addr.empty()) {
    auto h = http::Server::Start(
        c->http_addr, [&agent] { return agent.Scrape(); }, [&agent] { return agent.Health(); });
    if (!h.ok()) {
      std::cerr << "faultlab-agent: " << h.status().message() << "\n";
      return 4;
    }
    http = std::move(*h);
  }
  std::cerr << Plan(*c, **spool, http.get()) << "\n";
  if (c->exec) {
    const ProgramRun run = RunProgram(*c, spool->get());
    return run.spooled ? UploadProgramTrace(*c, agent, run.exit_status) : run.exit_status;
  }
  return RunSchedule(*c, agent, **spool);
}

}  // namespace
}  // namespace faultlab::agent

int main(int argc, char** argv) { return faultlab::agent::Main(argc, argv); }
