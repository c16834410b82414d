// Test certificates, made with the openssl CLI: a CA, a certificate for
// 127.0.0.1/localhost usable as server and client, and a client certificate
// from an unrelated CA (what an attacker without Tasker's CA would hold).
#ifndef TASKER_TESTS_SUPPORT_CERTS_H_
#define TASKER_TESTS_SUPPORT_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace tasker::testing {

struct TestPki {
  std::string dir;
  // Paths.
  std::string ca_cert;
  std::string cert;  // SAN localhost, 127.0.0.1; serverAuth + clientAuth.
  std::string key;
  std::string rogue_cert;  // Signed by another CA.
  std::string rogue_key;
};

// Writes the files under `dir`. INTERNAL with openssl's output on failure.
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

}  // namespace tasker::testing

#endif  // TASKER_TESTS_SUPPORT_CERTS_H_
