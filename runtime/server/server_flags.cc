#include "runtime/server/server_flags.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "runtime/common/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Listen address host:port; port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "", "If set, the bound port is written to this file once serving.");
ABSL_FLAG(std::string, public_listen, "",
          "Serve the public services (TaskService) here; --listen then serves only internal services.");
ABSL_FLAG(std::string, public_port_file, "", "If set, the public port is written here once serving.");
ABSL_FLAG(std::string, health_listen, "",
          "Also serve grpc.health.v1 alone, in plaintext, here (Kubernetes probes cannot present client "
          "certificates).");
ABSL_FLAG(std::string, credentials_file, "",
          "Who may call this server: lines '<identity> <role>[,<role>] <token or sha256:hex>' (default env "
          "TASKER_CREDENTIALS_FILE). Re-read when it changes. Required unless --insecure_dev.");
ABSL_FLAG(std::string, token_file, "",
          "This service's own token, presented on its calls to other services (default env TASKER_TOKEN).");
ABSL_FLAG(bool, insecure_dev, false,
          "Development only: accept every caller with every role, without credentials.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS (and present it to servers asking).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle: calls to other services use TLS verified against it; with --require_client_cert it "
          "verifies callers' certificates.");
ABSL_FLAG(bool, require_client_cert, false, "Mutual TLS: callers must present a certificate signed by --tls_ca.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name expected in the certificates of the services this one calls (default: their host names).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10), "How long in-flight calls may run after SIGTERM.");
ABSL_FLAG(std::string, log_level, "",
          "debug, info, warning or error (default: env TASKER_LOG_LEVEL, else info).");

namespace tasker {
namespace {

// gRPC reports a bad certificate or key only as a port it cannot bind, or a
// handshake that fails later: check them here and say which flag is wrong.
absl::Status CheckTlsFiles(const std::string& cert_pem, const std::string& key_pem, const std::string& ca_pem) {
  auto read_cert = [](const std::string& pem) -> X509* {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    return cert;
  };
  if (!cert_pem.empty()) {
    X509* cert = read_cert(cert_pem);
    if (cert == nullptr) return absl::InvalidArgumentError("--tls_cert: not a PEM certificate");
    BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    absl::Status status;
    if (key == nullptr) {
      status = absl::InvalidArgumentError("--tls_key: not a PEM private key (an encrypted key is not supported)");
    } else if (X509_check_private_key(cert, key) != 1) {
      status = absl::InvalidArgumentError("--tls_key: is not the key of the certificate in --tls_cert");
    } else if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
      status = absl::InvalidArgumentError("--tls_cert: the certificate has expired");
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    if (!status.ok()) return status;
  }
  if (!ca_pem.empty()) {
    X509* ca = read_cert(ca_pem);
    ERR_clear_error();
    if (ca == nullptr) return absl::InvalidArgumentError("--tls_ca: not a PEM certificate");
    X509_free(ca);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadSecret(const std::string& path, const char* env) {
  if (path.empty()) {
    const char* value = env ? std::getenv(env) : nullptr;
    return std::string(value ? value : "");
  }
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read secret file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret = buffer.str();
  absl::StripTrailingAsciiWhitespace(&secret);
  if (secret.empty()) {
    return absl::InvalidArgumentError("secret file " + path + " is empty");
  }
  return secret;
}

absl::StatusOr<std::string> ReadFileForFlag(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  return buffer.str();
}

bool InsecureDevFromFlags() { return absl::GetFlag(FLAGS_insecure_dev); }

absl::StatusOr<ServerConfig> ServerConfigFromFlags(const std::string& component) {
  ServerConfig config;
  config.component = component;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  config.port_file = absl::GetFlag(FLAGS_port_file);
  config.public_listen_address = absl::GetFlag(FLAGS_public_listen);
  config.public_port_file = absl::GetFlag(FLAGS_public_port_file);
  config.health_listen_address = absl::GetFlag(FLAGS_health_listen);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  LogLevel level;
  std::string level_name = absl::GetFlag(FLAGS_log_level);
  if (level_name.empty()) {
    const char* env = std::getenv("TASKER_LOG_LEVEL");
    level_name = env != nullptr && *env != '\0' ? env : "info";
  }
  if (!ParseLogLevel(level_name, &level)) {
    return absl::InvalidArgumentError("--log_level (or TASKER_LOG_LEVEL) must be debug, info, warning or error");
  }
  SetLogLevel(level);
  SetLogComponent(component);

  std::string credentials = absl::GetFlag(FLAGS_credentials_file);
  if (credentials.empty()) {
    const char* env = std::getenv("TASKER_CREDENTIALS_FILE");
    if (env != nullptr) credentials = env;
  }
  if (absl::GetFlag(FLAGS_insecure_dev)) {
    if (!credentials.empty()) {
      return absl::InvalidArgumentError("--insecure_dev and --credentials_file: choose one");
    }
    config.authenticator = Authenticator::InsecureDev();
  } else if (credentials.empty()) {
    return absl::InvalidArgumentError(
        "no credentials: set --credentials_file (or TASKER_CREDENTIALS_FILE; README, \"Security\"), or pass "
        "--insecure_dev for local development");
  } else {
    auto authenticator = Authenticator::FromFile(credentials);
    if (!authenticator.ok()) return authenticator.status();
    config.authenticator = *std::move(authenticator);
  }

  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  if (cert.empty() != key.empty()) return absl::InvalidArgumentError("--tls_cert and --tls_key: give both or neither");
  if (!cert.empty()) {
    auto c = ReadFileForFlag(cert, "--tls_cert");
    if (!c.ok()) return c.status();
    auto k = ReadFileForFlag(key, "--tls_key");
    if (!k.ok()) return k.status();
    config.tls.cert_chain = *c;
    config.tls.private_key = *k;
  }
  if (absl::GetFlag(FLAGS_require_client_cert)) {
    if (cert.empty() || ca.empty()) {
      return absl::InvalidArgumentError("--require_client_cert: needs --tls_cert, --tls_key and --tls_ca");
    }
    config.tls.require_client_cert = true;
  }
  if (!ca.empty() && !cert.empty()) {
    auto c = ReadFileForFlag(ca, "--tls_ca");
    if (!c.ok()) return c.status();
    config.tls.client_ca = *c;
  }
  if (absl::Status tls = CheckTlsFiles(config.tls.cert_chain, config.tls.private_key, config.tls.client_ca);
      !tls.ok()) {
    return tls;
  }
  return config;
}

absl::StatusOr<ClientConfig> ClientConfigFromFlags() {
  ClientConfig config;
  std::string token_file = absl::GetFlag(FLAGS_token_file);
  auto token = ReadSecret(token_file, "TASKER_TOKEN");
  if (!token.ok()) return absl::InvalidArgumentError(absl::StrCat("--token_file: ", token.status().message()));
  config.auth_token = *token;
  if (const std::string ca = absl::GetFlag(FLAGS_tls_ca); !ca.empty()) {
    auto c = ReadFileForFlag(ca, "--tls_ca");
    if (!c.ok()) return c.status();
    config.tls.ca = *c;
    if (const std::string cert = absl::GetFlag(FLAGS_tls_cert); !cert.empty()) {
      auto chain = ReadFileForFlag(cert, "--tls_cert");
      if (!chain.ok()) return chain.status();
      auto key = ReadFileForFlag(absl::GetFlag(FLAGS_tls_key), "--tls_key");
      if (!key.ok()) return key.status();
      config.tls.cert_chain = *chain;
      config.tls.private_key = *key;
    }
    config.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
    if (absl::Status tls = CheckTlsFiles(config.tls.cert_chain, config.tls.private_key, config.tls.ca); !tls.ok()) {
      return tls;
    }
  }
  return config;
}

}  // namespace tasker
