#include "server/store/testing/postgres.h"

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <postgresql/libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace faultlab::server {
namespace {

constexpr uid_t kNobody = 65534;  // Debian's nobody:nogroup

// The newest installed PostgreSQL's bin directory, or "".
std::string FindBin() {
  glob_t g;
  std::string best;
  if (glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) best = g.gl_pathv[i];  // glob sorts: the last is newest
  }
  globfree(&g);
  return best.empty() ? "" : best.substr(0, best.size() - std::string("/postgres").size());
}

// Starts `argv` with stdout and stderr to `log`, as nobody when we are root.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  if (getuid() == 0 &&
      (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)) {
    _exit(126);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  const std::string s = all.str();
  return s.size() > 600 ? s.substr(s.size() - 600) : s;
}

bool Contains(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  return all.str().find(what) != std::string::npos;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPostgres>> TestPostgres::Start() {
  std::unique_ptr<TestPostgres> pg(new TestPostgres);
  pg->bin_ = FindBin();
  if (pg->bin_.empty()) {
    return absl::FailedPreconditionError(
        "no PostgreSQL under /usr/lib/postgresql/*/bin: './lab install' installs Debian's "
        "postgresql");
  }
  char tmpl[] = "/tmp/faultlab-pg-XXXXXX";  // reachable by nobody (a test's own tmpdir may not be)
  if (mkdtemp(tmpl) == nullptr)
    return absl::UnavailableError("mkdtemp /tmp/faultlab-pg-XXXXXX failed");
  pg->dir_ = tmpl;
  if (getuid() == 0 && chown(pg->dir_.c_str(), kNobody, kNobody) != 0) {
    return absl::UnavailableError(absl::StrCat("chown nobody ", pg->dir_, " failed"));
  }
  const std::string log = pg->dir_ + "/initdb.log";
  const pid_t initdb = Spawn({pg->bin_ + "/initdb", "-D", pg->dir_ + "/db", "-U", "faultlab",
                              "--auth=trust", "-E", "UTF8", "--no-sync"},
                             log);
  int status = 0;
  if (initdb < 0 || waitpid(initdb, &status, 0) != initdb || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat("initdb failed: ", Tail(log)));
  }
  if (absl::Status s = pg->Launch(); !s.ok()) return s;
  return pg;
}

// Starts the postmaster on a free loopback port: a few candidates, each
// until its log says it is ready or it exits (the port was taken).
absl::Status TestPostgres::Launch() {
  const std::string log = dir_ + "/postgres.log";
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int port = 20000 + static_cast<int>((getpid() * 7919u + attempt * 104729u) % 30000u);
    pid_ = Spawn({bin_ + "/postgres", "-D", dir_ + "/db", "-k", dir_, "-h", "127.0.0.1", "-p",
                  std::to_string(port)},
                 log);
    if (pid_ < 0) return absl::UnavailableError("fork failed");
    for (int waited_ms = 0; waited_ms < 30000; waited_ms += 50) {  // a loaded machine: up to 30 s
      if (Contains(log, "ready to accept connections")) {
        port_ = port;
        return absl::OkStatus();
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) break;
      usleep(50 * 1000);
    }
    if (kill(pid_, 0) == 0) {  // neither ready nor gone: give up on it
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = 0;
  }
  return absl::UnavailableError(absl::StrCat("postgres did not start: ", Tail(log)));
}

TestPostgres::~TestPostgres() {
  if (pid_ > 0) {
    kill(pid_, SIGINT);  // fast shutdown
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string TestPostgres::Conninfo(const std::string& db) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=faultlab dbname=", db);
}

absl::StatusOr<std::string> TestPostgres::Query(const std::string& db, const std::string& sql) {
  PGconn* c = PQconnectdb(Conninfo(db).c_str());
  absl::Status failed;
  std::string out;
  if (PQstatus(c) != CONNECTION_OK) {
    failed = absl::UnavailableError(absl::StrCat("connecting to ", db, ": ", PQerrorMessage(c)));
  } else {
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      failed = absl::InvalidArgumentError(absl::StrCat(sql, ": ", PQresultErrorMessage(r)));
    } else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
  }
  PQfinish(c);
  if (!failed.ok()) return failed;
  return out;
}

absl::Status TestPostgres::CreateDatabase(const std::string& db) {
  return Query("postgres", "CREATE DATABASE " + db).status();
}

}  // namespace faultlab::server
