// Who may call what: identities, roles, and their enforcement on every
// Tasker server, before any handler runs.
//
// Every caller presents "authorization: Bearer <token>". A server accepts the
// tokens listed in its credentials file, each naming an identity and its
// roles:
//
//   # identity   roles           token (or sha256:<hex of the token>)
//   ci-bot       client          sha256:9f86d081884c7d65...
//   ops          admin           sha256:60303ae22b998861...
//   executor-1   executor        sha256:fd61a03af4f77d87...
//
// Roles: `client` (the public API), `admin` (an operator: the public API and
// keystore administration), and one per internal service (`executor`,
// `processor`, `proxy`, `keystore`). Each server declares which roles may call
// each of its services (and, where finer, methods): a known token without the
// role gets PERMISSION_DENIED naming the role required; no token or an
// unknown one gets UNAUTHENTICATED. grpc.health.v1 needs no token (probes).
//
// The file is re-read when it changes (revocation: delete the line). Files
// hold token hashes, so a leaked credentials file opens nothing.
//
// `insecure_dev` turns all of this off (every caller is identity "dev" with
// every role): local development only, announced loudly at startup.
#ifndef TASKER_RUNTIME_SERVER_AUTH_H_
#define TASKER_RUNTIME_SERVER_AUTH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"

namespace tasker {

enum class Role : uint32_t {
  kClient = 1u << 0,
  kAdmin = 1u << 1,
  kExecutor = 1u << 2,
  kProcessor = 1u << 3,
  kProxy = 1u << 4,
  kKeystore = 1u << 5,
};

// A set of roles (bit mask of Role).
class Roles {
 public:
  Roles() = default;
  Roles(std::initializer_list<Role> roles) {
    for (Role r : roles) bits_ |= static_cast<uint32_t>(r);
  }
  static Roles All();
  bool Has(Role role) const { return (bits_ & static_cast<uint32_t>(role)) != 0; }
  bool Intersects(Roles other) const { return (bits_ & other.bits_) != 0; }
  bool empty() const { return bits_ == 0; }
  void Add(Role role) { bits_ |= static_cast<uint32_t>(role); }
  // "client", "client or admin", ...
  std::string ToString(absl::string_view separator = ",") const;

 private:
  uint32_t bits_ = 0;
};

absl::string_view RoleName(Role role);
// "client" -> kClient; INVALID_ARGUMENT naming the known roles.
absl::StatusOr<Role> ParseRole(absl::string_view name);

struct Identity {
  std::string name;
  Roles roles;
};

// Parses a credentials file's text. INVALID_ARGUMENT naming the line for a
// malformed line, an unknown role, a duplicate identity or token, or a
// plaintext token shorter than 16 characters.
absl::StatusOr<std::map<std::string, Identity>> ParseCredentials(absl::string_view text);

// Hex SHA-256 of a token, as credentials files store it.
std::string TokenHash(absl::string_view token);

// The identities a server accepts, from its credentials file (reloaded when
// the file changes), or everyone in insecure development mode.
class Authenticator {
 public:
  // Reads `path`. INVALID_ARGUMENT when it is missing, unreadable, malformed
  // or lists nobody.
  static absl::StatusOr<std::shared_ptr<Authenticator>> FromFile(const std::string& path);
  // Fixed credentials (tests, embedded use).
  static std::shared_ptr<Authenticator> FromIdentities(std::map<std::string, Identity> by_hash);
  // Everyone is "dev" with every role.
  static std::shared_ptr<Authenticator> InsecureDev();

  bool insecure_dev() const { return insecure_dev_; }

  // The identity behind an "authorization" header value ("Bearer <token>").
  // UNAUTHENTICATED when missing, malformed or unknown (the message never
  // contains the token).
  absl::StatusOr<Identity> Authenticate(absl::string_view authorization) const;

  // Authenticate() and then require one of `allowed`: PERMISSION_DENIED
  // naming the roles required and the caller's identity.
  absl::StatusOr<Identity> Authorize(absl::string_view authorization, Roles allowed,
                                     absl::string_view what) const;

  // How often the file is checked for changes.
  void set_reload_interval(absl::Duration interval) { reload_interval_ = interval; }

 private:
  Authenticator() = default;
  void MaybeReload() const;

  bool insecure_dev_ = false;
  std::string path_;
  absl::Duration reload_interval_ = absl::Seconds(1);
  mutable std::mutex mu_;
  mutable std::shared_ptr<const std::map<std::string, Identity>> by_hash_;
  mutable absl::Time last_check_;
  mutable int64_t file_mtime_ns_ = 0;
  mutable int64_t file_size_ = -1;
};

// Which roles may call what on one server: by full service name
// ("tasker.v1.Storage") and, overriding it, by full method
// ("tasker.v1.Keystore/SetNamespacePolicy"); the service name "*" stands for
// every service not listed (in-process tests). Anything not listed is denied.
// Health is always open; reflection is open to every authenticated caller.
class AccessPolicy {
 public:
  void AllowService(const std::string& service, Roles roles) { services_[service] = roles; }
  void AllowMethod(const std::string& service, const std::string& method, Roles roles) {
    methods_[service + "/" + method] = roles;
  }
  // For a ":path" like "/tasker.v1.Storage/GetTaskRun": the roles allowed,
  // or nullopt when nothing allows it. `open` is set for health.
  std::optional<Roles> Allowed(absl::string_view path, bool* open) const;

 private:
  std::map<std::string, Roles, std::less<>> services_;
  std::map<std::string, Roles, std::less<>> methods_;
};

// TLS for a server's port (PEM file contents, not paths).
struct ServerTls {
  std::string cert_chain;
  std::string private_key;
  // Verifies client certificates (with require_client_cert: mutual TLS).
  std::string client_ca;
  bool require_client_cert = false;
  bool enabled() const { return !cert_chain.empty(); }
};

// Server transport credentials: plaintext or TLS, with every call
// authenticated and authorized by `authenticator` against `policy` in gRPC
// core. The authenticated identity is readable in handlers (CallerOf).
std::shared_ptr<grpc::ServerCredentials> SecureServerCredentials(std::shared_ptr<const Authenticator> authenticator,
                                                                 std::shared_ptr<const AccessPolicy> policy,
                                                                 ServerTls tls);

// The caller's identity name inside a handler ("dev" in insecure dev mode;
// "anonymous" for unauthenticated health calls).
std::string CallerOf(const grpc::ServerContext& context);

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_AUTH_H_
