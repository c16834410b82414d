// google-emulator: the Google OAuth token endpoint, Admin Directory and Gmail
// on 127.0.0.1, with a freshly generated service account whose key file is
// written to --key_out (what an operator would put in the keystore).
//
//   google-emulator --port_file=/tmp/g.port --key_out=/tmp/gapi-key.json
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "tests/emulators/emulator.h"

ABSL_FLAG(int, port, 0, "Port to listen on (0: any free port).");
ABSL_FLAG(std::string, port_file, "", "Where to write the bound port.");
ABSL_FLAG(std::string, key_out, "", "Where to write the service account key JSON.");
ABSL_FLAG(std::string, admin_email, "admin@example.com", "The Workspace admin (delegation subject).");
ABSL_FLAG(int, users_per_domain, 3, "Users in each of example.com and example.org.");
ABSL_FLAG(int, messages_per_user, 4, "User u has messages_per_user * (u + 1) messages.");

namespace {
volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto account = tasker::emulators::MakeTestServiceAccount();
  tasker::emulators::GoogleFixtures fixtures;
  for (const char* domain : {"example.com", "example.org"}) {
    for (int u = 0; u < absl::GetFlag(FLAGS_users_per_domain); ++u) {
      const std::string email = absl::StrCat("user", u, "@", domain);
      fixtures.users[domain].push_back(email);
      fixtures.messages[email] = absl::GetFlag(FLAGS_messages_per_user) * (u + 1);
    }
  }
  tasker::emulators::GoogleEmulator google(account.client_email, account.public_key_pem,
                                           absl::GetFlag(FLAGS_admin_email), fixtures);
  if (!google.Start(absl::GetFlag(FLAGS_port))) {
    fprintf(stderr, "google-emulator: cannot listen\n");
    return 1;
  }
  if (!absl::GetFlag(FLAGS_key_out).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_key_out)) << account.KeyJson(google.token_url());
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << google.port() << "\n";
    std::rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  fprintf(stderr, "google-emulator listening on %s\n", google.base_url().c_str());
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (!g_stop) pause();
  google.Stop();
  return 0;
}
