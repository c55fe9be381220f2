// TestPostgres: a real PostgreSQL for tests and benchmarks — Debian's
// postgresql, started by the test itself (initdb and postgres in a fresh
// directory under /tmp, on a loopback port; as 'nobody' when run as root,
// since PostgreSQL refuses root), stopped when the object is destroyed.
// tests/e2e/postgres_test.sh does the same from the shell.
//
//   ASSIGN_OR_RETURN(auto pg, TestPostgres::Start());
//   RETURN_IF_ERROR(pg->CreateDatabase("t1"));
//   PgStore::Open(pg->Conninfo("t1"), blob_dir);
#ifndef FAULTLAB_SERVER_STORE_TESTING_POSTGRES_H_
#define FAULTLAB_SERVER_STORE_TESTING_POSTGRES_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace faultlab::server {

class TestPostgres {
 public:
  // An error names what is missing (`./lab install` installs postgresql) or
  // quotes what postgres logged.
  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start();
  ~TestPostgres();
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  int port() const { return port_; }
  // A libpq connection string for database `db`.
  std::string Conninfo(const std::string& db) const;
  absl::Status CreateDatabase(const std::string& db);
  // Runs `sql` on `db`; the first column of the first row, or "" when none.
  absl::StatusOr<std::string> Query(const std::string& db, const std::string& sql);

 private:
  TestPostgres() = default;
  absl::Status Launch();

  std::string bin_;  // /usr/lib/postgresql/<version>/bin
  std::string dir_;  // the cluster and its socket; removed at the end
  pid_t pid_ = 0;    // the postmaster
  int port_ = 0;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_TESTING_POSTGRES_H_
