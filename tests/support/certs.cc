#include "tests/support/certs.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/support/process.h"

namespace tasker::testing {
namespace {

absl::Status Run(const std::string& command) {
  auto [code, output] = RunCommand(command + " 2>&1");
  if (code != 0) return absl::InternalError(absl::StrCat("openssl failed (", code, "): ", command, "\n", output));
  return absl::OkStatus();
}

absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
                          "'/CN=",
                          name, "' -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".crt"));
}

absl::Status MakeLeaf(const std::string& dir, const std::string& ca, const std::string& name) {
  const std::string ext = absl::StrCat(dir, "/", name, ".ext");
  std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                     << "extendedKeyUsage=serverAuth,clientAuth\n"
                     << "basicConstraints=CA:FALSE\n";
  if (absl::Status s = Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=",
                                        name, "' -keyout ", dir, "/", name, ".key -out ", dir, "/", name, ".csr"));
      !s.ok()) {
    return s;
  }
  return Run(absl::StrCat("openssl x509 -req -days 2 -in ", dir, "/", name, ".csr -CA ", dir, "/", ca, ".crt -CAkey ",
                          dir, "/", ca, ".key -CAcreateserial -extfile ", ext, " -out ", dir, "/", name, ".crt"));
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  for (absl::Status s : {MakeCa(dir, "ca"), MakeLeaf(dir, "ca", "tasker"), MakeCa(dir, "rogue-ca"),
                         MakeLeaf(dir, "rogue-ca", "rogue")}) {
    if (!s.ok()) return s;
  }
  return TestPki{.dir = dir,
                 .ca_cert = dir + "/ca.crt",
                 .cert = dir + "/tasker.crt",
                 .key = dir + "/tasker.key",
                 .rogue_cert = dir + "/rogue.crt",
                 .rogue_key = dir + "/rogue.key"};
}

}  // namespace tasker::testing
